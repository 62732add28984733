//! Encoding, apart from sending: an event in the configured format as one JSON line, never
//! longer than `max_line_bytes` (an over-long event loses its raw record, marked, instead of
//! becoming a line a host would split or drop).

use serde_json::Value;

use super::OutputError;
use crate::event::NativeEvent;
use crate::format::Format;

/// The shortest `max_line_bytes`: room for an event's summary, envelope and marker.
pub const MIN_LINE_BYTES: u64 = 4096;
/// The default `max_line_bytes`: the Collector's `filelog` limit and Vector's usual framing.
pub const DEFAULT_LINE_BYTES: u64 = 1024 * 1024;

/// Makes each event's line.
pub struct Encoder {
    pub format: Format,
    /// `[output] keep_null_columns`: a Log Analytics row keeps its null and empty columns.
    pub keep_null: bool,
    max_line_bytes: usize,
    /// Events whose raw record was trimmed to respect `max_line_bytes`.
    pub lines_trimmed: u64,
}

fn write_line(buf: &mut Vec<u8>, e: &Value) -> Result<(), OutputError> {
    serde_json::to_writer(&mut *buf, e).map_err(|e| OutputError::Io(e.into()))?;
    buf.push(b'\n');
    Ok(())
}

impl Encoder {
    pub fn new(format: Format, keep_null: bool, max_line_bytes: u64) -> Encoder {
        Encoder {
            format,
            keep_null,
            max_line_bytes: usize::try_from(max_line_bytes).unwrap_or(usize::MAX),
            lines_trimmed: 0,
        }
    }

    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Appends the event `e` to `buf` as one line in the format, trimmed to fit.
    pub fn line(&mut self, e: &NativeEvent<'_>, buf: &mut Vec<u8>) -> Result<(), OutputError> {
        let start = buf.len();
        self.format.write(e, self.keep_null, buf);
        buf.push(b'\n');
        let len = buf.len() - start;
        if len <= self.max_line_bytes {
            return Ok(());
        }
        // Rare: the line is read back as a tree to be trimmed.
        let rendered: Value =
            serde_json::from_slice(&buf[start..]).map_err(|e| OutputError::Io(e.into()))?;
        buf.truncate(start);
        self.write_trimmed(&rendered, len, buf)?;
        Ok(())
    }

    /// Appends an event given as a tree (a health event, made native) in the format.
    pub fn line_of_value(&mut self, e: &Value, buf: &mut Vec<u8>) -> Result<(), OutputError> {
        let rendered = self.format.render(e);
        let start = buf.len();
        write_line(buf, &rendered)?;
        let len = buf.len() - start;
        if len > self.max_line_bytes {
            buf.truncate(start);
            self.write_trimmed(&rendered, len, buf)?;
        }
        Ok(())
    }

    /// Writes `e` without its raw record, marked; if that is still too long, only what
    /// identifies and classifies it. The full record stays in Graph for the retention period.
    /// Returns what was written.
    fn write_trimmed(
        &mut self,
        e: &Value,
        original: usize,
        buf: &mut Vec<u8>,
    ) -> Result<Value, OutputError> {
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
        let start = buf.len();
        write_line(buf, &slim)?;
        if buf.len() - start > self.max_line_bytes {
            buf.truncate(start);
            slim = self.format.slim(
                e,
                marker("the raw Graph record and every field outside the event's identification"),
                true,
            );
            write_line(buf, &slim)?;
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
    use crate::output::Output;
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
