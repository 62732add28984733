//! Events out, a page at a time, in the configured format: one JSON object per line on stdout
//! (flushed) or appended to a file (fsynced), NDJSON pushed to an acknowledging receiver such as
//! Vector's `http_server` (each part answered 2xx), or OTLP log records pushed to a Collector
//! (each batch acknowledged). A poller encodes its page event by event ([`Output::page`]) and
//! hands it on with [`Output::write_encoded`] (a health event, made as a tree, joins a page with
//! [`Page::push_value`]), which returns only once the page is handed on, so the caller
//! checkpoints after it. A closed stdout (EPIPE) means the host is gone: the caller stops
//! without checkpointing past the last written page.

mod encode;
mod file;
mod http;
pub mod otlp;
mod push;

use std::io::ErrorKind;

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::event::{NativeEvent, View};
use crate::format::Format;
pub use encode::{Encoder, DEFAULT_LINE_BYTES, MIN_LINE_BYTES};
use file::FileSink;
use http::HttpSink;
use otlp::OtlpSink;
use push::Pusher;

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
    #[error("HTTP push failed: {0}")]
    Http(String),
    /// Stopped (SIGTERM) while a push waited to be acknowledged: not written, not checkpointed.
    #[error("stopped before the receiver acknowledged the page; it is sent again on the next run")]
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

/// A push sink's [`Pusher`]: its HTTP client, `url`, (timeout, give-up) and receiver.
fn pusher(
    extra_ca_pem: Option<&[u8]>,
    url: &url::Url,
    (timeout, give_up_after): (std::time::Duration, std::time::Duration),
    shutdown: crate::shutdown::Shutdown,
    receiver: push::Receiver,
) -> Result<Pusher, OutputError> {
    let client = crate::http::http_client(extra_ca_pem)
        .map_err(|e| (receiver.error)(format!("cannot build the HTTP client: {e}")))?;
    Ok(Pusher::new(
        client,
        url.clone(),
        timeout,
        give_up_after,
        shutdown,
        receiver,
    ))
}

/// Where the events go.
enum Sink {
    /// The process's stdout, written in place by the poller's worker thread: tokio's stdout
    /// copies every byte once more through its own buffer on a blocking thread.
    Stdout,
    Stream(Box<dyn AsyncWrite + Send + Unpin>),
    File(FileSink),
    Otlp(OtlpSink),
    Http(HttpSink),
}

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
    /// Newline-delimited JSON POSTed to an acknowledging receiver (Vector's `http_server`).
    Http {
        url: url::Url,
        timeout: std::time::Duration,
        give_up_after: std::time::Duration,
    },
}

/// How many bytes of lines a page in flight holds before they are sent.
const PART_BYTES: usize = 256 * 1024;
/// How many OTLP records a page in flight holds before they are exported (the default batch).
const PART_RECORDS: usize = 500;

/// A page being encoded by its poller, event by event (each event is dropped once it is a
/// line, so a page in flight costs its lines, not its events' trees), then handed to
/// [`Output::write_encoded`].
pub struct Page {
    encoder: Encoder,
    otlp: bool,
    buf: Vec<u8>,
    records: Vec<otlp::Record>,
    count: u64,
}

impl Page {
    /// Adds the event `e`.
    pub fn push(&mut self, e: &NativeEvent<'_>) -> Result<(), OutputError> {
        let start = self.buf.len();
        self.encoder.line(e, &mut self.buf)?;
        if self.otlp {
            self.line_becomes_record(start, &View::of_event(e))?;
        }
        self.count += 1;
        Ok(())
    }

    /// Adds an event given as a tree (a health event, made native).
    pub fn push_value(&mut self, e: &Value) -> Result<(), OutputError> {
        let start = self.buf.len();
        self.encoder.line_of_value(e, &mut self.buf)?;
        if self.otlp {
            self.line_becomes_record(start, &View::of_value(e))?;
        }
        self.count += 1;
        Ok(())
    }

    /// OTLP sends records, not lines: the line written from `start` only measured the event
    /// and becomes the record's body.
    fn line_becomes_record(&mut self, start: usize, meta: &View<'_>) -> Result<(), OutputError> {
        let written: Value =
            serde_json::from_slice(&self.buf[start..]).map_err(|e| OutputError::Io(e.into()))?;
        self.records.push(otlp::log_record(meta, &written));
        self.buf.truncate(start);
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether its events are made with their Log Analytics columns: only a Log Analytics row
    /// writes them.
    pub fn columns(&self) -> bool {
        self.encoder.format.needs_columns()
    }

    /// Whether what the page holds should be sent ([`Output::write_part`]) before more is
    /// encoded: 256 KiB of lines, or the OTLP records of one export batch.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= PART_BYTES || self.records.len() >= PART_RECORDS
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Events out: the [`Encoder`] makes each line, the sink hands a page on.
pub struct Output {
    w: Sink,
    encoder: Encoder,
    pub lines_written: u64,
}

impl Output {
    pub fn stdout() -> Output {
        let mut out = Output::new(Box::new(tokio::io::sink()));
        out.w = Sink::Stdout;
        out
    }

    pub fn new(w: Box<dyn AsyncWrite + Send + Unpin>) -> Output {
        Output {
            w: Sink::Stream(w),
            encoder: Encoder::new(Format::Native, false, DEFAULT_LINE_BYTES),
            lines_written: 0,
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
                let limits = (*timeout, *give_up_after);
                let pusher = pusher(extra_ca_pem, url, limits, shutdown, OtlpSink::receiver())?;
                Output::with_sink(Sink::Otlp(OtlpSink::new(pusher, *batch_records)))
            }
            OutputTarget::Http {
                url,
                timeout,
                give_up_after,
            } => {
                let limits = (*timeout, *give_up_after);
                let pusher = pusher(extra_ca_pem, url, limits, shutdown, HttpSink::receiver())?;
                Output::with_sink(Sink::Http(HttpSink::new(pusher)))
            }
        };
        Ok(out.with_max_line_bytes(max_line_bytes).with_format(format))
    }

    fn with_sink(w: Sink) -> Output {
        let mut out = Output::new(Box::new(tokio::io::sink()));
        out.w = w;
        out
    }

    /// `[output] max_line_bytes`: no line (newline included) is ever longer.
    pub fn with_max_line_bytes(mut self, max: u64) -> Output {
        self.encoder = Encoder::new(self.encoder.format, self.encoder.keep_null, max);
        self
    }

    pub fn format(&self) -> Format {
        self.encoder.format
    }

    /// `[output] format`.
    pub fn with_format(mut self, format: Format) -> Output {
        self.encoder.format = format;
        self
    }

    /// `[output] keep_null_columns`.
    pub fn with_keep_null(mut self, keep_null: bool) -> Output {
        self.encoder.keep_null = keep_null;
        self
    }

    /// Events whose raw record was trimmed to respect `max_line_bytes`.
    pub fn lines_trimmed(&self) -> u64 {
        self.encoder.lines_trimmed
    }

    /// An empty page in this output's format and line limit, for a poller to fill.
    pub fn page(&self) -> Page {
        Page {
            encoder: Encoder::new(
                self.encoder.format,
                self.encoder.keep_null,
                self.encoder.max_line_bytes() as u64,
            ),
            otlp: matches!(self.w, Sink::Otlp(_)),
            buf: Vec::new(),
            records: Vec::new(),
            count: 0,
        }
    }

    /// Writes events given as trees as one page, then flushes (stdout), fsyncs (file) or waits
    /// for the receiver's acknowledgement (the pushes). Returns only once the page is handed on.
    /// For the encoder's tests; the poll loop encodes with [`Output::page`] and hands on with
    /// [`Output::write_encoded`].
    #[cfg(test)]
    pub async fn write_page(&mut self, events: &[Value]) -> Result<(), OutputError> {
        let mut page = self.page();
        for e in events {
            page.push_value(e)?;
        }
        self.write_encoded(page).await
    }

    /// Hands on a page its poller encoded ([`Output::page`]): writes it, then flushes (stdout),
    /// fsyncs (file) or waits for the receiver's acknowledgement (the pushes). Returns only once
    /// the page is handed on.
    pub async fn write_encoded(&mut self, mut page: Page) -> Result<(), OutputError> {
        if page.count == 0 {
            return Ok(());
        }
        self.send(&mut page, true).await?;
        self.encoder.lines_trimmed += page.encoder.lines_trimmed;
        self.lines_written += page.count;
        Ok(())
    }

    /// Sends what a page holds so far ([`Page::is_full`]) and empties it, without the flush or
    /// fsync that [`Output::write_encoded`] ends the page with: a page in flight holds a part
    /// of its lines, not all of them (a full native sign-in page is megabytes of lines).
    pub async fn write_part(&mut self, page: &mut Page) -> Result<(), OutputError> {
        self.send(page, false).await
    }

    async fn send(&mut self, page: &mut Page, end: bool) -> Result<(), OutputError> {
        match &mut self.w {
            Sink::Stdout => {
                let buf = &page.buf;
                tokio::task::block_in_place(|| {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    out.write_all(buf)?;
                    out.flush()
                })?;
            }
            Sink::Stream(w) => {
                w.write_all(&page.buf).await?;
                if end {
                    w.flush().await?;
                }
            }
            Sink::File(f) => {
                let buf = &page.buf;
                tokio::task::block_in_place(|| f.append(buf, end)).map_err(OutputError::File)?;
            }
            Sink::Otlp(o) => o.export(&page.records).await?,
            Sink::Http(h) => h.send(&page.buf).await?,
        }
        page.buf.clear();
        page.records.clear();
        Ok(())
    }
}
