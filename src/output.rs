//! Events out: one JSON object per line on stdout, written and flushed a page at a time. A
//! closed stdout (EPIPE) means the host is gone: the caller stops without checkpointing past
//! the last flushed page.

use std::io::ErrorKind;

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Lines longer than this get a stderr warning: Fluent Bit and the Collector's filelog split or
/// truncate them unless configured for more.
const LONG_LINE_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("stdout was closed by the host (broken pipe); stopping without checkpointing past the last written page")]
    Closed,
    #[error("cannot write events to stdout: {0}")]
    Io(std::io::Error),
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
pub struct Output {
    w: Box<dyn AsyncWrite + Send + Unpin>,
    buf: Vec<u8>,
    pub lines_written: u64,
}

impl Output {
    pub fn stdout() -> Output {
        Output::new(Box::new(tokio::io::stdout()))
    }

    pub fn new(w: Box<dyn AsyncWrite + Send + Unpin>) -> Output {
        Output {
            w,
            buf: Vec::new(),
            lines_written: 0,
        }
    }

    /// Writes every event as one line, then flushes. Returns only once the bytes are handed on.
    pub async fn write_page(&mut self, events: &[Value]) -> Result<(), OutputError> {
        if events.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for e in events {
            let start = self.buf.len();
            serde_json::to_writer(&mut self.buf, e).map_err(|e| OutputError::Io(e.into()))?;
            self.buf.push(b'\n');
            let len = self.buf.len() - start;
            if len > LONG_LINE_BYTES {
                let id = e
                    .pointer("/event/id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                tracing::warn!(
                    event_id = id,
                    bytes = len,
                    "event line exceeds 1 MiB; raise the host's line limit (Fluent Bit Buf_Size, Vector max_length)"
                );
            }
        }
        self.w.write_all(&self.buf).await?;
        self.w.flush().await?;
        self.lines_written += events.len() as u64;
        Ok(())
    }
}
