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
            w,
            buf: Vec::new(),
            max_line_bytes: crate::config::DEFAULT_LINE_BYTES as usize,
            lines_written: 0,
            lines_trimmed: 0,
        }
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
        self.w.write_all(&self.buf).await?;
        self.w.flush().await?;
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
