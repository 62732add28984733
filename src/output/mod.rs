//! Events out, a page at a time, in the configured format: one JSON object per line on stdout
//! (flushed) or appended to a file (fsynced), or OTLP log records pushed to a Collector (each
//! batch acknowledged). `write_page` returns only once the page is handed on, so the caller
//! checkpoints after it. A closed stdout (EPIPE) means the host is gone: the caller stops
//! without checkpointing past the last written page.

mod file;
pub mod otlp;

use std::borrow::Cow;
use std::io::ErrorKind;

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::format::Format;
use file::FileSink;
use otlp::OtlpSink;

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
    #[error("OTLP export failed: {0}")]
    Otlp(String),
    /// Stopped (SIGTERM) while an export waited to be acknowledged: not written, not checkpointed.
    #[error(
        "stopped before the Collector acknowledged the page; it is sent again on the next run"
    )]
    Shutdown,
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

/// Where the events go.
enum Sink {
    Stream(Box<dyn AsyncWrite + Send + Unpin>),
    File(FileSink),
    Otlp(OtlpSink),
}

/// The shortest `max_line_bytes`: room for an event's summary, envelope and marker.
pub const MIN_LINE_BYTES: u64 = 4096;
/// The default `max_line_bytes`: the Collector's `filelog` limit and Vector's usual framing.
pub const DEFAULT_LINE_BYTES: u64 = 1024 * 1024;

/// The most rotated files `[output] rotate_keep` may ask for.
pub const MAX_ROTATE_KEEP: u32 = 1000;

/// Where events go.
#[derive(Debug, Clone)]
pub enum OutputTarget {
    Stdout,
    File {
        path: std::path::PathBuf,
        rotate_size_bytes: u64,
        rotate_keep: u32,
    },
    /// OTLP/HTTP JSON export to an OpenTelemetry Collector.
    Otlp {
        /// The full `/v1/logs` URL.
        url: url::Url,
        batch_records: usize,
        timeout: std::time::Duration,
        /// How long an unacknowledged batch is retried before the run stops.
        give_up_after: std::time::Duration,
    },
}

pub struct Output {
    w: Sink,
    format: Format,
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
            format: Format::Native,
            buf: Vec::new(),
            max_line_bytes: DEFAULT_LINE_BYTES as usize,
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

    /// Events to `target` in `format`, no line longer than `max_line_bytes`; `extra_ca_pem`
    /// for an OTLP Collector behind a TLS-inspecting proxy. `shutdown` interrupts an OTLP
    /// export that waits for the Collector.
    pub fn for_target(
        target: &OutputTarget,
        format: Format,
        max_line_bytes: u64,
        extra_ca_pem: Option<&[u8]>,
        shutdown: crate::shutdown::Shutdown,
    ) -> Result<Output, OutputError> {
        let out = match target {
            OutputTarget::Stdout => Output::stdout(),
            OutputTarget::File {
                path,
                rotate_size_bytes,
                rotate_keep,
            } => Output::file(path, *rotate_size_bytes, *rotate_keep).map_err(OutputError::File)?,
            OutputTarget::Otlp {
                url,
                batch_records,
                timeout,
                give_up_after,
            } => {
                let client = crate::http::http_client(extra_ca_pem)
                    .map_err(|e| OutputError::Otlp(format!("cannot build the HTTP client: {e}")))?;
                let mut out = Output::new(Box::new(tokio::io::sink()));
                out.w = Sink::Otlp(OtlpSink::new(
                    client,
                    url.clone(),
                    *batch_records,
                    *timeout,
                    *give_up_after,
                    shutdown,
                ));
                out
            }
        };
        Ok(out.with_max_line_bytes(max_line_bytes).with_format(format))
    }

    /// `[output] max_line_bytes`: no line (newline included) is ever longer.
    pub fn with_max_line_bytes(mut self, max: u64) -> Output {
        self.max_line_bytes = usize::try_from(max).unwrap_or(usize::MAX);
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// `[output] format`.
    pub fn with_format(mut self, format: Format) -> Output {
        self.format = format;
        self
    }

    /// Writes every event of a page, then flushes (stdout), fsyncs (file) or waits for the
    /// Collector's acknowledgement (OTLP). Returns only once the page is handed on.
    pub async fn write_page(&mut self, events: &[Value]) -> Result<(), OutputError> {
        if events.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        let otlp = matches!(self.w, Sink::Otlp(_));
        let mut records = Vec::new();
        for e in events {
            let rendered = match self.format {
                Format::Native => Cow::Borrowed(e),
                f => Cow::Owned(f.render(e)),
            };
            let start = self.buf.len();
            write_line(&mut self.buf, &rendered)?;
            let len = self.buf.len() - start;
            let mut fitted = None;
            if len > self.max_line_bytes {
                self.buf.truncate(start);
                fitted = Some(self.write_trimmed(&rendered, len)?);
            }
            if otlp {
                self.buf.clear();
                let body = fitted.as_ref().unwrap_or(&rendered);
                records.push(otlp::log_record(e, body));
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
            Sink::Otlp(o) => o.export(&records).await?,
        }
        self.lines_written += events.len() as u64;
        Ok(())
    }
}

impl Output {
    /// Writes `e` without its raw record, marked; if that is still too long, only what
    /// identifies and classifies it. The full record stays in Graph for the retention period.
    /// Returns what was written.
    fn write_trimmed(&mut self, e: &Value, original: usize) -> Result<Value, OutputError> {
        let id = e
            .pointer("/event/id")
            .or_else(|| e.pointer("/metadata/uid"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let marker = |dropped: &str| {
            serde_json::json!({
                "truncated": true,
                "original_bytes": original,
                "max_line_bytes": self.max_line_bytes,
                "dropped": dropped,
            })
        };
        let mut slim = self.format.slim(e, marker("the raw Graph record"), false);
        let start = self.buf.len();
        write_line(&mut self.buf, &slim)?;
        if self.buf.len() - start > self.max_line_bytes {
            self.buf.truncate(start);
            slim = self.format.slim(
                e,
                marker("the raw Graph record and every field outside the event's identification"),
                true,
            );
            write_line(&mut self.buf, &slim)?;
        }
        self.lines_trimmed += 1;
        tracing::warn!(
            event_id = %id,
            bytes = original,
            max_line_bytes = self.max_line_bytes,
            trimmed_total = self.lines_trimmed,
            "event longer than max_line_bytes: its raw record was left out of the line (marked truncated); raise max_line_bytes and the host's line limit to keep it"
        );
        Ok(slim)
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
