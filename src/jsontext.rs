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
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[j] == b'\\' {
            j += 2;
        } else {
            return Some(j + 1);
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
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
    if written.contains('\\') {
        unescape(written).is_some_and(|k| k == key)
    } else {
        written == key
    }
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

/// The text between a string's quotes, unescaped.
fn unescape(inner: &str) -> Option<Cow<'_, str>> {
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    let mut quoted = String::with_capacity(inner.len() + 2);
    quoted.push('"');
    quoted.push_str(inner);
    quoted.push('"');
    serde_json::from_str::<String>(&quoted).ok().map(Cow::Owned)
}

/// Whether a byte must be escaped in a JSON string.
fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// A JSON string literal holding `s`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !b.iter().any(|&c| needs_escape(c)) {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    if b.iter().any(|&c| c < 0x20) {
        // Control characters: serde_json's escaper writes them as JSON spells them.
        let _ = serde_json::to_writer(&mut *out, s);
        return;
    }
    // Quotes and backslashes only (JSON text itself, as ECS `event.original` holds it).
    out.reserve(b.len() + b.len() / 8 + 2);
    out.push(b'"');
    let mut from = 0;
    while let Some(at) = memchr::memchr2(b'"', b'\\', &b[from..]) {
        out.extend_from_slice(&b[from..from + at]);
        out.push(b'\\');
        out.push(b[from + at]);
        from += at + 1;
    }
    out.extend_from_slice(&b[from..]);
    out.push(b'"');
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
        for s in ["plain", "a\"b\\c", TEXT, "tab\there\u{1}", "é\u{7f}"] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s}");
        }
    }
}
