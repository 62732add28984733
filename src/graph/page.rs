//! A page of a Graph collection, kept as the text Graph sent: each record is a span of it,
//! found in the one pass that reads the page, never copied or parsed into a tree here.

use std::ops::Range;

use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

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
}

impl Records {
    /// Each record's JSON text, in Graph's order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|r| &self.text[r.clone()])
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
    let next_link = match env.next_link {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(Url::parse(&s).map_err(|e| format!("`@odata.nextLink` is not a URL ({e})"))?)
        }
        Some(_) => return Err("`@odata.nextLink` is not a string".into()),
    };
    let base = text.as_ptr() as usize;
    let spans: Vec<Range<usize>> = raws
        .iter()
        .map(|r| {
            let start = r.get().as_ptr() as usize - base;
            start..start + r.get().len()
        })
        .collect();
    let records = if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_none() {
        Records { text, spans }
    } else {
        compacted(&text, &spans)
    };
    Ok(Page { records, next_link })
}

/// The records with the line breaks between their tokens removed.
fn compacted(text: &str, spans: &[Range<usize>]) -> Records {
    let mut out = Records {
        text: String::with_capacity(text.len()),
        spans: Vec::with_capacity(spans.len()),
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
