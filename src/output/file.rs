//! `[output] path`: a file for the Collector's `filelog` receiver or any tailer.

/// `[output] path`: appends whole lines, fsyncs them before the checkpoint may move, rotates
/// by size (`path` → `path.1` → … → `path.N`, the oldest dropped).
pub struct FileSink {
    path: std::path::PathBuf,
    file: std::fs::File,
    size: u64,
    rotate_size: u64,
    keep: u32,
}

impl FileSink {
    /// Opens for appending; a partial last line left by a crash is cut off (its page was never
    /// checkpointed, so it is written again).
    pub fn open(path: &std::path::Path, rotate_size: u64, keep: u32) -> std::io::Result<FileSink> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = crate::fs::private_file(std::fs::OpenOptions::new().read(true).append(true))
            .create(true)
            .open(path)?;
        let mut size = file.metadata()?.len();
        if size > 0 {
            // Find the last newline, reading backwards in blocks.
            let mut end = size;
            let mut keep_len = 0;
            let mut block = vec![0u8; 64 * 1024];
            'search: while end > 0 {
                let start = end.saturating_sub(block.len() as u64);
                let n = (end - start) as usize;
                file.seek(SeekFrom::Start(start))?;
                file.read_exact(&mut block[..n])?;
                if let Some(i) = block[..n].iter().rposition(|b| *b == b'\n') {
                    keep_len = start + i as u64 + 1;
                    break 'search;
                }
                end = start;
            }
            if keep_len < size {
                tracing::warn!(path = %path.display(), bytes = size - keep_len, "cutting a partial last line left by an interrupted write; its page is written again");
                file.set_len(keep_len)?;
                size = keep_len;
            }
        }
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
            size,
            rotate_size,
            keep,
        })
    }

    fn rotated(&self, n: u32) -> std::path::PathBuf {
        let mut p = self.path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        p.into()
    }

    /// `path` becomes `path.1` (the config keeps `keep` ≥ 1: the file just written is never
    /// deleted before a tailer could read it).
    fn rotate(&mut self) -> std::io::Result<()> {
        let _ = std::fs::remove_file(self.rotated(self.keep.max(1)));
        for n in (1..self.keep).rev() {
            if self.rotated(n).exists() {
                std::fs::rename(self.rotated(n), self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        *self = FileSink::open(&self.path, self.rotate_size, self.keep)?;
        Ok(())
    }

    /// Appends whole lines, rotating between lines when the file would outgrow its size, then
    /// fsyncs if `sync` (the end of a page; a file left for a rotated one is always synced).
    pub fn append(&mut self, mut bytes: &[u8], sync: bool) -> std::io::Result<()> {
        use std::io::Write;
        loop {
            let room = self.rotate_size.saturating_sub(self.size) as usize;
            if bytes.len() <= room {
                self.file.write_all(bytes)?;
                self.size += bytes.len() as u64;
                return if sync { self.file.sync_data() } else { Ok(()) };
            }
            // The whole lines that fit; a line longer than a whole file (prevented by the
            // config check rotate_size_bytes ≥ max_line_bytes) goes alone into a fresh file.
            let fit = match bytes[..room].iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if self.size == 0 => bytes
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(bytes.len(), |i| i + 1),
                None => 0,
            };
            self.file.write_all(&bytes[..fit])?;
            self.file.sync_data()?;
            bytes = &bytes[fit..];
            if bytes.is_empty() {
                self.size += fit as u64;
                return Ok(());
            }
            self.rotate()?;
        }
    }
}
