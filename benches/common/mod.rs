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

/// CPU seconds (user + system) of the children reaped so far.
#[allow(dead_code)] // not every bench measures children
pub fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given; RUSAGE_CHILDREN is a valid target.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
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

/// `name` from the environment as a number, else `default`.
#[allow(dead_code)] // not every bench takes sizes from the environment
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The runtime every bench drives the simulator and the binary from: two workers, as CI has.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The simulator's Graph requests (token and control requests left out) and the records its
/// 200s returned: what a bench divides by the records delivered.
#[allow(dead_code)] // not every bench counts Graph's answers
pub fn graph_requests(
    sim: &entra_simulator::Simulator,
) -> (Vec<entra_simulator::RequestLog>, usize) {
    let requests: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.is_graph())
        .collect();
    let fetched = requests
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.records)
        .sum();
    (requests, fetched)
}
