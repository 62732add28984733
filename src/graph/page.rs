//! A page of a Graph collection, kept as the text Graph sent: each record is a span of it,
//! found in the one pass that reads the page, never copied or parsed into a tree here.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use crate::record::Record;

/// One page: its records and the link to the next; the last page of a delta round carries the
/// link of the next round instead (`@odata.deltaLink`).
#[derive(Debug)]
pub struct Page {
    pub records: Records,
    pub next_link: Option<Url>,
    pub delta_link: Option<Url>,
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

/// The page read in one pass by a validating scanner (`crate::jsontext`): each record's span
/// and members. `None` when a record is not an object or is empty, or when the page is not
/// well-formed JSON with one `value` array: the two-pass reading (`serde_json`) then handles it
/// and says what is wrong. Nothing this accepts is refused by `serde_json` (tested against it).
fn one_pass(text: &str) -> Option<(Records, Option<Value>)> {
    use crate::jsontext::{skip_ws as ws, unescape, valid_string_end, valid_value_end};
    let b = text.as_bytes();
    let mut records = Records::default();
    let mut next_link = None;
    let mut seen_value = false;
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        // An envelope member: `"key": value`.
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = valid_string_end(b, i)?;
        let key = unescape(text.get(i + 1..key_end - 1)?)?;
        i = ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = ws(b, i + 1);
        match key.as_ref() {
            "value" if !seen_value => {
                seen_value = true;
                i = records_of(text, i, &mut records)?;
            }
            "@odata.nextLink" if next_link.is_none() => {
                let end = valid_value_end(b, i, 1)?;
                next_link = Some(serde_json::from_str(text.get(i..end)?).ok()?);
                i = end;
            }
            // The end of a delta round: rare, read by the two-pass reader that keeps it.
            "value" | "@odata.nextLink" | "@odata.deltaLink" => return None,
            _ => i = valid_value_end(b, i, 1)?,
        }
        i = ws(b, i);
        match *b.get(i)? {
            b',' => i = ws(b, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    (seen_value && ws(b, i + 1) == b.len()).then_some((records, next_link))
}

/// Reads the `value` array that starts at `i`: each record's span and members. Returns the
/// index just past the array.
fn records_of(text: &str, mut i: usize, records: &mut Records) -> Option<usize> {
    use crate::jsontext::{skip_ws as ws, unescape, valid_string_end, valid_value_end};
    let b = text.as_bytes();
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        // A record: an object with at least one member.
        let start = i;
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = ws(b, i + 1);
        let from = records.all_members.len();
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = valid_string_end(b, i)?;
            let inner = text.get(i + 1..key_end - 1)?;
            let key = match unescape(inner)? {
                Cow::Borrowed(_) => Key::Span(i + 1..key_end - 1),
                Cow::Owned(k) => Key::Owned(k.into()),
            };
            i = ws(b, key_end);
            if b.get(i) != Some(&b':') {
                return None;
            }
            let value_start = ws(b, i + 1);
            let value_end = valid_value_end(b, value_start, 3)?;
            records.all_members.push((key, value_start..value_end));
            i = ws(b, value_end);
            match *b.get(i)? {
                b',' => i = ws(b, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
        records.spans.push(start..i + 1);
        records.members.push(from..records.all_members.len());
        i = ws(b, i + 1);
        match *b.get(i)? {
            b',' => i = ws(b, i + 1),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
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
        #[serde(rename = "@odata.deltaLink", default)]
        delta_link: Option<Value>,
    }
    let text = String::from_utf8(body).map_err(|_| "not JSON (invalid UTF-8)".to_string())?;
    if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_none() {
        if let Some((spans, next_link)) = one_pass(&text) {
            let next_link = next_link_of(next_link)?;
            let records = Records { text, ..spans };
            return Ok(Page {
                records,
                next_link,
                delta_link: None,
            });
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
    let delta_link = next_link_of(env.delta_link)?;
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
    Ok(Page {
        records,
        next_link,
        delta_link,
    })
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
    /// cannot read in one pass (a record that is not an object, an empty one) are read in two.
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
            (r#"{"value":[{"\u0069d":"a"}]}"#, true),
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

    /// The one-pass scanner validates as it goes: every page it accepts, `serde_json` accepts,
    /// with the same records. Pages mutated at every byte (deleted, or replaced by a byte that
    /// matters to JSON's grammar) must never be accepted when `serde_json` refuses them.
    #[test]
    fn the_one_pass_scanner_accepts_nothing_serde_json_refuses() {
        let bases = [
            r#"{"@odata.context":"c","value":[{"id":"a","n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"p":[1,{"q":"\u00e9\n"}],"e":{}},"k\"q":"x\\y"},{"id":"b","a":[]}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/x?$skiptoken=1"}"#,
            r#"{ "value" : [ { "id" : "a" , "s" : "0123456789abcdef\"x" } ] }"#,
            r#"{"value":[],"@odata.nextLink":null}"#,
        ];
        let replacements = [
            "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "-", "+", "e", ".", " ", "x", "u",
            "\u{1}", "t", "n",
        ];
        let mut accepted = 0;
        for base in bases {
            let check = |page: &str| -> bool {
                let Some((records, _)) = one_pass(page) else {
                    return false;
                };
                let v: Value = serde_json::from_str(page)
                    .unwrap_or_else(|e| panic!("accepted what serde_json refuses ({e}): {page}"));
                let values = v["value"].as_array().expect("a value array");
                assert_eq!(values.len(), records.spans.len(), "{page}");
                for (span, value) in records.spans.iter().zip(values) {
                    let text: Value = serde_json::from_str(&page[span.clone()]).unwrap();
                    assert_eq!(&text, value, "{page}");
                }
                true
            };
            assert!(
                check(base),
                "a well-formed page is read in one pass: {base}"
            );
            for at in 0..base.len() {
                if !base.is_char_boundary(at) {
                    continue;
                }
                let next = (at + 1..=base.len())
                    .find(|&j| base.is_char_boundary(j))
                    .unwrap();
                let mut pages = vec![format!("{}{}", &base[..at], &base[next..])];
                for r in replacements {
                    pages.push(format!("{}{r}{}", &base[..at], &base[next..]));
                    pages.push(format!("{}{r}{}", &base[..at], &base[at..]));
                }
                for page in &pages {
                    accepted += usize::from(check(page));
                }
            }
        }
        assert!(accepted > 0, "some mutations stay well-formed");
        // Deeper than serde_json reads: refused by both.
        let deep = format!(
            r#"{{"value":[{{"a":{}1{}}}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(one_pass(&deep).is_none());
        assert!(serde_json::from_str::<Value>(&deep).is_err());
    }
}
