//! The keys already written into a full native event, so that a Graph key copied to the top
//! level never collides with one of the event's own.

use crate::record::Record;

/// The keys already in an event: a 4096-bit filter in front of the exact comparison, so the
/// common case (a Graph key that is new) costs no string comparison. (With 1024 bits, one Graph
/// key in ten of a full sign-in hit the filter falsely and was compared with a hundred keys.)
pub(super) struct KeySet {
    bits: [u64; 64],
    keys: Vec<&'static str>,
    graph_seen: [u64; 64],
}

impl KeySet {
    /// An empty set with room for `n` keys.
    pub(super) fn with_capacity(n: usize) -> Self {
        KeySet {
            bits: [0; 64],
            keys: Vec::with_capacity(n),
            graph_seen: [0; 64],
        }
    }
}

/// A key's bit: from its length and three of its bytes, mixed by one multiply.
fn bit(k: &str) -> (usize, u64) {
    let b = k.as_bytes();
    let n = b.len();
    let at = |i: usize| u32::from(b.get(i).copied().unwrap_or(0));
    let h = (n as u32) ^ (at(0) << 8) ^ (at(n / 2) << 16) ^ (at(n.wrapping_sub(1)) << 24);
    let h = (h.wrapping_mul(0x9e37_79b1) >> 20) as usize;
    (h / 64, 1 << (h % 64))
}

impl KeySet {
    pub(super) fn insert(&mut self, k: &'static str) {
        let (i, b) = bit(k);
        self.bits[i] |= b;
        self.keys.push(k);
    }

    /// Whether the Graph key `k` is new (and marks it): not an event key and not an earlier
    /// member of the record (a duplicated key is copied once).
    pub(super) fn insert_new(&mut self, k: &str, at: usize, record: &Record<'_>) -> bool {
        let (i, b) = bit(k);
        if self.bits[i] & b != 0 && self.keys.contains(&k) {
            return false;
        }
        if self.graph_seen[i] & b != 0 && record.members().take(at).any(|m| m.key == k) {
            return false;
        }
        self.graph_seen[i] |= b;
        true
    }
}
