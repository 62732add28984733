//! JSON text that has already been read once (a page is parsed, and so validated, when it
//! arrives), looked into again without a parser: a nested member, an array's elements, a string
//! without escapes, and strings escaped for output.
//!
//! Why: a record's nested values (`status/errorCode`, `initiatedBy/user/id`, a target's
//! `modifiedProperties`) are read a dozen times an event, and `serde_json`'s deserializer
//! re-validated each whole object every time (a fifth of an ECS event's CPU). On text that is
//! not well-formed these functions answer `None` or stop at its end; they never panic or loop.

use std::borrow::Cow;

/// The index just past the string that opens at `i` (`b[i]` is `"`), or `None` if it never
/// closes.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    // Keys and values are mostly short: a plain loop beats a vector search's set-up.
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        match c {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    None
}

/// The index of the first byte from `i` that is not JSON whitespace.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The index just past the value that starts at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(b.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

/// Calls `f` with each member's key (as written, without its quotes) and value text, in order,
/// until `f` returns `false`. `None` if `raw` is not an object.
fn each_member<'a>(raw: &'a str, mut f: impl FnMut(&'a str, &'a str) -> bool) -> Option<()> {
    let b = raw.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut i = skip_ws(b, 1);
    if b.get(i) == Some(&b'}') {
        return Some(());
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = raw.get(i + 1..key_end - 1)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let end = value_end(b, start)?;
        if !f(key, raw.get(start..end)?) {
            return Some(());
        }
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            _ => return Some(()),
        }
    }
}

/// Whether a key as written (escapes and all) is `key`.
fn key_is(written: &str, key: &str) -> bool {
    if has_backslash(written) {
        unescape(written).is_some_and(|k| k == key)
    } else {
        written == key
    }
}

/// Where one member of an object is in the object's text: its key as written and its value.
pub struct MemberSpan {
    key: (u32, u32),
    value: (u32, u32),
}

impl MemberSpan {
    /// The member's value in `obj` (the text it was found in) if its key is `key`.
    pub fn get<'a>(&self, obj: &'a str, key: &str) -> Option<&'a str> {
        let written = obj.get(self.key.0 as usize..self.key.1 as usize)?;
        key_is(written, key).then(|| obj.get(self.value.0 as usize..self.value.1 as usize))?
    }
}

/// Where each member of an object's text is (none when it is not an object).
pub fn member_spans(raw: &str) -> Vec<MemberSpan> {
    let base = raw.as_ptr() as usize;
    let at = |s: &str| (s.as_ptr() as usize - base) as u32;
    let mut out = Vec::with_capacity(8);
    each_member(raw, |k, v| {
        out.push(MemberSpan {
            key: (at(k), at(k) + k.len() as u32),
            value: (at(v), at(v) + v.len() as u32),
        });
        true
    });
    out
}

/// The member `key` of an object's text (the first, if duplicated).
pub fn member<'a>(raw: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    each_member(raw, |k, v| {
        if key_is(k, key) {
            found = Some(v);
            return false;
        }
        true
    })?;
    found
}

/// The values of several members, in one pass over the object (each `None` when absent; the
/// first of a key written twice).
pub fn members_of<'a, const N: usize>(raw: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    let mut found = [None; N];
    let mut left = N;
    let _ = each_member(raw, |k, v| {
        for (i, key) in keys.iter().enumerate() {
            if found[i].is_none() && key_is(k, key) {
                found[i] = Some(v);
                left -= 1;
            }
        }
        left > 0
    });
    found
}

/// An object's members, keys unescaped, values as their text, in order.
pub fn members(raw: &str) -> Option<Vec<(Cow<'_, str>, &str)>> {
    let mut out = Vec::with_capacity(8);
    let mut ok = true;
    each_member(raw, |k, v| {
        match unescape(k) {
            Some(k) => out.push((k, v)),
            None => ok = false,
        }
        ok
    })?;
    ok.then_some(out)
}

/// The elements of an array's text.
pub fn elements(raw: &str) -> Vec<&str> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    if b.first() != Some(&b'[') {
        return out;
    }
    let mut i = skip_ws(b, 1);
    if b.get(i) == Some(&b']') {
        return out;
    }
    while let Some(end) = value_end(b, i) {
        let Some(v) = raw.get(i..end) else {
            break;
        };
        out.push(v);
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            _ => break,
        }
    }
    out
}

/// The string a JSON string literal holds, borrowed when it has no escape.
pub fn string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    unescape(inner)
}

/// Whether text holds a backslash: one pass without an early exit, which the compiler
/// vectorizes (a vector search's set-up cost more on strings this short).
fn has_backslash(s: &str) -> bool {
    s.as_bytes()
        .iter()
        .fold(false, |any, &c| any | (c == b'\\'))
}

/// The text between a string's quotes, unescaped (borrowed when it holds no escape).
pub fn unescape(inner: &str) -> Option<Cow<'_, str>> {
    if !has_backslash(inner) {
        return Some(Cow::Borrowed(inner));
    }
    let mut quoted = String::with_capacity(inner.len() + 2);
    quoted.push('"');
    quoted.push_str(inner);
    quoted.push('"');
    serde_json::from_str::<String>(&quoted).ok().map(Cow::Owned)
}

/// The deepest nesting a validated value may have (`serde_json`'s own limit, so that a page
/// this scanner refuses is refused by the parser too, with its message).
const MAX_DEPTH: u32 = 128;

/// The index just past the well-formed string that opens at `i` (`b[i]` is `"`): escapes
/// checked, no raw control character. Eight bytes at a time between escapes.
pub fn valid_string_end(b: &[u8], i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH3: u64 = 0xe0e0_e0e0_e0e0_e0e0;
    let mut j = i + 1;
    loop {
        while let Some(word) = b.get(j..j + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let w = u64::from_le_bytes(w);
            let stop = zero_bytes(w ^ (u64::from(b'"') * ONES))
                | zero_bytes(w ^ (u64::from(b'\\') * ONES))
                | zero_bytes(w & HIGH3);
            if stop != 0 {
                j += (stop.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        match *b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => {
                j += match *b.get(j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                    b'u' if b.get(j + 2..j + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                    _ => return None,
                }
            }
            0..=0x1f => return None,
            _ => j += 1,
        }
    }
}

/// The index just past the well-formed number at `i`.
fn valid_number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| {
        let from = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > from).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(b, i)?,
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Some(i)
}

/// The index just past the well-formed value at `i` (no whitespace before it), inside `depth`
/// arrays and objects already.
pub fn valid_value_end(b: &[u8], i: usize, depth: u32) -> Option<usize> {
    match *b.get(i)? {
        b'"' => valid_string_end(b, i),
        b'{' => {
            if depth + 1 >= MAX_DEPTH {
                return None;
            }
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&b'}') {
                return Some(j + 1);
            }
            loop {
                if b.get(j) != Some(&b'"') {
                    return None;
                }
                j = skip_ws(b, valid_string_end(b, j)?);
                if b.get(j) != Some(&b':') {
                    return None;
                }
                j = skip_ws(b, valid_value_end(b, skip_ws(b, j + 1), depth + 1)?);
                match *b.get(j)? {
                    b',' => j = skip_ws(b, j + 1),
                    b'}' => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            if depth + 1 >= MAX_DEPTH {
                return None;
            }
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&b']') {
                return Some(j + 1);
            }
            loop {
                j = skip_ws(b, valid_value_end(b, j, depth + 1)?);
                match *b.get(j)? {
                    b',' => j = skip_ws(b, j + 1),
                    b']' => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        b't' => b[i..].starts_with(b"true").then_some(i + 4),
        b'f' => b[i..].starts_with(b"false").then_some(i + 5),
        b'n' => b[i..].starts_with(b"null").then_some(i + 4),
        _ => valid_number_end(b, i),
    }
}

/// A JSON string literal holding `s`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    // One pass without an early exit, which the compiler vectorizes.
    if b.iter().fold(false, |any, &c| any | (c < 0x20)) {
        // Control characters: serde_json's escaper writes them as JSON spells them.
        let _ = serde_json::to_writer(&mut *out, s);
        return;
    }
    out.reserve(b.len() + b.len() / 8 + 2);
    out.push(b'"');
    escape_quotes(out, b);
    out.push(b'"');
}

/// `0x80` in each byte of `v` that is zero, nothing elsewhere (exact: no borrow between bytes).
fn zero_bytes(v: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7)
}

/// Copies `b` with a backslash before each `"` and `\`, eight bytes at a time: JSON text (ECS
/// `event.original`) has a quote every few bytes, too dense for a vector search per quote and
/// slow byte by byte.
fn escape_quotes(out: &mut Vec<u8>, b: &[u8]) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut from = 0;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let mut hits =
            zero_bytes(w ^ (u64::from(b'"') * ONES)) | zero_bytes(w ^ (u64::from(b'\\') * ONES));
        while hits != 0 {
            let k = at + (hits.trailing_zeros() / 8) as usize;
            out.extend_from_slice(&b[from..k]);
            out.push(b'\\');
            from = k;
            hits &= hits - 1;
        }
        at += 8;
    }
    for (k, &c) in words.remainder().iter().enumerate() {
        if c == b'"' || c == b'\\' {
            out.extend_from_slice(&b[from..at + k]);
            out.push(b'\\');
            from = at + k;
        }
    }
    out.extend_from_slice(&b[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const TEXT: &str =
        r#"{"a":"x\"}","b" : [1,{"c":"]"},[]],"k\u0031":true,"n":-1.5e3,"o":{},"a":2}"#;

    #[test]
    fn members_and_elements_are_what_serde_json_reads() {
        let v: Value = serde_json::from_str(TEXT).unwrap();
        assert_eq!(
            member(TEXT, "a"),
            Some(r#""x\"}""#),
            "the first of a duplicate"
        );
        assert_eq!(member(TEXT, "b"), Some(r#"[1,{"c":"]"},[]]"#));
        assert_eq!(member(TEXT, "k1"), Some("true"), "an escaped key");
        assert_eq!(member(TEXT, "n"), Some("-1.5e3"));
        assert_eq!(member(TEXT, "o"), Some("{}"));
        assert_eq!(member(TEXT, "missing"), None);
        let all = members(TEXT).unwrap();
        assert_eq!(all.len(), 6);
        for (k, text) in &all[1..5] {
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed, v[k.as_ref()], "{k}");
        }
        let els = elements(member(TEXT, "b").unwrap());
        assert_eq!(els, vec!["1", r#"{"c":"]"}"#, "[]"]);
        assert_eq!(string(r#""x\"}""#).as_deref(), Some("x\"}"));
        assert_eq!(string(r#""plain""#), Some(Cow::Borrowed("plain")));
    }

    #[test]
    fn text_that_is_not_well_formed_gives_nothing_and_never_hangs() {
        for bad in [
            "",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":\"x",
            "{\"a\":[1,2",
            "[",
            "[1,",
            "\"",
            "{\"a\":1,",
            "{\"a\" 1}",
            "{]",
            "{\"a\":}",
            "x",
        ] {
            let _ = member(bad, "a");
            let _ = members(bad);
            let _ = elements(bad);
            let _ = string(bad);
        }
        assert_eq!(member("{\"a\":", "a"), None);
        assert_eq!(member("{\"a\":\"x", "a"), None);
        assert_eq!(elements("[1,{"), vec!["1"]);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let dense = "\"#x\"]\\\"#\\\\01234567\"".repeat(5);
        for s in [
            "plain",
            "a\"b\\c",
            TEXT,
            "tab\there\u{1}",
            "é\u{7f}",
            &dense,
            "\"",
            "",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s}");
        }
        // Every position of a word, next to the bytes one off a quote or a backslash.
        let alphabet = ['"', '\\', '#', ']', '[', 'a', '\u{e9}'];
        for n in 0u64..20_000 {
            let (mut x, mut s) = (n, String::new());
            while x > 0 || s.len() < (n % 19) as usize {
                s.push(alphabet[(x % 7) as usize]);
                x /= 7;
            }
            let mut out = Vec::new();
            write_str(&mut out, &s);
            assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s}");
        }
    }
}
