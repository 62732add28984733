//! The subset of OData `$filter` Graph accepts on the log and identity-protection resources:
//! comparisons (`eq ne gt ge lt le`), `startswith(f,'x')`, `and`, `or`, `not`, parentheses and
//! lambda `any` (`signInEventTypes/any(t: t eq 'x')`). Each resource then says which field and
//! operator pairs it supports; everything else gets Graph's 400.

use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Time(DateTime<Utc>),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    StartsWith,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::StartsWith => "startswith",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        path: String,
        op: Op,
        lit: Literal,
    },
    /// `path/any(var: body)`; inside `body` the variable's paths start with `var`.
    Any {
        path: String,
        var: String,
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Time(DateTime<Utc>),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                // An enum-typed literal such as microsoft.graph.riskLevel'medium' is a string.
                if let Some(Tok::Ident(prev)) = out.last() {
                    if prev.contains('.') {
                        out.pop();
                    }
                }
                out.push(Tok::Str(v));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || ":.-+".contains(chars[i]))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if text.contains('T') {
                    let t = DateTime::parse_from_rfc3339(&text)
                        .map_err(|_| format!("'{text}' is not a valid DateTimeOffset"))?;
                    out.push(Tok::Time(t.with_timezone(&Utc)));
                } else {
                    out.push(Tok::Num(
                        text.parse()
                            .map_err(|_| format!("'{text}' is not a number"))?,
                    ));
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_/.$".contains(chars[i])) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            got => Err(format!("expected {t:?}, found {got:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Ident(name)) if name.eq_ignore_ascii_case("startswith") => {
                self.expect(Tok::LParen)?;
                let Some(Tok::Ident(path)) = self.next() else {
                    return Err("startswith needs a property".into());
                };
                self.expect(Tok::Comma)?;
                let lit = self.literal()?;
                self.expect(Tok::RParen)?;
                Ok(Expr::Cmp {
                    path,
                    op: Op::StartsWith,
                    lit,
                })
            }
            Some(Tok::Ident(path))
                if path.ends_with("/any") && self.peek() == Some(&Tok::LParen) =>
            {
                self.pos += 1;
                let Some(Tok::Ident(var)) = self.next() else {
                    return Err("any() needs a lambda variable".into());
                };
                self.expect(Tok::Colon)?;
                let body = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(Expr::Any {
                    path: path.trim_end_matches("/any").to_string(),
                    var,
                    body: Box::new(body),
                })
            }
            Some(Tok::Ident(path)) => {
                let op = match self.next() {
                    Some(Tok::Ident(op)) => match op.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        other => return Err(format!("unknown operator '{other}'")),
                    },
                    other => {
                        return Err(format!(
                            "expected an operator after '{path}', found {other:?}"
                        ))
                    }
                };
                let lit = self.literal()?;
                Ok(Expr::Cmp { path, op, lit })
            }
            other => Err(format!("unexpected token {other:?}")),
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Literal::Str(s)),
            Some(Tok::Num(n)) => Ok(Literal::Num(n)),
            Some(Tok::Time(t)) => Ok(Literal::Time(t)),
            Some(Tok::Ident(s)) if s == "true" => Ok(Literal::Bool(true)),
            Some(Tok::Ident(s)) if s == "false" => Ok(Literal::Bool(false)),
            Some(Tok::Ident(s)) if s == "null" => Ok(Literal::Null),
            other => Err(format!("expected a literal, found {other:?}")),
        }
    }
}

/// Parses a `$filter` expression.
pub fn parse(filter: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(filter)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected trailing {:?}", p.peek()));
    }
    Ok(e)
}

/// Every (property path, operator) the expression uses, `any` bodies as `path/any:op`, and
/// whether it uses `or` / `not`.
pub fn usage(e: &Expr, out: &mut Vec<(String, Op)>, or_used: &mut bool) {
    match e {
        Expr::And(a, b) => {
            usage(a, out, or_used);
            usage(b, out, or_used);
        }
        Expr::Or(a, b) => {
            *or_used = true;
            usage(a, out, or_used);
            usage(b, out, or_used);
        }
        Expr::Not(a) => {
            *or_used = true;
            usage(a, out, or_used);
        }
        Expr::Cmp { path, op, .. } => out.push((path.clone(), *op)),
        Expr::Any { path, body, .. } => {
            let mut inner = Vec::new();
            usage(body, &mut inner, or_used);
            for (_, op) in inner {
                out.push((format!("{path}/any"), op));
            }
        }
    }
}

fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('/') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn compare(v: Option<&Value>, op: Op, lit: &Literal, case_sensitive: bool) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, lit) {
        (None | Some(Value::Null), Literal::Null) => Some(Ordering::Equal),
        (None | Some(Value::Null), _) => None,
        (Some(Value::String(s)), Literal::Time(t)) => crate::graph::parse_time(s).map(|x| x.cmp(t)),
        (Some(Value::String(s)), Literal::Str(l)) if case_sensitive => {
            if op == Op::StartsWith {
                return s.starts_with(l.as_str());
            }
            Some(s.as_str().cmp(l.as_str()))
        }
        (Some(Value::String(s)), Literal::Str(l)) => {
            if op == Op::StartsWith {
                return s.to_lowercase().starts_with(&l.to_lowercase());
            }
            Some(s.to_lowercase().cmp(&l.to_lowercase()))
        }
        (Some(Value::Number(n)), Literal::Num(l)) => n.as_f64().and_then(|x| x.partial_cmp(l)),
        (Some(Value::Bool(b)), Literal::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    };
    match (op, ord) {
        (Op::Ne, None) => true,
        (_, None) => false,
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::StartsWith, Some(_)) => false,
    }
}

/// Whether `record` satisfies `e`, strings compared case-insensitively (Graph's log and
/// identity-protection resources).
pub fn eval(e: &Expr, record: &Value) -> bool {
    eval_with(e, record, false)
}

/// [`eval`], with case-sensitive string comparisons where the resource says so (provisioning).
pub fn eval_with(e: &Expr, record: &Value, case_sensitive: bool) -> bool {
    let eval = |e: &Expr, r: &Value| eval_with(e, r, case_sensitive);
    match e {
        Expr::And(a, b) => eval(a, record) && eval(b, record),
        Expr::Or(a, b) => eval(a, record) || eval(b, record),
        Expr::Not(a) => !eval(a, record),
        Expr::Cmp { path, op, lit } => compare(value_at(record, path), *op, lit, case_sensitive),
        Expr::Any { path, var, body } => value_at(record, path)
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items.iter().any(|item| {
                    let scoped = serde_json::json!({ var.as_str(): item });
                    eval(body, &scoped)
                })
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_window_and_lambda() {
        let e = parse("createdDateTime ge 2026-01-01T00:00:00Z and createdDateTime le 2026-01-02T00:00:00Z and signInEventTypes/any(t: t eq 'nonInteractiveUser')").unwrap();
        let r = json!({"createdDateTime": "2026-01-01T12:00:00Z", "signInEventTypes": ["nonInteractiveUser"]});
        assert!(eval(&e, &r));
        let r2 = json!({"createdDateTime": "2026-01-01T12:00:00Z", "signInEventTypes": ["interactiveUser"]});
        assert!(!eval(&e, &r2));
        let mut used = Vec::new();
        let mut or_used = false;
        usage(&e, &mut used, &mut or_used);
        assert!(used.contains(&("signInEventTypes/any".into(), Op::Eq)));
        assert!(!or_used);
    }

    #[test]
    fn typed_enum_literal_and_or() {
        let e = parse("riskLevel eq microsoft.graph.riskLevel'medium' or riskState eq 'atRisk'")
            .unwrap();
        assert!(eval(&e, &json!({"riskLevel": "medium"})));
        assert!(eval(&e, &json!({"riskState": "atRisk"})));
        assert!(!eval(&e, &json!({"riskLevel": "low"})));
    }

    #[test]
    fn provisioning_compares_strings_case_sensitively() {
        let e = parse("provisioningAction eq 'create'").unwrap();
        assert!(eval_with(
            &e,
            &json!({"provisioningAction": "create"}),
            true
        ));
        assert!(!eval_with(
            &e,
            &json!({"provisioningAction": "Create"}),
            true
        ));
        assert!(eval(&e, &json!({"provisioningAction": "Create"})));
    }

    #[test]
    fn startswith_and_errors() {
        let e = parse("startswith(appDisplayName,'Graph')").unwrap();
        assert!(eval(&e, &json!({"appDisplayName": "Graph explorer"})));
        assert!(parse("activityDateTime ge").is_err());
        assert!(parse("activityDateTime foo 1").is_err());
        assert!(parse("a eq 'x").is_err());
    }
}
