//! Events out: one JSON object per line on stdout, written and flushed a page at a time. A
//! closed stdout (EPIPE) means the host is gone: the caller stops without checkpointing past
//! the last flushed page.

use std::io::ErrorKind;

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The envelope keys an over-long event keeps when even without its raw record it is too long.
const ESSENTIAL_KEYS: [&str; 16] = [
    "event",
    "time",
    "resourceId",
    "tenantId",
    "category",
    "operationName",
    "operationVersion",
    "resultType",
    "resultSignature",
    "resultDescription",
    "durationMs",
    "callerIpAddress",
    "correlationId",
    "identity",
    "Level",
    "location",
];

fn write_line(buf: &mut Vec<u8>, e: &Value) -> Result<(), OutputError> {
    serde_json::to_writer(&mut *buf, e).map_err(|e| OutputError::Io(e.into()))?;
    buf.push(b'\n');
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("stdout was closed by the host (broken pipe); stopping without checkpointing past the last written page")]
    Closed,
    #[error("cannot write events to stdout: {0}")]
    Io(std::io::Error),
    #[error(
        "cannot write events to [output] path: {0}; check the disk and the directory's permissions"
    )]
    File(std::io::Error),
}

impl From<std::io::Error> for OutputError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == ErrorKind::BrokenPipe {
            OutputError::Closed
        } else {
            OutputError::Io(e)
        }
    }
}

/// Where the lines go.
enum Sink {
    Stream(Box<dyn AsyncWrite + Send + Unpin>),
    File(FileSink),
}

/// `[output] path`: appends whole lines, fsyncs them before the checkpoint may move, rotates
/// by size (`path` → `path.1` → … → `path.N`, the oldest dropped).
struct FileSink {
    path: std::path::PathBuf,
    file: std::fs::File,
    size: u64,
    rotate_size: u64,
    keep: u32,
}

impl FileSink {
    /// Opens for appending; a partial last line left by a crash is cut off (its page was never
    /// checkpointed, so it is written again).
    fn open(path: &std::path::Path, rotate_size: u64, keep: u32) -> std::io::Result<FileSink> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
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

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.keep));
            for n in (1..self.keep).rev() {
                if self.rotated(n).exists() {
                    std::fs::rename(self.rotated(n), self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        *self = FileSink::open(&self.path, self.rotate_size, self.keep)?;
        Ok(())
    }

    /// Appends whole lines, rotating between lines when the file would outgrow its size, then
    /// fsyncs.
    fn append(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        loop {
            let room = self.rotate_size.saturating_sub(self.size) as usize;
            if bytes.len() <= room {
                self.file.write_all(bytes)?;
                self.size += bytes.len() as u64;
                return self.file.sync_data();
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

pub struct Output {
    w: Sink,
    buf: Vec<u8>,
    max_line_bytes: usize,
    pub lines_written: u64,
    /// Events whose raw record was trimmed to respect `max_line_bytes`.
    pub lines_trimmed: u64,
}

impl Output {
    pub fn stdout() -> Output {
        Output::new(Box::new(tokio::io::stdout()))
    }

    pub fn new(w: Box<dyn AsyncWrite + Send + Unpin>) -> Output {
        Output {
            w: Sink::Stream(w),
            buf: Vec::new(),
            max_line_bytes: crate::config::DEFAULT_LINE_BYTES as usize,
            lines_written: 0,
            lines_trimmed: 0,
        }
    }

    /// `[output] path`: appends to a file, rotated by size.
    pub fn file(path: &std::path::Path, rotate_size: u64, keep: u32) -> std::io::Result<Output> {
        let mut out = Output::new(Box::new(tokio::io::sink()));
        out.w = Sink::File(FileSink::open(path, rotate_size, keep)?);
        Ok(out)
    }

    /// The configured target.
    pub fn for_config(config: &crate::config::Config) -> std::io::Result<Output> {
        let out = match &config.output_target {
            crate::config::OutputTarget::Stdout => Output::stdout(),
            crate::config::OutputTarget::File {
                path,
                rotate_size_bytes,
                rotate_keep,
            } => Output::file(path, *rotate_size_bytes, *rotate_keep)?,
        };
        Ok(out.with_max_line_bytes(config.max_line_bytes))
    }

    /// `[output] max_line_bytes`: no line (newline included) is ever longer.
    pub fn with_max_line_bytes(mut self, max: u64) -> Output {
        self.max_line_bytes = usize::try_from(max).unwrap_or(usize::MAX);
        self
    }

    /// Writes every event as one line, then flushes. Returns only once the bytes are handed on.
    pub async fn write_page(&mut self, events: &[Value]) -> Result<(), OutputError> {
        if events.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for e in events {
            let start = self.buf.len();
            write_line(&mut self.buf, e)?;
            let len = self.buf.len() - start;
            if len > self.max_line_bytes {
                self.buf.truncate(start);
                self.write_trimmed(e, len)?;
            }
        }
        match &mut self.w {
            Sink::Stream(w) => {
                w.write_all(&self.buf).await?;
                w.flush().await?;
            }
            Sink::File(f) => {
                let buf = &self.buf;
                tokio::task::block_in_place(|| f.append(buf)).map_err(OutputError::File)?;
            }
        }
        self.lines_written += events.len() as u64;
        Ok(())
    }
}

impl Output {
    /// Writes `e` without its raw record (`properties`), marked; if that is still too long,
    /// only its summary and envelope. The full record stays in Graph for the retention period.
    fn write_trimmed(&mut self, e: &Value, original: usize) -> Result<(), OutputError> {
        let id = e
            .pointer("/event/id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(obj) = e.as_object() else {
            return write_line(&mut self.buf, e);
        };
        let marker = |dropped: &str| {
            serde_json::json!({
                "truncated": true,
                "original_bytes": original,
                "max_line_bytes": self.max_line_bytes,
                "dropped": dropped,
            })
        };
        let mut slim = obj.clone();
        slim.insert("properties".into(), Value::Null);
        slim.insert("entra_source".into(), marker("properties"));
        let start = self.buf.len();
        write_line(&mut self.buf, &Value::Object(slim))?;
        if self.buf.len() - start > self.max_line_bytes {
            self.buf.truncate(start);
            let mut minimal: serde_json::Map<String, Value> = ESSENTIAL_KEYS
                .iter()
                .filter_map(|k| obj.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
            minimal.insert(
                "entra_source".into(),
                marker("properties and every field outside the summary and envelope"),
            );
            write_line(&mut self.buf, &Value::Object(minimal))?;
        }
        self.lines_trimmed += 1;
        tracing::warn!(
            event_id = %id,
            bytes = original,
            max_line_bytes = self.max_line_bytes,
            trimmed_total = self.lines_trimmed,
            "event longer than max_line_bytes: its raw record was left out of the line (marked entra_source.truncated); raise max_line_bytes and the host's line limit to keep it"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn an_oversized_event_is_trimmed_with_a_marker_never_split() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut out = Output::new(Box::new(client)).with_max_line_bytes(4096);
        let big = json!({"event": {"id": "e1"}, "time": "t", "category": "SignInLogs",
            "properties": {"blob": "x".repeat(10_000)}, "AppDisplayName": "app"});
        let huge_alias = json!({"event": {"id": "e2"}, "time": "t", "category": "SignInLogs",
            "properties": {}, "ConditionalAccessPolicies": "y".repeat(10_000)});
        let small = json!({"event": {"id": "e3"}, "properties": {"a": 1}});
        out.write_page(&[big, huge_alias, small.clone()])
            .await
            .unwrap();
        drop(out);
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut server, &mut text)
            .await
            .unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(text.lines().all(|l| l.len() < 4096));
        assert_eq!(lines[0]["entra_source"]["truncated"], true);
        assert_eq!(lines[0]["properties"], Value::Null);
        assert_eq!(lines[0]["AppDisplayName"], "app");
        assert!(lines[1].get("ConditionalAccessPolicies").is_none());
        assert_eq!(lines[1]["event"]["id"], "e2");
        assert_eq!(lines[2], small);
    }
}
