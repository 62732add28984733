//! Diagnostics on stderr through `tracing`: text or one JSON object per line
//! (`--log-format json`, for a Vector exec source that decodes stderr as JSON), filtered by
//! `RUST_LOG` (default `info`).
//!
//! A JSON line never carries a top-level key that an exec host sets itself: Vector's exec
//! source adds `stream`, `pid`, `command`, `host`, `source_type` and `timestamp` only where they
//! are absent (so a `stream` of ours would break its routing on `.stream`), and Fluent Bit's CRI
//! and docker parsers with the Kubernetes filter's `Merge_Log` claim `time`, `log`, `logtag` and
//! `kubernetes`. A field of ours with such a name is written as `entra_<name>`; the line's own
//! time is `log_time`.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Top-level keys that Vector, Fluent Bit or the Collector set on a line they read from a
/// program: a JSON log line never uses them.
pub const HOST_KEYS: [&str; 10] = [
    // Vector `exec` (legacy namespace, inserted only when absent).
    "stream",
    "pid",
    "command",
    "host",
    "source_type",
    "timestamp",
    // Fluent Bit's `cri`/`docker` parsers, merged by the Kubernetes filter.
    "time",
    "log",
    "logtag",
    "kubernetes",
];

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    crate::progress::init(format == LogFormat::Text);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::progress::Writer)
        // Its report of a failed write is an eprintln!, which panics when stderr is closed.
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.event_format(JsonLine).try_init(),
    };
}

/// One JSON object per event: `log_time`, `level`, `message`, then the event's fields.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", Value::Object(json_fields(event)))
    }
}

fn json_fields(event: &Event<'_>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(
        "log_time".into(),
        chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into(),
    );
    map.insert(
        "level".into(),
        event
            .metadata()
            .level()
            .as_str()
            .to_ascii_lowercase()
            .into(),
    );
    event.record(&mut Fields(&mut map));
    map
}

/// The key a field is written under: its own name unless a host claims it.
pub fn json_key(name: &str) -> String {
    if HOST_KEYS.contains(&name) || name == "log_time" || name == "level" {
        format!("entra_{name}")
    } else {
        name.to_string()
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, v: Value) {
        self.0.insert(json_key(field.name()), v);
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_renamed_and_ours_kept() {
        assert_eq!(json_key("stream"), "entra_stream");
        assert_eq!(json_key("timestamp"), "entra_timestamp");
        assert_eq!(json_key("time"), "entra_time");
        assert_eq!(json_key("level"), "entra_level");
        assert_eq!(json_key("tenant"), "tenant");
        assert_eq!(json_key("message"), "message");
    }
}
