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
