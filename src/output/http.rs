//! `[output] http_endpoint`: the lines stdout would carry, POSTed as newline-delimited JSON
//! (`application/x-ndjson`) to a receiver that acknowledges: Vector's `http_server` source with
//! acknowledgements on answers 2xx only once its sinks (or their disk buffers) hold the events,
//! so a page is checkpointed only after the host has it and a host crash loses nothing. The
//! retries are [`Pusher`]'s; a body refused as too large (413) is split in two at a line end.

use super::push::{Pusher, Receiver};
use super::OutputError;

/// The largest body sent (a page part is 256 KiB of lines plus at most one line).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub struct HttpSink {
    pusher: Pusher,
}

/// The end of the last whole line within the first `limit` bytes of `buf` (which holds whole
/// lines), or the end of the first line when even that is longer.
fn cut(buf: &[u8], limit: usize) -> usize {
    if buf.len() <= limit {
        return buf.len();
    }
    match memchr::memrchr(b'\n', &buf[..limit]) {
        Some(i) => i + 1,
        None => memchr::memchr(b'\n', buf).map_or(buf.len(), |i| i + 1),
    }
}

impl HttpSink {
    pub fn new(pusher: Pusher) -> HttpSink {
        HttpSink { pusher }
    }

    /// How [`Pusher`] names and reaches an HTTP receiver.
    pub fn receiver() -> Receiver {
        Receiver {
            what: "HTTP push",
            name: "the HTTP receiver",
            content_type: "application/x-ndjson",
            give_up_key: "[output] http_give_up_after",
            not_found_hint: "nothing receives events at that path; point http_endpoint at the receiver's address and path (Vector: the `address` of an http_server source, whose `path` is \"/\" by default)",
            error: OutputError::Http,
        }
    }

    /// Sends `buf` (whole lines) until every byte of it is acknowledged.
    pub async fn send(&mut self, buf: &[u8]) -> Result<(), OutputError> {
        let mut rest = buf;
        let mut limit = MAX_BODY_BYTES;
        while !rest.is_empty() {
            let n = cut(rest, limit);
            let lines = memchr::memchr_iter(b'\n', &rest[..n]).count();
            if self.pusher.deliver(&rest[..n], lines).await? {
                rest = &rest[n..];
                limit = MAX_BODY_BYTES;
            } else if lines > 1 {
                limit = n / 2;
                tracing::warn!(bytes = n, lines, url = %self.pusher.url, "the HTTP receiver refused a push as too large (413); halving the body");
            } else {
                return Err(OutputError::Http(format!(
                    "the HTTP receiver at {} refused a single line of {n} bytes as too large (413); raise its body limit or lower [output] max_line_bytes",
                    self.pusher.url
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn a_body_ends_at_a_line_end() {
        let buf = b"aaaa\nbb\ncccccc\n";
        assert_eq!(cut(buf, 100), buf.len());
        assert_eq!(cut(buf, 8), 8);
        assert_eq!(cut(buf, 7), 5);
        assert_eq!(cut(buf, 3), 5, "a line longer than the limit goes alone");
        assert_eq!(cut(&buf[8..], 3), 7);
    }
}
