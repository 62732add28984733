//! File creation shared by the event file and the state file.

/// Files that hold events or checkpoints (UPNs, IP addresses) are created readable by their
/// owner only (`0600`).
pub fn private_file(o: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}
