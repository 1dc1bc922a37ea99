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
