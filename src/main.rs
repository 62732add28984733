fn main() -> std::process::ExitCode {
    tune_malloc();
    entra_source::cli::main()
}

/// glibc gives each thread that allocates its own malloc arena and returns little of it: with
/// the runtime's worker and blocking threads, a 100,000-record two-stream catch-up peaked at
/// 40-48 MiB, against 22 MiB with two arenas (docs/performance.md § What one record costs). Called before any thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // A page's body and lines (about a megabyte each) come from the heap and stay mapped
        // for the next page, instead of being mapped, faulted in and unmapped page after page:
        // page faults were a tenth of a lean event's CPU (perf), and this saves 6-12 % of it
        // for 2 MiB more peak RSS (docs/performance.md § What one record costs).
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
