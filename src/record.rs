//! A Graph record read in place: its top-level members as slices of the JSON text Graph sent,
//! nested values looked up on demand, nothing parsed into a tree unless a caller asks for one.
//!
//! Why: the native event carries the record three times (its Log Analytics columns, its
//! top-level keys, `properties`), and building that from `serde_json::Value` trees cost most of
//! a record's CPU (allocations, map hashing, re-escaping every string). Columns and copies are
//! now byte copies of the record's own text.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// One record: its JSON text (one line: [`crate::graph::Records`]) and, for an object, its
/// top-level members in order.
pub struct Record<'a> {
    raw: &'a str,
    members: Vec<(Cow<'a, str>, &'a str)>,
    /// Open-addressing index of the members by key (slot = member index + 1, 0 = empty): a full
    /// event looks up some seventy columns, and a linear search over forty members per lookup
    /// was a tenth of a sign-in's CPU. Empty when the record has more members than it holds.
    index: Box<[u8]>,
    /// The members of nested objects already looked into (by the address of their text): an
    /// event reads `initiatedBy/user/…` or `status/…` several times, and each lookup scanned
    /// the object again.
    /// Offsets (into the record's text) so that the record stays covariant in `'a`.
    nested: RefCell<Vec<(usize, Vec<MemberSpan>)>>,
}

use crate::jsontext::MemberSpan;

/// One top-level member.
#[derive(Debug, PartialEq)]
pub struct Member<'r, 'a> {
    /// The key, unescaped.
    pub key: &'r str,
    /// Whether the key held an escape in the record's text (it is escaped again when written).
    pub escaped: bool,
    /// The value's JSON text.
    pub value: &'a str,
}

const INDEX_SLOTS: usize = 256;

/// The index slot of a key: from its length and three of its bytes, mixed by one multiply
/// (Graph's keys differ in length or at those bytes; the rare collision costs a probe). A
/// hash over every byte was most of a lookup.
fn key_hash(k: &str) -> usize {
    let b = k.as_bytes();
    let at = |i: usize| u32::from(b.get(i).copied().unwrap_or(0));
    let n = b.len();
    let h = (n as u32) ^ (at(0) << 8) ^ (at(n / 2) << 16) ^ (at(n.wrapping_sub(1)) << 24);
    (h.wrapping_mul(0x9e37_79b1) >> 24) as usize
}

fn build_index(members: &[(Cow<'_, str>, &str)]) -> Box<[u8]> {
    if members.len() > INDEX_SLOTS / 2 {
        return Box::default();
    }
    let mut index = vec![0u8; INDEX_SLOTS].into_boxed_slice();
    for (i, (k, _)) in members.iter().enumerate() {
        let mut slot = key_hash(k) % INDEX_SLOTS;
        loop {
            match index[slot] {
                0 => {
                    index[slot] = (i + 1) as u8;
                    break;
                }
                // A duplicated key keeps its first member.
                j if members[usize::from(j) - 1].0 == *k => break,
                _ => slot = (slot + 1) % INDEX_SLOTS,
            }
        }
    }
    index
}

impl<'a> Record<'a> {
    /// Reads the members of `raw` (no members when it is not an object).
    pub fn new(raw: &'a str) -> Record<'a> {
        let members = if raw.starts_with('{') {
            members(raw).unwrap_or_default()
        } else {
            Vec::new()
        };
        Record::from_members(raw, members)
    }

    /// A small nested object (an audit target) read in place: no index, its few members are
    /// looked up in order.
    pub fn nested(raw: &'a str) -> Record<'a> {
        let members = crate::jsontext::members(raw).unwrap_or_default();
        Record {
            raw,
            members,
            index: Box::default(),
            nested: RefCell::default(),
        }
    }

    /// A record whose members were found while its page was read.
    pub fn from_members(raw: &'a str, members: Vec<(Cow<'a, str>, &'a str)>) -> Record<'a> {
        let index = build_index(&members);
        Record {
            raw,
            members,
            index,
            nested: RefCell::default(),
        }
    }

    /// The record's JSON text, as Graph sent it.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// How many top-level members it has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Top-level members in the record's order (a duplicated key appears twice).
    pub fn members(&self) -> impl Iterator<Item = Member<'_, 'a>> + '_ {
        self.members.iter().map(|(k, value)| Member {
            key: k,
            escaped: matches!(k, Cow::Owned(_)),
            value,
        })
    }

    /// The top-level member `key` (the first, if duplicated).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        if !self.index.is_empty() {
            let mut slot = key_hash(key) % INDEX_SLOTS;
            loop {
                match self.index[slot] {
                    0 => return None,
                    j => {
                        let (k, v) = &self.members[usize::from(j) - 1];
                        if k == key {
                            return Some(*v);
                        }
                    }
                }
                slot = (slot + 1) % INDEX_SLOTS;
            }
        }
        let first = key.as_bytes().first();
        self.members
            .iter()
            .find(|(k, _)| k.len() == key.len() && k.as_bytes().first() == first && k == key)
            .map(|(_, v)| *v)
    }

    /// The value at a `/`-separated path, as its JSON text (`null` included).
    pub fn at(&self, path: &str) -> Option<&'a str> {
        // Most paths are one key: no splitter for them.
        let Some(slash) = path.bytes().position(|b| b == b'/') else {
            return self.get(path);
        };
        let mut cur = self.get(&path[..slash])?;
        for part in path[slash + 1..].split('/') {
            cur = self.member_of(cur, part)?;
        }
        Some(cur)
    }

    /// The member `key` of a nested object's text, its members read once per record.
    fn member_of(&self, obj: &'a str, key: &str) -> Option<&'a str> {
        let (base, at) = (self.raw.as_ptr() as usize, obj.as_ptr() as usize);
        if !obj.starts_with('{') || at < base || at + obj.len() > base + self.raw.len() {
            return member(obj, key);
        }
        let mut nested = self.nested.borrow_mut();
        let i = match nested.iter().position(|(p, _)| *p == at - base) {
            Some(i) => i,
            None => {
                nested.push((at - base, crate::jsontext::member_spans(obj)));
                nested.len() - 1
            }
        };
        nested[i].1.iter().find_map(|m| m.get(obj, key))
    }

    /// A non-empty string at a `/`-separated path.
    pub fn str(&self, path: &str) -> Option<Cow<'a, str>> {
        string(self.at(path)?).filter(|s| !s.is_empty())
    }

    /// The value at a path, parsed (for the few places that need a tree).
    pub fn value(&self, path: &str) -> Option<Value> {
        serde_json::from_str(self.at(path)?).ok()
    }

    /// The whole record, parsed.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.raw).unwrap_or(Value::Null)
    }

    /// A number at a path (integer, or an integer written as a string).
    pub fn int(&self, path: &str) -> Option<i64> {
        let raw = self.at(path)?;
        match raw.as_bytes().first() {
            Some(b'"') => string(raw)?.trim().parse().ok(),
            _ => serde_json::from_str::<i64>(raw).ok(),
        }
    }
}

pub use crate::jsontext::{elements, member, string};

fn members(raw: &str) -> Option<Vec<(Cow<'_, str>, &str)>> {
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(Members).ok()
}

struct CowStr;

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

/// Collects an object's members, each value as its JSON text.
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(Cow<'de, str>, &'de str)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(48));
        while let Some(k) = map.next_key_seed(CowStr)? {
            let v: &'de RawValue = map.next_value()?;
            out.push((k, v.get()));
        }
        Ok(out)
    }
}

/// The record's text as one line: Graph answers compact JSON, but a record that holds line
/// breaks between its tokens is compacted so that an event stays one line.
pub fn one_line(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'\n' || b == b'\r') {
        return Cow::Borrowed(s);
    }
    // Inside strings a line break is always escaped, so every raw one is whitespace.
    let mut out = String::with_capacity(s.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Runs `f` on `v` read as a [`Record`] (unit tests write records as `json!`).
#[cfg(test)]
pub(crate) fn with<T>(v: &Value, f: impl FnOnce(&Record<'_>) -> T) -> T {
    let raw = RawValue::from_string(v.to_string()).expect("a Value is JSON");
    f(&Record::new(raw.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn reads_members_paths_and_escaped_strings() {
        let r = raw(
            r#"{"id":"a\"b","n":12,"s":"7","o":{"p":{"q":"deep"},"e":""},"id":"dup","x":null}"#,
        );
        let rec = Record::new(r.get());
        assert_eq!(rec.str("id").as_deref(), Some("a\"b"));
        assert_eq!(rec.len(), 6);
        assert_eq!(rec.str("o/p/q").as_deref(), Some("deep"));
        assert_eq!(rec.str("o/e"), None);
        assert_eq!(rec.at("o/p"), Some(r#"{"q":"deep"}"#));
        assert_eq!(rec.int("n"), Some(12));
        assert_eq!(rec.int("s"), Some(7));
        assert_eq!(rec.at("x"), Some("null"));
        assert!(rec.at("o/missing").is_none());
        assert!(rec.at("n/deeper").is_none());
        // Nested objects are read once and looked up again from what was read.
        let r = raw(r#"{"u":{"a":1,"k\u0031":{"b":"x"},"a":2},"v":{"a":3}}"#);
        let rec = Record::new(r.get());
        for _ in 0..2 {
            assert_eq!(rec.at("u/a"), Some("1"), "the first of a duplicate");
            assert_eq!(rec.at("u/k1/b"), Some(r#""x""#), "an escaped key");
            assert_eq!(rec.at("v/a"), Some("3"));
            assert_eq!(rec.at("u/none"), None);
        }
        assert_eq!(rec.nested.borrow().len(), 3);
    }

    /// The member index and the linear search it replaces find the same member, for a record
    /// small enough to be indexed and one too large (read linearly).
    #[test]
    fn the_member_index_finds_what_a_linear_search_finds() {
        for n in [3usize, 40, 200] {
            let mut text = String::from("{");
            for i in 0..n {
                text.push_str(&format!("\"k{i}\":{i},"));
            }
            text.push_str("\"k1\":\"dup\"}");
            let rec = Record::new(&text);
            for i in 0..n {
                assert_eq!(
                    rec.get(&format!("k{i}")),
                    Some(i.to_string().as_str()),
                    "{n}"
                );
            }
            assert_eq!(rec.get("k1"), Some("1"), "the first of a duplicated key");
            assert_eq!(rec.get("absent"), None);
            assert_eq!(rec.index.is_empty(), n > INDEX_SLOTS / 2);
        }
    }

    #[test]
    fn a_record_that_is_not_an_object_has_no_members() {
        for s in [r#""text""#, "[1,2]", "3", "null"] {
            let r = raw(s);
            let rec = Record::new(r.get());
            assert!(rec.is_empty());
            assert!(rec.get("id").is_none());
        }
    }

    #[test]
    fn a_record_with_line_breaks_becomes_one_line() {
        let r = raw("{\n  \"a\": \"x\\ny \",\r\n  \"b\": [1, 2]\n}");
        let line = one_line(r.get());
        assert_eq!(line, r#"{"a":"x\ny ","b":[1,2]}"#);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["a"], "x\ny ");
    }
}
