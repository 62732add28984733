//! What the benches share.

/// A process's peak resident set so far (VmHWM), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs `entra-source run --once --config <config>` with events and diagnostics discarded,
/// sampling its peak RSS from /proc while it runs; returns the peak in KiB once it succeeded.
#[allow(dead_code)] // not every bench runs the binary this way
pub async fn run_once_sampled(config: &std::path::Path) -> u64 {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-source"))
        .args(["run", "--once", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(kib) = rss_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert!(status.success(), "entra-source run --once failed");
    peak_kib
}
