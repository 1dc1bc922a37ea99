//! The `gapmap` binary: parse the command line, set up logging, run.

use clap::Parser as _;

// Loading a city allocates millions of small strings and vectors; mimalloc cut the whole
// 300,000-estate analysis's malloc/free share (15 % of cycles with glibc) substantially.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's `mi_collect`: frees what it can, and with `force` on the main thread first
    /// takes over the heaps of threads that have ended.
    fn mi_collect(force: bool);
}

/// Returns memory that mimalloc holds freed to the operating system.
fn collect_freed_memory() {
    // SAFETY: mimalloc is the global allocator (linked through the `mimalloc` crate);
    // `mi_collect` takes a plain bool and may be called at any time.
    unsafe { mi_collect(true) }
}

fn main() -> std::process::ExitCode {
    disable_transparent_huge_pages();
    gapmap::diag::set_release_freed_memory(collect_freed_memory);
    let relay = gapmap::diag::relay_stderr();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A panic's message is written by the default hook before it unwinds to here; it is caught
    // so the relay can pass that message on before the process exits.
    let outcome = std::panic::catch_unwind(|| match gapmap::cli::Cli::try_parse() {
        Ok(cli) => status_of(gapmap::cli::run(cli)),
        Err(e) => {
            // --help and --version go to stdout, usage errors to stderr.
            let shown = e.print();
            if shown.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
                return std::process::ExitCode::from(STOPPED_BY_SIGPIPE);
            }
            std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
    });
    if let Some(relay) = relay {
        relay.finish();
    }
    outcome.unwrap_or(std::process::ExitCode::from(101))
}

/// The status a shell shows for a process stopped by SIGPIPE (128 + 13): what a run whose stdout
/// reader left (`gapmap analyze --print-config | head -1`) ends with, quietly.
const STOPPED_BY_SIGPIPE: u8 = 141;

/// The exit status for the run's outcome, and its error on stderr.
fn status_of(outcome: anyhow::Result<()>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.chain().any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => {
            std::process::ExitCode::from(STOPPED_BY_SIGPIPE)
        }
        Err(e) => {
            eprintln!("error: {}", error_message(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined with ": ", leaving out a cause the message before it already
/// ends with: errors that name their cause in their own message and also return it as their
/// source ("cannot write x.csv: No such file or directory (os error 2)") would say it twice.
fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.is_empty() {
            message = text;
        } else if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// Opts this process out of transparent huge pages (what `MIMALLOC_ALLOW_THP=0` does).
///
/// Every huge page is zeroed whole on first touch; on the 300,000-estate, 1,000,000-facility
/// analysis that zeroing cost more CPU (system time 2.7 s) than the fewer TLB misses saved
/// (user time +0.3 s), measured on a 2-core VM.
fn disable_transparent_huge_pages() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: prctl with integer arguments only; failure (an old kernel) changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
