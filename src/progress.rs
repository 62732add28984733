//! Backfill progress: on a terminal, a bar per stream (the records written, their rate, how far
//! the history is read) drawn on stderr, with log lines printed above the bars; elsewhere the
//! poll loop's plain "backfill: window checkpointed" lines are the progress.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Utc};

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
struct Bar(Option<ProgressBar>);

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// One poll's catch-up of `[from, to]`: a bar on a terminal that counts records with every page
/// (and says their rate and the record time reached), and the figures of the per-window log
/// lines. It counts records, not time: Graph says nothing of how many a window holds, and a
/// share of the window's time read said "99 %, ETA 0s" with 19,000 of 20,000 records to come
/// (they were recent, or an unordered query's first page held the newest). `active` only when the poll is behind by more than a backfill window: an
/// ordinary poll whose re-read spans days (risk detections re-read 48 h) is not a backfill.
pub struct Catchup {
    bar: Bar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    started: Instant,
    pub active: bool,
}

impl Catchup {
    /// The catch-up of `section` of `tenant`, labelled with the tenant's first block.
    pub fn new(
        tenant: &str,
        section: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        active: bool,
    ) -> Catchup {
        let short = tenant.split(['-', '.']).next().unwrap_or(tenant);
        let label = format!("{short}/{section}");
        let label = label.as_str();
        Catchup {
            bar: Bar(active.then(|| new_bar(label)).flatten()),
            from,
            to,
            started: Instant::now(),
            active,
        }
    }

    /// Records per second since the catch-up began.
    pub fn rate(&self, emitted: u64) -> f64 {
        emitted as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    /// Seconds of history between `reached` and the catch-up's end.
    pub fn behind(&self, reached: DateTime<Utc>) -> u64 {
        (self.to - reached).num_seconds().max(0) as u64
    }

    /// After each page: `emitted` records so far, history read up to `reached` (the window's
    /// start while a page's records carry no usable time).
    pub fn page(&self, emitted: u64, reached: DateTime<Utc>) {
        let reached = reached.clamp(self.from, self.to);
        let Some(b) = &self.bar.0 else { return };
        b.set_position(emitted);
        b.set_message(format!(
            "{}/s, history read to {} ({} behind)",
            self.rate(emitted).round(),
            crate::event::graph_time(reached),
            crate::duration::format_duration(std::time::Duration::from_secs(self.behind(reached)))
        ));
    }
}

fn new_bar(stream: &str) -> Option<ProgressBar> {
    let multi = bars()?;
    let bar = multi.add(ProgressBar::no_length());
    let style = ProgressStyle::with_template("{prefix:<32} {spinner} {pos} records, {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(stream.to_string());
    Some(bar)
}

/// Log output that does not tear the bars: written while they are hidden.
pub struct Writer;

/// A diagnostic that cannot be written is dropped: stderr closed by a host that died must not
/// stop (or, through tracing's internal error report, panic) the run that is shutting down.
impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = match bars() {
            Some(m) => m.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        };
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
