//! A page of a Graph collection, kept as the text Graph sent: each record is a span of it,
//! found in the one pass that reads the page, never copied or parsed into a tree here.

use std::borrow::Cow;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use crate::record::Record;

/// One page: its records and the link to the next.
#[derive(Debug)]
pub struct Page {
    pub records: Records,
    pub next_link: Option<Url>,
}

/// The records of a page: one text and each record's span in it. Every record is one line
/// of JSON (Graph answers compact JSON; a page with line breaks is compacted record by record).
#[derive(Debug, Default)]
pub struct Records {
    text: String,
    spans: Vec<Range<usize>>,
    /// Each record's top-level members, found in the same pass as the records (so a record is
    /// scanned once, not twice); empty when the page had to be read in two passes.
    members: Vec<Range<usize>>,
    all_members: Vec<(Key, Range<usize>)>,
}

/// A member's key: a span of the text, or the key unescaped when it held an escape.
#[derive(Debug)]
enum Key {
    Span(Range<usize>),
    Owned(Box<str>),
}

impl Records {
    /// Each record's JSON text, in Graph's order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|r| &self.text[r.clone()])
    }

    /// Each record, read in place.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.spans.iter().enumerate().map(|(i, span)| {
            let raw = &self.text[span.clone()];
            match self.members.get(i) {
                Some(range) => Record::from_members(
                    raw,
                    self.all_members[range.clone()]
                        .iter()
                        .map(|(k, v)| {
                            let key = match k {
                                Key::Span(r) => Cow::Borrowed(&self.text[r.clone()]),
                                // Owned: the key held an escape, and is escaped when written.
                                Key::Owned(k) => Cow::Owned(k.to_string()),
                            };
                            (key, &self.text[v.clone()])
                        })
                        .collect(),
                ),
                None => Record::new(raw),
            }
        })
    }

    pub fn first(&self) -> Option<&str> {
        self.iter().next()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// One record as the single pass sees it: its members, or `None` when it is not an object.
struct Parts<'a>(Option<Vec<(Cow<'a, str>, &'a str)>>);

impl<'de: 'a, 'a> Deserialize<'de> for Parts<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Parts<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a record")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                crate::record::Members
                    .visit_map(map)
                    .map(|m| Parts(Some(m)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Parts(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Parts(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Parts(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Parts(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Parts(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Parts(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Parts(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The page read in one pass: each record's span and members. `None` when a record is not an
/// object, is empty, or starts with a key that holds an escape (its span cannot be found
/// from its members), or when the page is not a well-formed collection: the two-pass reading
/// then handles it (and says what is wrong).
fn one_pass(text: &str) -> Option<(Records, Option<Value>)> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        value: Vec<Parts<'a>>,
        #[serde(rename = "@odata.nextLink", default)]
        next_link: Option<Value>,
    }
    let env: Envelope = serde_json::from_str(text).ok()?;
    let base = text.as_ptr() as usize;
    let offset = |s: &str| s.as_ptr() as usize - base;
    let bytes = text.as_bytes();
    let mut records = Records {
        spans: Vec::with_capacity(env.value.len()),
        members: Vec::with_capacity(env.value.len()),
        ..Records::default()
    };
    for Parts(members) in env.value {
        let members = members?;
        let (Cow::Borrowed(first), _) = members.first()? else {
            return None;
        };
        // `{`, whitespace, then the first key's opening quote.
        let mut start = offset(first).checked_sub(1)?;
        start = bytes[..start]
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())?;
        let last = members.last()?.1;
        let mut end = offset(last) + last.len();
        end += bytes[end..].iter().position(|b| !b.is_ascii_whitespace())?;
        if bytes[start] != b'{' || bytes[end] != b'}' {
            return None;
        }
        records.spans.push(start..end + 1);
        let from = records.all_members.len();
        for (k, v) in members {
            let key = match k {
                Cow::Borrowed(k) => Key::Span(offset(k)..offset(k) + k.len()),
                Cow::Owned(k) => Key::Owned(k.into()),
            };
            records
                .all_members
                .push((key, offset(v)..offset(v) + v.len()));
        }
        records.members.push(from..records.all_members.len());
    }
    Some((records, env.next_link))
}

/// A collection page: an object with a `value` array and maybe `@odata.nextLink`.
pub fn parse_page(body: Vec<u8>) -> Result<Page, String> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        /// Each record borrowed as its text, in the one pass over the page.
        #[serde(borrow, default)]
        value: Option<Vec<&'a RawValue>>,
        #[serde(rename = "@odata.nextLink", default)]
        next_link: Option<Value>,
    }
    let text = String::from_utf8(body).map_err(|_| "not JSON (invalid UTF-8)".to_string())?;
    if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_none() {
        if let Some((spans, next_link)) = one_pass(&text) {
            let next_link = next_link_of(next_link)?;
            let records = Records { text, ..spans };
            return Ok(Page { records, next_link });
        }
    }
    let first = text.bytes().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| b != b'{') && serde_json::from_str::<Value>(&text).is_ok() {
        return Err("the body is not a JSON object".into());
    }
    let env: Envelope = serde_json::from_str(&text).map_err(|e| {
        if e.is_data() && e.to_string().contains("expected a sequence") {
            "`value` is not an array".to_string()
        } else {
            format!("not JSON ({e})")
        }
    })?;
    let Some(raws) = env.value else {
        return Err("the body has no `value` array".into());
    };
    let next_link = next_link_of(env.next_link)?;
    let base = text.as_ptr() as usize;
    let spans: Vec<Range<usize>> = raws
        .iter()
        .map(|r| {
            let start = r.get().as_ptr() as usize - base;
            start..start + r.get().len()
        })
        .collect();
    let records = if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_none() {
        Records {
            text,
            spans,
            ..Records::default()
        }
    } else {
        compacted(&text, &spans)
    };
    Ok(Page { records, next_link })
}

fn next_link_of(v: Option<Value>) -> Result<Option<Url>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Url::parse(&s)
            .map(Some)
            .map_err(|e| format!("`@odata.nextLink` is not a URL ({e})")),
        Some(_) => Err("`@odata.nextLink` is not a string".into()),
    }
}

/// The records with the line breaks between their tokens removed.
fn compacted(text: &str, spans: &[Range<usize>]) -> Records {
    let mut out = Records {
        text: String::with_capacity(text.len()),
        spans: Vec::with_capacity(spans.len()),
        ..Records::default()
    };
    for span in spans {
        let start = out.text.len();
        out.text
            .push_str(&crate::record::one_line(&text[span.clone()]));
        out.spans.push(start..out.text.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_signin_fixture_page() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/graph-fixtures/signIn.json"
        ))
        .unwrap();
        let page = parse_page(body).unwrap();
        assert_eq!(page.records.len(), 1);
        // The fixture is pretty-printed: its record is one line here.
        let record = page.records.first().unwrap();
        assert!(!record.contains('\n'));
        let v: Value = serde_json::from_str(record).unwrap();
        assert_eq!(v["id"], "66ea54eb-6301-4ee5-be62-ff5a759b0100");
        assert!(page.next_link.unwrap().as_str().contains("$skiptoken="));
    }

    #[test]
    fn records_are_spans_of_the_body() {
        let page =
            parse_page(br#"{"value":[{"id":"a"}, {"id":"b","x":[1,2]} ,"s",null]}"#.to_vec())
                .unwrap();
        let texts: Vec<&str> = page.records.iter().collect();
        assert_eq!(
            texts,
            [r#"{"id":"a"}"#, r#"{"id":"b","x":[1,2]}"#, r#""s""#, "null"]
        );
        assert!(page.next_link.is_none());
    }

    /// What the one pass found is what reading each record on its own finds, and the pages it
    /// cannot read in one pass (a record that is not an object, an empty one, a first key with
    /// an escape) are read in two.
    #[test]
    fn the_one_pass_reads_what_the_record_alone_reads() {
        for (body, one_pass) in [
            (
                r#"{"value":[ {"id":"a","n":{"x":[1,"}"]}} , { "id" : "b" }],"@odata.nextLink":"https://graph.microsoft.com/v1.0/x?$skiptoken=1"}"#,
                true,
            ),
            (
                r#"{"@odata.context":"c","value":[{"id":"a","k\"q":1},{"id":"b"}]}"#,
                true,
            ),
            (r#"{"value":[{"\u0069d":"a"}]}"#, false),
            (r#"{"value":[{"id":"a"},{}]}"#, false),
            (r#"{"value":[{"id":"a"},"text",null]}"#, false),
        ] {
            let page = parse_page(body.as_bytes().to_vec()).unwrap();
            assert_eq!(!page.records.members.is_empty(), one_pass, "{body}");
            let texts: Vec<&str> = page.records.iter().collect();
            for (record, text) in page.records.records().zip(&texts) {
                let alone = Record::new(text);
                assert_eq!(record.raw(), *text);
                assert_eq!(
                    record.members().collect::<Vec<_>>(),
                    alone.members().collect::<Vec<_>>(),
                    "{body}"
                );
                assert!(serde_json::from_str::<Value>(text).is_ok());
            }
            assert_eq!(texts.len(), page.records.len());
        }
    }

    #[test]
    fn malformed_pages_say_why() {
        let err = |b: &[u8]| parse_page(b.to_vec()).unwrap_err();
        assert!(err(b"{\"value\": [").contains("not JSON"));
        assert!(err(b"{\"value\": {}}").contains("not an array"));
        assert!(err(b"{}").contains("no `value` array"));
        assert!(err(b"[]").contains("not a JSON object"));
        assert!(err(b"{\"value\": [], \"@odata.nextLink\": 3}").contains("not a string"));
        assert!(err(b"\xff\xfe").contains("not JSON"));
    }
}
