//! A JSON writer for the ECS and OCSF mappers: members in the order they are written, absent
//! values left out, a nested object or array left out when nothing was written into it where the
//! mapping says so. The mappers write straight into the output line; a tree per event
//! (`serde_json::Value` with its maps and allocations) cost most of their CPU.

use crate::event::write_str;

/// An object being written: `{` is written when it starts, `}` when it ends.
pub struct Obj<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    pub fn start(out: &'o mut Vec<u8>) -> Obj<'o> {
        out.push(b'{');
        Obj { out, empty: true }
    }

    pub fn end(self) {
        self.out.push(b'}');
    }

    /// Whether no member has been written.
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// `"key":` (the keys are this crate's own names: no escaping), after a comma if needed.
    fn key(&mut self, k: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        write_str(self.out, v);
        self
    }

    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.str(k, v);
        }
        self
    }

    pub fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self
    }

    pub fn opt_int(&mut self, k: &str, v: Option<i64>) -> &mut Self {
        if let Some(v) = v {
            self.int(k, v);
        }
        self
    }

    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// A number written as a JSON float (as `serde_json` writes an `f64`).
    pub fn float(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        // Writing an f64 into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, &v);
        self
    }

    /// JSON text, verbatim.
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    /// JSON text with every object key in snake_case (`deviceDetail` → `device_detail`).
    pub fn snake(&mut self, k: &str, json: Option<&str>) -> &mut Self {
        if let Some(json) = json {
            self.key(k);
            write_snake_keys(self.out, json);
        }
        self
    }

    /// A nested object, written even when nothing is written into it.
    pub fn obj(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.key(k);
        let mut child = Obj::start(self.out);
        f(&mut child);
        child.end();
        self
    }

    /// A nested object, left out when nothing is written into it.
    pub fn obj_if_any(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        let (mark, was_empty) = (self.out.len(), self.empty);
        self.key(k);
        let mut child = Obj::start(self.out);
        f(&mut child);
        if child.empty {
            self.out.truncate(mark);
            self.empty = was_empty;
        } else {
            child.end();
        }
        self
    }

    /// An array holding one object, left out when nothing is written into the object.
    pub fn one_obj_if_any(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        let (mark, was_empty) = (self.out.len(), self.empty);
        self.key(k);
        self.out.push(b'[');
        let mut child = Obj::start(self.out);
        f(&mut child);
        if child.empty {
            self.out.truncate(mark);
            self.empty = was_empty;
        } else {
            child.end();
            self.out.push(b']');
        }
        self
    }

    /// An array of strings (written even when empty).
    pub fn strs(&mut self, k: &str, items: &[&str]) -> &mut Self {
        self.key(k);
        self.out.push(b'[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, s);
        }
        self.out.push(b']');
        self
    }

    /// An array of strings, left out when empty.
    pub fn strs_if_any(&mut self, k: &str, items: &[&str]) -> &mut Self {
        if !items.is_empty() {
            self.strs(k, items);
        }
        self
    }

    /// An array of objects, each written by `f` (written even when empty).
    pub fn objs<T>(
        &mut self,
        k: &str,
        items: &[T],
        mut f: impl FnMut(&mut Obj<'_>, &T),
    ) -> &mut Self {
        self.key(k);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let mut child = Obj::start(self.out);
            f(&mut child, item);
            child.end();
        }
        self.out.push(b']');
        self
    }
}

/// Copies JSON text with every object key rewritten in snake_case, the values as they are.
pub fn write_snake_keys(out: &mut Vec<u8>, json: &str) {
    let b = json.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(b.len());
        i = end;
        let mut next = i;
        while next < b.len() && b[next].is_ascii_whitespace() {
            next += 1;
        }
        if b.get(next) != Some(&b':') || end - start < 2 {
            out.extend_from_slice(&b[start..end]);
            continue;
        }
        // A key: its bytes between the quotes, an underscore before each capital but the first.
        out.push(b'"');
        for (j, &c) in b[start + 1..end - 1].iter().enumerate() {
            if c.is_ascii_uppercase() {
                if j > 0 {
                    out.push(b'_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Obj<'_>)) -> String {
        let mut out = Vec::new();
        let mut o = Obj::start(&mut out);
        f(&mut o);
        o.end();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_empty_nested_object_is_left_out_and_leaves_no_comma() {
        let s = written(|o| {
            o.str("a", "x");
            o.obj_if_any("b", |b| {
                b.opt_str("c", None);
            });
            o.one_obj_if_any("d", |_| {});
            o.obj_if_any("e", |e| {
                e.int("f", -3);
            });
        });
        assert_eq!(s, r#"{"a":"x","e":{"f":-3}}"#);
        assert_eq!(
            written(|o| {
                o.obj_if_any("b", |_| {});
            }),
            "{}"
        );
    }

    #[test]
    fn keys_become_snake_case_and_values_stay_as_they_are() {
        let mut out = Vec::new();
        write_snake_keys(
            &mut out,
            r#"{"deviceId":"AbC","isCompliant":true,"x":[{"operatingSystem":"Windows 10","k\"Q":"a:b"}],"Id":1}"#,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"device_id":"AbC","is_compliant":true,"x":[{"operating_system":"Windows 10","k\"_q":"a:b"}],"id":1}"#
        );
        // Truncated text is copied, not read past its end.
        let mut out = Vec::new();
        write_snake_keys(&mut out, r#"{"aB":"c\"#);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a_b":"c\"#);
    }
}
