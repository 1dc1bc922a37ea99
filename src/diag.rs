//! Process diagnostics for the debug log.

/// Current and peak resident set size in MiB (`VmRSS`, `VmHWM` from `/proc/self/status`);
/// zeros where that file does not exist (not Linux).
#[must_use]
pub fn rss_mib() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return (0, 0) };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Logs `stage` at info level with the time since `started`, the process's CPU time and its
/// current and peak RSS.
pub fn log_stage(started: std::time::Instant, stage: &str) {
    let (rss_mib, peak_mib) = rss_mib();
    tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), cpu_s = cpu_s(), rss_mib, peak_mib, "{stage}");
}

/// CPU time used by the process so far (user + system, all threads), in seconds; 0 where
/// `/proc/self/stat` does not exist.
#[must_use]
pub fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Clock ticks are 1/100 s on every Linux configuration gapmap runs on (USER_HZ).
    #[expect(clippy::cast_precision_loss, reason = "tick counts are far below 2^52")]
    let seconds = (ticks(11) + ticks(12)) as f64 / 100.0;
    seconds
}

/// How the binary returns freed memory to the operating system (its allocator's "collect").
static RELEASE_FREED_MEMORY: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what [`release_freed_memory`] does; the binary passes its allocator's collect.
pub fn set_release_freed_memory(release: fn()) {
    let _ = RELEASE_FREED_MEMORY.set(release);
}

/// Returns memory freed so far to the operating system, where the binary said how; nothing
/// otherwise. Called between a load and an analysis: the load's file buffers and parse
/// batches, freed on threads that have ended, otherwise stay resident while the analysis
/// allocates its table, and the two together set the peak.
pub fn release_freed_memory() {
    if let Some(release) = RELEASE_FREED_MEMORY.get() {
        release();
    }
}

/// [`release_freed_memory`] on the calling thread and on every thread of rayon's pool: the
/// allocator keeps freed memory per thread, and what a parallel computation freed on the pool's
/// threads stays resident there until those threads collect it (serve, after the coverage
/// timeline's build: about 90 MiB on the 60,000-estate city).
pub fn release_freed_memory_everywhere() {
    if let Some(release) = RELEASE_FREED_MEMORY.get() {
        rayon::broadcast(|_| release());
        release();
    }
}

/// Standard error routed through a relay thread, so that writing diagnostics never fails.
///
/// `eprintln!` panics when stderr is a pipe whose reader has gone (`gapmap analyze … 2>&1
/// >/dev/null | true` exited 101 after writing its output). Here fd 2 becomes a pipe this process
/// reads itself; the relay copies it to the real stderr and, once that fails, drops what follows.
/// Every writer (Rust, tracing, GDAL's C code) keeps working and the exit status stays the
/// run's own. Call [`StderrRelay::finish`] before the process exits so nothing is left unsent.
#[derive(Debug)]
pub struct StderrRelay {
    /// The real stderr, restored to fd 2 by [`StderrRelay::finish`].
    original: std::os::fd::OwnedFd,
    relay: std::thread::JoinHandle<()>,
}

/// Puts the [`StderrRelay`] in place; `None` when stderr is a terminal (a terminal does not
/// raise EPIPE, and progress bars need to see it), closed, or the relay cannot be set up (then
/// stderr stays as it was).
#[must_use]
pub fn relay_stderr() -> Option<StderrRelay> {
    use std::io::IsTerminal as _;
    use std::os::fd::{AsFd as _, AsRawFd as _};
    let stderr = std::io::stderr();
    if stderr.is_terminal() {
        return None;
    }
    // Fails when fd 2 is closed (`2>&-`): std already ignores writes to it then.
    let original = stderr.as_fd().try_clone_to_owned().ok()?;
    let mut target = std::fs::File::from(original.try_clone().ok()?);
    let (mut reader, writer) = pipe()?;
    let relay = std::thread::Builder::new()
        .name("stderr-relay".into())
        .spawn(move || {
            use std::io::{Read as _, Write as _};
            let mut buffer = [0u8; 8192];
            let mut open = true;
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => open = open && target.write_all(&buffer[..n]).is_ok(),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        })
        .ok()?;
    // SAFETY: dup2 on two open descriptors this process owns; fd 2 now refers to the pipe's
    // writing end, and `writer` (dropped below) closes only its own descriptor.
    if unsafe { libc::dup2(writer.as_raw_fd(), 2) } < 0 {
        // Ends the relay: its pipe has no writer left.
        drop(writer);
        let _ = relay.join();
        return None;
    }
    drop(writer);
    Some(StderrRelay { original, relay })
}

/// A pipe: (reading end, writing end), both close-on-exec. (`std::io::pipe` needs Rust 1.87.)
fn pipe() -> Option<(std::fs::File, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd as _;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills both descriptors on success; each is then owned exactly once.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: freshly created descriptors that nothing else owns.
    unsafe { Some((std::fs::File::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1]))) }
}

impl StderrRelay {
    /// Puts the real stderr back on fd 2 and waits until the relay has passed on (or dropped)
    /// everything written before.
    pub fn finish(self) {
        use std::os::fd::AsRawFd as _;
        // SAFETY: dup2 onto fd 2 from a descriptor this struct owns; it closes the pipe's last
        // writing end, so the relay reads to the end and stops.
        let restored = unsafe { libc::dup2(self.original.as_raw_fd(), 2) } >= 0;
        if restored {
            let _ = self.relay.join();
        }
    }
}
