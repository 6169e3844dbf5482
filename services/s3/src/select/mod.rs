//! `SelectObjectContent` (S3 Select): an SQL expression ([`sql`]) run over a CSV or JSON object, the
//! matching records written as CSV or JSON and answered as an AWS event stream (`Records` messages, then
//! `Stats` and `End`), as S3 answers it. Uncompressed input only (`GZIP`/`BZIP2` answer
//! `NotImplemented`); the object is read whole (S3 Select serves objects of any size by scanning in
//! ranges; Skyport keeps the object in memory while it scans).

pub mod sql;

use bytes::{BufMut, Bytes, BytesMut};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use skyport_core::Body;

use crate::S3;
use crate::error::{S3Error, S3Result};
use crate::wire::{self, S3Request, XmlNode};
use sql::{Expr, Query, SqlError, Step};

/// How records are read.
#[derive(Debug, Clone)]
enum Input {
    Csv {
        header: &'static str,
        field: char,
        record: char,
        quote: char,
        comments: Option<char>,
    },
    Json {
        lines: bool,
    },
}

/// How records are written.
#[derive(Debug, Clone)]
enum Output {
    Csv {
        field: String,
        record: String,
        quote: char,
        always: bool,
    },
    Json {
        record: String,
    },
}

/// One input record: CSV fields with the header's names, or a JSON value.
enum Record {
    Csv(Vec<String>),
    Json(Value),
}

fn select_error(code: &'static str, message: impl Into<String>) -> S3Error {
    S3Error::Select {
        code,
        message: message.into(),
    }
}

impl From<SqlError> for S3Error {
    fn from(e: SqlError) -> S3Error {
        select_error(e.code, e.message)
    }
}

fn one_char(node: Option<&XmlNode>, name: &str, default: char) -> char {
    node.and_then(|n| n.text_of(name))
        .and_then(|t| t.chars().next())
        .unwrap_or(default)
}

fn parse_input(node: &XmlNode) -> S3Result<Input> {
    match node.text_of("CompressionType").unwrap_or("NONE") {
        "NONE" => {}
        "GZIP" | "BZIP2" => {
            return Err(S3Error::NotImplemented {
                message: "S3 Select over compressed objects is not implemented".into(),
            });
        }
        _ => {
            return Err(select_error(
                "InvalidCompressionFormat",
                "The file is not in a supported compression format. Only GZIP and BZIP2 are supported.",
            ));
        }
    }
    if let Some(csv) = node.child("CSV") {
        let header = match csv.text_of("FileHeaderInfo").unwrap_or("NONE") {
            "USE" => "USE",
            "IGNORE" => "IGNORE",
            "NONE" => "NONE",
            _ => {
                return Err(select_error(
                    "InvalidFileHeaderInfo",
                    "The FileHeaderInfo is invalid. Only NONE, USE, and IGNORE are supported.",
                ));
            }
        };
        return Ok(Input::Csv {
            header,
            field: one_char(Some(csv), "FieldDelimiter", ','),
            record: one_char(Some(csv), "RecordDelimiter", '\n'),
            quote: one_char(Some(csv), "QuoteCharacter", '"'),
            comments: csv.text_of("Comments").and_then(|c| c.chars().next()),
        });
    }
    if let Some(json) = node.child("JSON") {
        return match json.text_of("Type").unwrap_or("DOCUMENT") {
            "LINES" => Ok(Input::Json { lines: true }),
            "DOCUMENT" => Ok(Input::Json { lines: false }),
            _ => Err(select_error(
                "InvalidJsonType",
                "The JsonType is invalid. Only DOCUMENT and LINES are supported.",
            )),
        };
    }
    if node.child("Parquet").is_some() {
        return Err(S3Error::NotImplemented {
            message: "S3 Select over Parquet objects is not implemented".into(),
        });
    }
    Err(select_error(
        "MissingRequiredParameter",
        "The request is missing a required parameter: InputSerialization format.",
    ))
}

fn parse_output(node: &XmlNode) -> S3Result<Output> {
    if let Some(csv) = node.child("CSV") {
        return Ok(Output::Csv {
            field: csv.text_of("FieldDelimiter").unwrap_or(",").to_owned(),
            record: csv.text_of("RecordDelimiter").unwrap_or("\n").to_owned(),
            quote: one_char(Some(csv), "QuoteCharacter", '"'),
            always: csv.text_of("QuoteFields") == Some("ALWAYS"),
        });
    }
    if let Some(json) = node.child("JSON") {
        return Ok(Output::Json {
            record: json.text_of("RecordDelimiter").unwrap_or("\n").to_owned(),
        });
    }
    Err(select_error(
        "MissingRequiredParameter",
        "The request is missing a required parameter: OutputSerialization format.",
    ))
}

/// Splits CSV text into records of fields (quotes doubled inside quoted fields).
fn csv_records(text: &str, field: char, record: char, quote: char) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut row = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            if c == quote {
                if chars.peek() == Some(&quote) {
                    cur.push(quote);
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == quote {
            quoted = true;
        } else if c == field {
            row.push(std::mem::take(&mut cur));
        } else if c == record || (record == '\n' && c == '\r' && chars.peek() == Some(&'\n')) {
            if c == '\r' {
                chars.next();
            }
            row.push(std::mem::take(&mut cur));
            out.push(std::mem::take(&mut row));
            any = false;
        } else {
            cur.push(c);
        }
    }
    if any {
        row.push(cur);
        out.push(row);
    }
    out
}

/// A value while evaluating: JSON's, plus `MISSING` (a path that leads nowhere).
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Missing,
    V(Value),
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number_value(f: f64, int: bool) -> Value {
    if int && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn is_int(v: &Value) -> bool {
    matches!(v, Value::Number(n) if n.is_i64() || n.is_u64())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn truthy(v: &Val) -> Option<bool> {
    match v {
        Val::V(Value::Bool(b)) => Some(*b),
        Val::V(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Val::V(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `LIKE` with `%` and `_`, and an optional escape character.
fn like(text: &[char], pattern: &[char], escape: Option<char>) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(&c) if Some(c) == escape => match pattern.get(1) {
            Some(&lit) => text.first() == Some(&lit) && like(&text[1..], &pattern[2..], escape),
            None => false,
        },
        Some('%') => (0..=text.len()).any(|i| like(&text[i..], &pattern[1..], escape)),
        Some('_') => !text.is_empty() && like(&text[1..], &pattern[1..], escape),
        Some(&c) => text.first() == Some(&c) && like(&text[1..], &pattern[1..], escape),
    }
}

struct Ctx<'a> {
    names: &'a [String],
}

impl Ctx<'_> {
    fn resolve(&self, record: &Record, steps: &[Step]) -> S3Result<Val> {
        match record {
            Record::Csv(fields) => {
                let Some(Step::Field {
                    name,
                    case_sensitive,
                }) = steps.first()
                else {
                    return Ok(Val::Missing);
                };
                let index = if let Some(n) =
                    name.strip_prefix('_').and_then(|n| n.parse::<usize>().ok())
                {
                    if n == 0 {
                        return Err(select_error(
                            "InvalidColumnIndex",
                            "The column index at line 1, column 8 is invalid. Please check the service documentation and try again.",
                        ));
                    }
                    Some(n - 1)
                } else {
                    self.names.iter().position(|h| {
                        if *case_sensitive {
                            h == name
                        } else {
                            h.eq_ignore_ascii_case(name)
                        }
                    })
                };
                Ok(match index.and_then(|i| fields.get(i)) {
                    Some(v) => Val::V(Value::String(v.clone())),
                    None => Val::Missing,
                })
            }
            Record::Json(value) => {
                let mut cur = value;
                for step in steps {
                    let next = match (step, cur) {
                        (
                            Step::Field {
                                name,
                                case_sensitive,
                            },
                            Value::Object(map),
                        ) => {
                            if *case_sensitive {
                                map.get(name)
                            } else {
                                map.get(name).or_else(|| {
                                    map.iter()
                                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                                        .map(|(_, v)| v)
                                })
                            }
                        }
                        (Step::Index(i), Value::Array(items)) => items.get(*i),
                        _ => None,
                    };
                    match next {
                        Some(v) => cur = v,
                        None => return Ok(Val::Missing),
                    }
                }
                Ok(Val::V(cur.clone()))
            }
        }
    }

    fn eval(&self, record: &Record, e: &Expr) -> S3Result<Val> {
        Ok(match e {
            Expr::Null => Val::V(Value::Null),
            Expr::Bool(b) => Val::V(Value::Bool(*b)),
            Expr::Num(f, int) => Val::V(number_value(*f, *int)),
            Expr::Str(s) => Val::V(Value::String(s.clone())),
            Expr::Path(steps) => self.resolve(record, steps)?,
            Expr::CountAll => Val::V(Value::Null),
            Expr::Unary(op, a) => {
                let v = self.eval(record, a)?;
                match *op {
                    "NOT" => truthy(&v).map_or(Val::V(Value::Null), |b| Val::V(Value::Bool(!b))),
                    _ => match &v {
                        Val::V(x) => num(x)
                            .map_or(Val::V(Value::Null), |f| Val::V(number_value(-f, is_int(x)))),
                        Val::Missing => Val::Missing,
                    },
                }
            }
            Expr::Binary(op, a, b) => {
                let (x, y) = (self.eval(record, a)?, self.eval(record, b)?);
                self.binary(op, &x, &y)?
            }
            Expr::Like(a, p, esc, negated) => {
                let (Val::V(x), Val::V(pat)) = (self.eval(record, a)?, self.eval(record, p)?)
                else {
                    return Ok(Val::V(Value::Null));
                };
                let escape = match esc {
                    Some(e) => match self.eval(record, e)? {
                        Val::V(Value::String(s)) => s.chars().next(),
                        _ => None,
                    },
                    None => None,
                };
                let t: Vec<char> = text(&x).chars().collect();
                let p: Vec<char> = text(&pat).chars().collect();
                Val::V(Value::Bool(like(&t, &p, escape) != *negated))
            }
            Expr::Between(a, lo, hi, negated) => {
                let v = self.eval(record, a)?;
                let ge = self.binary(">=", &v, &self.eval(record, lo)?)?;
                let le = self.binary("<=", &v, &self.eval(record, hi)?)?;
                match (truthy(&ge), truthy(&le)) {
                    (Some(x), Some(y)) => Val::V(Value::Bool((x && y) != *negated)),
                    _ => Val::V(Value::Null),
                }
            }
            Expr::In(a, list, negated) => {
                let v = self.eval(record, a)?;
                let mut found = false;
                for item in list {
                    let eq = self.binary("=", &v, &self.eval(record, item)?)?;
                    if truthy(&eq) == Some(true) {
                        found = true;
                        break;
                    }
                }
                Val::V(Value::Bool(found != *negated))
            }
            Expr::Is(a, what, not) => {
                let v = self.eval(record, a)?;
                let hit = match *what {
                    "MISSING" => v == Val::Missing,
                    _ => matches!(v, Val::Missing | Val::V(Value::Null)),
                };
                Val::V(Value::Bool(hit != *not))
            }
            Expr::Cast(a, ty) => match self.eval(record, a)? {
                Val::Missing => Val::Missing,
                Val::V(Value::Null) => Val::V(Value::Null),
                Val::V(v) => Val::V(cast(&v, ty)?),
            },
            Expr::Call(name, args) => {
                let vals: Vec<Val> = args
                    .iter()
                    .map(|a| self.eval(record, a))
                    .collect::<S3Result<_>>()?;
                call(name, &vals)?
            }
        })
    }

    fn binary(&self, op: &str, x: &Val, y: &Val) -> S3Result<Val> {
        let null = Val::V(Value::Null);
        match op {
            "AND" | "OR" => {
                let (a, b) = (truthy(x), truthy(y));
                return Ok(match (op, a, b) {
                    ("AND", Some(false), _) | ("AND", _, Some(false)) => Val::V(Value::Bool(false)),
                    ("AND", Some(true), Some(true)) => Val::V(Value::Bool(true)),
                    ("OR", Some(true), _) | ("OR", _, Some(true)) => Val::V(Value::Bool(true)),
                    ("OR", Some(false), Some(false)) => Val::V(Value::Bool(false)),
                    _ => null,
                });
            }
            _ => {}
        }
        let (Val::V(a), Val::V(b)) = (x, y) else {
            return Ok(Val::Missing);
        };
        if a.is_null() || b.is_null() {
            return Ok(null);
        }
        if op == "||" {
            return Ok(Val::V(Value::String(format!("{}{}", text(a), text(b)))));
        }
        if matches!(op, "+" | "-" | "*" | "/" | "%") {
            let (Some(p), Some(q)) = (num(a), num(b)) else {
                return Err(select_error(
                    "EvaluatorInvalidArguments",
                    format!("Incorrect argument type for operator {op}"),
                ));
            };
            let ints = is_int(a) && is_int(b);
            let r = match op {
                "+" => p + q,
                "-" => p - q,
                "*" => p * q,
                "/" => {
                    if q == 0.0 {
                        return Err(select_error("DivisionByZero", "Division by zero"));
                    }
                    if ints { (p / q).trunc() } else { p / q }
                }
                _ => {
                    if q == 0.0 {
                        return Err(select_error("DivisionByZero", "Division by zero"));
                    }
                    p % q
                }
            };
            return Ok(Val::V(number_value(r, ints)));
        }
        // Comparisons: numbers when both sides read as numbers (a CSV field against a number
        // literal), text otherwise.
        let ord = match (a, b) {
            (Value::String(s), Value::String(t)) => Some(s.cmp(t)),
            (Value::Bool(p), Value::Bool(q)) => Some(p.cmp(q)),
            _ => match (num(a), num(b)) {
                (Some(p), Some(q)) => p.partial_cmp(&q),
                _ => Some(text(a).cmp(&text(b))),
            },
        };
        let Some(ord) = ord else {
            return Ok(null);
        };
        use std::cmp::Ordering::*;
        let r = match op {
            "=" => ord == Equal,
            "<>" => ord != Equal,
            "<" => ord == Less,
            "<=" => ord != Greater,
            ">" => ord == Greater,
            _ => ord != Less,
        };
        Ok(Val::V(Value::Bool(r)))
    }
}

fn cast(v: &Value, ty: &str) -> S3Result<Value> {
    let failed = || {
        select_error(
            "CastFailed",
            "Attempt to convert from one data type to another failed",
        )
    };
    Ok(match ty {
        "INT" | "INTEGER" => {
            let f = num(v).ok_or_else(failed)?;
            Value::from(f.trunc() as i64)
        }
        "FLOAT" | "DECIMAL" | "NUMERIC" | "REAL" | "DOUBLE" => {
            number_value(num(v).ok_or_else(failed)?, false)
        }
        "STRING" | "VARCHAR" | "CHAR" => Value::String(text(v)),
        "BOOL" | "BOOLEAN" => Value::Bool(truthy(&Val::V(v.clone())).ok_or_else(failed)?),
        "TIMESTAMP" => Value::String(text(v)),
        _ => {
            return Err(select_error(
                "ParseUnknownOperator",
                format!("The type {ty} is not supported"),
            ));
        }
    })
}

fn call(name: &str, args: &[Val]) -> S3Result<Val> {
    let arg = |i: usize| match args.get(i) {
        Some(Val::V(v)) => Some(v.clone()),
        _ => None,
    };
    let wrong = || {
        select_error(
            "IncorrectSqlFunctionArgumentType",
            format!("Incorrect type of arguments in function call {name}"),
        )
    };
    Ok(match name {
        "LOWER" | "UPPER" => match arg(0) {
            Some(Value::Null) | None => Val::V(Value::Null),
            Some(v) => {
                let t = text(&v);
                Val::V(Value::String(if name == "LOWER" {
                    t.to_lowercase()
                } else {
                    t.to_uppercase()
                }))
            }
        },
        "CHAR_LENGTH" | "CHARACTER_LENGTH" => match arg(0) {
            Some(Value::Null) | None => Val::V(Value::Null),
            Some(v) => Val::V(Value::from(text(&v).chars().count() as i64)),
        },
        "TRIM" => match arg(0) {
            Some(Value::Null) | None => Val::V(Value::Null),
            Some(v) => Val::V(Value::String(text(&v).trim().to_owned())),
        },
        "SUBSTRING" => {
            let Some(v) = arg(0) else {
                return Ok(Val::V(Value::Null));
            };
            let chars: Vec<char> = text(&v).chars().collect();
            let from = arg(1).and_then(|f| num(&f)).ok_or_else(wrong)? as i64;
            let len = arg(2).and_then(|l| num(&l)).map(|l| l as i64);
            // SQL positions start at 1; a start before 1 eats into the length.
            let start = from.max(1);
            let end = match len {
                Some(l) => (from + l).max(start),
                None => chars.len() as i64 + 1,
            };
            let s: String = chars
                .iter()
                .skip((start - 1) as usize)
                .take((end - start).max(0) as usize)
                .collect();
            Val::V(Value::String(s))
        }
        "COALESCE" => args
            .iter()
            .find(|v| !matches!(v, Val::Missing | Val::V(Value::Null)))
            .cloned()
            .unwrap_or(Val::V(Value::Null)),
        "NULLIF" => match (arg(0), arg(1)) {
            (Some(a), Some(b)) if a == b => Val::V(Value::Null),
            (Some(a), _) => Val::V(a),
            _ => Val::V(Value::Null),
        },
        _ => {
            return Err(select_error(
                "UnsupportedFunction",
                format!("Function {name} is not supported"),
            ));
        }
    })
}

/// The running value of one aggregate column.
#[derive(Debug, Default)]
struct Acc {
    count: u64,
    sum: f64,
    ints: bool,
    min: Option<Value>,
    max: Option<Value>,
}

fn aggregate(ctx: &Ctx, record: &Record, e: &Expr, acc: &mut Acc) -> S3Result<()> {
    match e {
        Expr::CountAll => acc.count += 1,
        Expr::Call(name, args)
            if ["COUNT", "SUM", "AVG", "MIN", "MAX"].contains(&name.as_str()) =>
        {
            let Some(arg) = args.first() else {
                return Err(select_error(
                    "ParseExpectedArgument",
                    format!("{name} takes an argument"),
                ));
            };
            let Val::V(v) = ctx.eval(record, arg)? else {
                return Ok(());
            };
            if v.is_null() {
                return Ok(());
            }
            if acc.count == 0 {
                acc.ints = true;
            }
            acc.count += 1;
            if matches!(name.as_str(), "SUM" | "AVG") {
                let f = num(&v).ok_or_else(|| {
                    select_error("EvaluatorInvalidArguments", format!("{name} needs numbers"))
                })?;
                acc.ints &= is_int(&v);
                acc.sum += f;
            }
            let less = |a: &Value, b: &Value| match (num(a), num(b)) {
                (Some(x), Some(y)) => x < y,
                _ => text(a) < text(b),
            };
            if acc.min.as_ref().is_none_or(|m| less(&v, m)) {
                acc.min = Some(v.clone());
            }
            if acc.max.as_ref().is_none_or(|m| less(m, &v)) {
                acc.max = Some(v);
            }
        }
        _ => {}
    }
    Ok(())
}

fn finish(e: &Expr, acc: &Acc) -> Value {
    match e {
        Expr::CountAll => Value::from(acc.count),
        Expr::Call(name, _) => match name.as_str() {
            "COUNT" => Value::from(acc.count),
            "SUM" if acc.count > 0 => number_value(acc.sum, acc.ints),
            "AVG" if acc.count > 0 => number_value(acc.sum / acc.count as f64, false),
            "MIN" => acc.min.clone().unwrap_or(Value::Null),
            "MAX" => acc.max.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Runs `query` over `data`, returning the serialised output records.
fn run(query: &Query, input: &Input, output: &Output, data: &[u8]) -> S3Result<Vec<u8>> {
    let text = std::str::from_utf8(data)
        .map_err(|_| select_error("InvalidTextEncoding", "UTF-8 encoding is required."))?;
    let mut names: Vec<String> = Vec::new();
    let records: Vec<Record> = match input {
        Input::Csv {
            header,
            field,
            record,
            quote,
            comments,
        } => {
            let mut rows = csv_records(text, *field, *record, *quote);
            if let Some(c) = comments {
                rows.retain(|r| !r.first().is_some_and(|f| f.starts_with(*c)));
            }
            if *header != "NONE" && !rows.is_empty() {
                let first = rows.remove(0);
                if *header == "USE" {
                    names = first;
                }
            }
            rows.into_iter().map(Record::Csv).collect()
        }
        Input::Json { lines } => {
            let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
            let mut out = Vec::new();
            for v in stream {
                let v = v.map_err(|e| {
                    select_error("JSONParsingError", format!("Error parsing JSON file: {e}"))
                })?;
                match v {
                    Value::Array(items) if !lines => {
                        out.extend(items.into_iter().map(Record::Json))
                    }
                    v => out.push(Record::Json(v)),
                }
            }
            out
        }
    };
    let ctx = Ctx { names: &names };
    let mut rows: Vec<Vec<(String, Value)>> = Vec::new();
    let mut accs: Vec<Acc> = Vec::new();
    let mut matched = 0u64;
    for record in &records {
        if let Some(cond) = &query.condition
            && truthy(&ctx.eval(record, cond)?) != Some(true)
        {
            continue;
        }
        if query.aggregate {
            let items = query.items.as_deref().unwrap_or_default();
            accs.resize_with(items.len(), Acc::default);
            for (item, acc) in items.iter().zip(accs.iter_mut()) {
                aggregate(&ctx, record, &item.expr, acc)?;
            }
            continue;
        }
        if query.limit.is_some_and(|l| matched >= l) {
            break;
        }
        matched += 1;
        let row = match (&query.items, record) {
            (None, Record::Csv(fields)) => fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = names
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("_{}", i + 1));
                    (name, Value::String(f.clone()))
                })
                .collect(),
            (None, Record::Json(v)) => match v {
                Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                other => vec![("_1".to_owned(), other.clone())],
            },
            (Some(items), record) => {
                let mut row = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let v = ctx.eval(record, &item.expr)?;
                    let name = item.alias.clone().unwrap_or_else(|| match &item.expr {
                        Expr::Path(steps) => match steps.last() {
                            Some(Step::Field { name, .. }) => name.clone(),
                            _ => format!("_{}", i + 1),
                        },
                        _ => format!("_{}", i + 1),
                    });
                    match v {
                        // JSON output leaves a missing value out; CSV writes it empty.
                        Val::Missing => {
                            if matches!(output, Output::Csv { .. }) {
                                row.push((name, Value::Null));
                            }
                        }
                        Val::V(v) => row.push((name, v)),
                    }
                }
                row
            }
        };
        rows.push(row);
    }
    if query.aggregate {
        let items = query.items.as_deref().unwrap_or_default();
        accs.resize_with(items.len(), Acc::default);
        rows.push(
            items
                .iter()
                .zip(&accs)
                .enumerate()
                .map(|(i, (item, acc))| {
                    (
                        item.alias.clone().unwrap_or_else(|| format!("_{}", i + 1)),
                        finish(&item.expr, acc),
                    )
                })
                .collect(),
        );
    }
    let mut out = String::new();
    for row in rows {
        match output {
            Output::Csv {
                field,
                record,
                quote,
                always,
            } => {
                let cells: Vec<String> = row
                    .iter()
                    .map(|(_, v)| {
                        let t = match v {
                            Value::Null => String::new(),
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let needs = *always
                            || t.contains(field.as_str())
                            || t.contains(*quote)
                            || t.contains('\n')
                            || t.contains('\r');
                        if needs {
                            let q = quote.to_string();
                            format!("{q}{}{q}", t.replace(*quote, &format!("{q}{q}")))
                        } else {
                            t
                        }
                    })
                    .collect();
                out.push_str(&cells.join(field));
                out.push_str(record);
            }
            Output::Json { record } => {
                // In the projection's order (a JSON map would sort the names).
                let fields: Vec<String> = row
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                    .collect();
                out.push('{');
                out.push_str(&fields.join(","));
                out.push('}');
                out.push_str(record);
            }
        }
    }
    Ok(out.into_bytes())
}

/// Runs `expression` over `data` read as CSV with a header line (`csv`) or as JSON lines, writing CSV or
/// JSON: the whole evaluation a `SelectObjectContent` request performs, without the request (for the fuzz
/// target and tests). Errors are S3 Select's codes.
pub fn evaluate(expression: &str, csv: bool, data: &[u8]) -> Result<Vec<u8>, String> {
    let query = sql::parse(expression).map_err(|e| e.to_string())?;
    let (input, output) = if csv {
        (
            Input::Csv {
                header: "USE",
                field: ',',
                record: '\n',
                quote: '"',
                comments: None,
            },
            Output::Csv {
                field: ",".into(),
                record: "\n".into(),
                quote: '"',
                always: false,
            },
        )
    } else {
        (
            Input::Json { lines: true },
            Output::Json {
                record: "\n".into(),
            },
        )
    };
    run(&query, &input, &output, data).map_err(|e| e.to_string())
}

/// One event-stream message with string headers.
fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = BytesMut::new();
    for (name, value) in headers {
        h.put_u8(name.len() as u8);
        h.put_slice(name.as_bytes());
        h.put_u8(7);
        h.put_u16(value.len() as u16);
        h.put_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut m = BytesMut::with_capacity(total);
    m.put_u32(total as u32);
    m.put_u32(h.len() as u32);
    let prelude_crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &m[..8]) as u32;
    m.put_u32(prelude_crc);
    m.put_slice(&h);
    m.put_slice(payload);
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &m) as u32;
    m.put_u32(crc);
    m.freeze()
}

impl S3 {
    /// `SelectObjectContent`.
    pub(crate) async fn select_object_content(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        if req.q("select-type") != Some("2") {
            return Err(S3Error::argument(
                "Invalid value for select-type",
                "select-type",
                req.q("select-type").unwrap_or(""),
            ));
        }
        let doc = crate::bucket::read_doc(body).await?;
        let root = wire::parse_xml(&doc)?;
        if root.name != "SelectObjectContentRequest" {
            return Err(S3Error::MalformedXml);
        }
        let expression = root.text_of("Expression").ok_or_else(|| {
            select_error(
                "MissingRequiredParameter",
                "The request is missing a required parameter: Expression.",
            )
        })?;
        if root.text_of("ExpressionType") != Some("SQL") {
            return Err(select_error(
                "InvalidExpressionType",
                "The ExpressionType is invalid. Only SQL expressions are supported.",
            ));
        }
        let input = parse_input(root.child("InputSerialization").ok_or_else(|| {
            select_error(
                "MissingRequiredParameter",
                "The request is missing a required parameter: InputSerialization.",
            )
        })?)?;
        let output = parse_output(root.child("OutputSerialization").ok_or_else(|| {
            select_error(
                "MissingRequiredParameter",
                "The request is missing a required parameter: OutputSerialization.",
            )
        })?)?;
        let query = sql::parse(expression)?;
        let v = self.read_version(bucket, key, req.q("versionId"))?;
        crate::restore::check_readable(&v, false)?;
        crate::sse::check_read(req, "", &v)?;
        let data = self
            .blobs
            .read(&v.segments, 0, v.size)
            .collect()
            .await
            .map_err(|e| S3Error::Internal(e.to_string()))?
            .to_bytes();
        let records = run(&query, &input, &output, &data)?;
        let mut stream = BytesMut::new();
        // Records in chunks, as S3 sends them.
        for chunk in records.chunks(64 * 1024) {
            stream.put_slice(&message(
                &[
                    (":event-type", "Records"),
                    (":content-type", "application/octet-stream"),
                    (":message-type", "event"),
                ],
                chunk,
            ));
        }
        let stats = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Stats xmlns=\"\"><BytesScanned>{0}</BytesScanned><BytesProcessed>{0}</BytesProcessed><BytesReturned>{1}</BytesReturned></Stats>",
            data.len(),
            records.len()
        );
        stream.put_slice(&message(
            &[
                (":event-type", "Stats"),
                (":content-type", "text/xml"),
                (":message-type", "event"),
            ],
            stats.as_bytes(),
        ));
        stream.put_slice(&message(
            &[(":event-type", "End"), (":message-type", "event")],
            b"",
        ));
        let mut r = Response::new(skyport_core::body::full(stream.freeze()));
        *r.status_mut() = StatusCode::OK;
        wire::set(r.headers_mut(), "content-type", "application/octet-stream");
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_in() -> Input {
        Input::Csv {
            header: "USE",
            field: ',',
            record: '\n',
            quote: '"',
            comments: None,
        }
    }

    fn csv_out() -> Output {
        Output::Csv {
            field: ",".into(),
            record: "\n".into(),
            quote: '"',
            always: false,
        }
    }

    const PEOPLE: &[u8] = b"name,city,age\nAda,\"London, UK\",36\nBob,Berlin,41\nCy,Boston,29\n";

    fn select(sql: &str, input: &Input, output: &Output, data: &[u8]) -> String {
        let q = sql::parse(sql).unwrap();
        String::from_utf8(run(&q, input, output, data).unwrap()).unwrap()
    }

    #[test]
    fn csv_selections() {
        assert_eq!(
            select(
                "SELECT s.name FROM S3Object s WHERE CAST(s.age AS INT) > 30",
                &csv_in(),
                &csv_out(),
                PEOPLE
            ),
            "Ada\nBob\n"
        );
        assert_eq!(
            select(
                "SELECT * FROM S3Object s WHERE s.city LIKE 'B%' LIMIT 1",
                &csv_in(),
                &csv_out(),
                PEOPLE
            ),
            "Bob,Berlin,41\n"
        );
        assert_eq!(
            select(
                "SELECT s._2 FROM S3Object s WHERE s._1 = 'Ada'",
                &csv_in(),
                &csv_out(),
                PEOPLE
            ),
            "\"London, UK\"\n"
        );
        assert_eq!(
            select(
                "SELECT COUNT(*), SUM(CAST(age AS INT)), MAX(age) FROM S3Object",
                &csv_in(),
                &csv_out(),
                PEOPLE
            ),
            "3,106,41\n"
        );
        assert_eq!(
            select(
                "SELECT UPPER(name) AS n, age FROM S3Object WHERE age BETWEEN 30 AND 40",
                &csv_in(),
                &Output::Json {
                    record: "\n".into()
                },
                PEOPLE
            ),
            "{\"n\":\"ADA\",\"age\":\"36\"}\n"
        );
    }

    #[test]
    fn json_selections() {
        let lines = b"{\"id\":1,\"tags\":[\"a\",\"b\"],\"who\":{\"name\":\"x\"}}\n{\"id\":2,\"who\":{\"name\":\"y\"}}\n";
        let out = Output::Json {
            record: "\n".into(),
        };
        assert_eq!(
            select(
                "SELECT s.who.name, s.tags[1] AS t FROM S3Object[*] s WHERE s.id = 1",
                &Input::Json { lines: true },
                &out,
                lines
            ),
            "{\"name\":\"x\",\"t\":\"b\"}\n"
        );
        assert_eq!(
            select(
                "SELECT s.id FROM S3Object s WHERE s.tags IS MISSING",
                &Input::Json { lines: true },
                &out,
                lines
            ),
            "{\"id\":2}\n"
        );
        let doc = b"[{\"v\":1.5},{\"v\":2.5}]";
        assert_eq!(
            select(
                "SELECT AVG(s.v) FROM S3Object s",
                &Input::Json { lines: false },
                &out,
                doc
            ),
            "{\"_1\":2.0}\n"
        );
    }

    #[test]
    fn event_stream_frames() {
        let m = message(&[(":event-type", "End"), (":message-type", "event")], b"");
        let total = u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize;
        assert_eq!(total, m.len());
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &m[..total - 4]) as u32;
        assert_eq!(&m[total - 4..], &crc.to_be_bytes());
    }

    #[test]
    fn like_patterns() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(like(&c("Boston"), &c("B%n"), None));
        assert!(like(&c("50%"), &c("50!%"), Some('!')));
        assert!(!like(&c("500"), &c("50!%"), Some('!')));
        assert!(like(&c("abc"), &c("a_c"), None));
    }
}
