//! Backfill progress: on a terminal, a bar per stream (how much of the catch-up window is read,
//! records, rate, ETA) drawn on stderr, with log lines printed above the bars; elsewhere the
//! poll loop's plain "backfill: window checkpointed" lines are the progress.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars, when stderr is a terminal and text logs are on.
static BARS: OnceLock<Option<MultiProgress>> = OnceLock::new();

/// Decides once whether bars are drawn (text logs on a terminal only).
pub fn init(text_logs: bool) {
    let _ = BARS.set(
        (text_logs && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
    );
}

fn bars() -> Option<&'static MultiProgress> {
    BARS.get().and_then(Option::as_ref)
}

/// One stream's bar, cleared when the catch-up ends however it ends. Inert off a terminal.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn set(&self, position: u64, message: impl FnOnce() -> String) {
        if let Some(b) = &self.0 {
            b.set_position(position);
            b.set_message(message());
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// A bar for one stream's catch-up of `total_seconds` of history.
pub fn backfill_bar(stream: &str, total_seconds: u64) -> Bar {
    Bar(new_bar(stream, total_seconds))
}

fn new_bar(stream: &str, total_seconds: u64) -> Option<ProgressBar> {
    if total_seconds == 0 {
        return None;
    }
    let multi = bars()?;
    let bar = multi.add(ProgressBar::new(total_seconds));
    let style =
        ProgressStyle::with_template("{prefix:<32} [{bar:30}] {percent:>3}% {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(stream.to_string());
    Some(bar)
}

/// Log output that does not tear the bars: written while they are hidden.
pub struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match bars() {
            Some(m) => m
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|_| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
