//! The expression language's tokens and parser. Every expression of a request is parsed here, with
//! its `#name` and `:value` placeholders resolved against the request's `ExpressionAttributeNames`
//! and `ExpressionAttributeValues` (recording which were used, see [`Placeholders`]), bare attribute
//! names checked against the reserved words, and AWS's messages for each mistake.

use std::collections::{BTreeMap, BTreeSet};

use super::ast::{CmpOp, Cond, Elem, Operand, Path, SetValue, Update, UpdateAction};
use super::reserved::is_reserved;
use crate::attr::Av;

/// An expression's kind, as AWS names it in messages (`Invalid ConditionExpression: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ConditionExpression`.
    Condition,
    /// `FilterExpression`.
    Filter,
    /// `KeyConditionExpression`.
    KeyCondition,
    /// `ProjectionExpression`.
    Projection,
    /// `UpdateExpression`.
    Update,
}

impl Kind {
    /// The parameter's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Condition => "ConditionExpression",
            Kind::Filter => "FilterExpression",
            Kind::KeyCondition => "KeyConditionExpression",
            Kind::Projection => "ProjectionExpression",
            Kind::Update => "UpdateExpression",
        }
    }
}

/// The placeholders of one request, and which of them its expressions used.
#[derive(Debug, Default)]
pub struct Placeholders {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, Av>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Placeholders {
    /// The request's `ExpressionAttributeNames` and `ExpressionAttributeValues`.
    pub fn new(names: BTreeMap<String, String>, values: BTreeMap<String, Av>) -> Placeholders {
        Placeholders {
            names,
            values,
            ..Default::default()
        }
    }

    /// AWS's error for placeholders no expression used (names first, then values).
    pub fn check_unused(&self) -> Result<(), String> {
        let unused_names: Vec<&str> = self
            .names
            .keys()
            .filter(|k| !self.used_names.contains(*k))
            .map(String::as_str)
            .collect();
        if !unused_names.is_empty() {
            return Err(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                unused_names.join(", ")
            ));
        }
        let unused_values: Vec<&str> = self
            .values
            .keys()
            .filter(|k| !self.used_values.contains(*k))
            .map(String::as_str)
            .collect();
        if !unused_values.is_empty() {
            return Err(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                unused_values.join(", ")
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Name(String),
    Value(String),
    Int(String),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let word = |mut j: usize| {
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            j
        };
        let tok = match c {
            b'#' | b':' => {
                let end = word(i + 1);
                if end == i + 1 {
                    let near = &text[start..(start + 1).min(text.len())];
                    return Err(syntax(near, near));
                }
                let name = text[start..end].to_owned();
                i = end;
                if c == b'#' {
                    Tok::Name(name)
                } else {
                    Tok::Value(name)
                }
            }
            b'0'..=b'9' => {
                let mut end = i;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                i = end;
                Tok::Int(text[start..end].to_owned())
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = word(i);
                i = end;
                Tok::Ident(text[start..end].to_owned())
            }
            _ => {
                let two = text.get(i..i + 2).unwrap_or("");
                let sym: &'static str = match two {
                    "<>" => "<>",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => match c {
                        b'(' => "(",
                        b')' => ")",
                        b'[' => "[",
                        b']' => "]",
                        b',' => ",",
                        b'.' => ".",
                        b'=' => "=",
                        b'<' => "<",
                        b'>' => ">",
                        b'+' => "+",
                        b'-' => "-",
                        _ => {
                            let ch = text[i..].chars().next().unwrap_or('?');
                            return Err(format!(
                                "Invalid character encountered; character: {ch}, near: {}",
                                &text[start..(start + ch.len_utf8()).min(text.len())]
                            ));
                        }
                    },
                };
                i += sym.len();
                Tok::Sym(sym)
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: text.len(),
        end: text.len(),
    });
    Ok(out)
}

fn syntax(token: &str, near: &str) -> String {
    format!("Syntax error; token: \"{token}\", near: \"{near}\"")
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    pos: usize,
    ph: &'a mut Placeholders,
}

fn is_kw(tok: &Tok, kw: &str) -> bool {
    matches!(tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// AWS's syntax error at the current token.
    fn error(&self) -> String {
        let t = &self.toks[self.pos];
        let token = if t.tok == Tok::Eof {
            "<EOF>".to_owned()
        } else {
            self.text[t.start..t.end].to_owned()
        };
        let from = if self.pos > 0 {
            self.toks[self.pos - 1].start
        } else {
            t.start
        };
        let to = self
            .toks
            .get(self.pos + 1)
            .filter(|n| n.tok != Tok::Eof)
            .map_or(t.end, |n| n.end);
        syntax(&token, self.text[from..to.max(from)].trim())
    }

    fn expect_sym(&mut self, sym: &str) -> Result<(), String> {
        if self.at_sym(sym) {
            self.bump();
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn at_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Tok::Sym(s) if *s == sym)
    }

    fn value(&mut self, name: &str) -> Result<Av, String> {
        match self.ph.values.get(name) {
            Some(v) => {
                self.ph.used_values.insert(name.to_owned());
                Ok(v.clone())
            }
            None => Err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {name}"
            )),
        }
    }

    fn name(&mut self, placeholder: &str) -> Result<String, String> {
        match self.ph.names.get(placeholder) {
            Some(n) => {
                self.ph.used_names.insert(placeholder.to_owned());
                Ok(n.clone())
            }
            None => Err(format!(
                "An expression attribute name used in the document path is not defined; attribute name: {placeholder}"
            )),
        }
    }

    /// `name ( '.' name | '[' n ']' )*`
    fn path(&mut self) -> Result<Path, String> {
        let mut path = Vec::new();
        let first = self.path_name()?;
        path.push(Elem::Name(first));
        loop {
            if self.at_sym(".") {
                self.bump();
                let n = self.path_name()?;
                path.push(Elem::Name(n));
            } else if self.at_sym("[") {
                self.bump();
                let Tok::Int(digits) = self.peek().clone() else {
                    return Err(self.error());
                };
                self.bump();
                let index: u32 = digits.parse().map_err(|_| self.error())?;
                self.expect_sym("]")?;
                path.push(Elem::Index(index));
            } else {
                break;
            }
        }
        Ok(path)
    }

    fn path_name(&mut self) -> Result<String, String> {
        match self.peek().clone() {
            Tok::Ident(n) => {
                if is_reserved(&n) {
                    return Err(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {n}"
                    ));
                }
                self.bump();
                Ok(n)
            }
            Tok::Name(p) => {
                self.bump();
                self.name(&p)
            }
            _ => Err(self.error()),
        }
    }

    fn eof(&self) -> Result<(), String> {
        if *self.peek() == Tok::Eof {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    // -- conditions ------------------------------------------------------------------------------

    fn condition(&mut self) -> Result<Cond, String> {
        let mut left = self.and_cond()?;
        while is_kw(self.peek(), "OR") {
            self.bump();
            let right = self.and_cond()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_cond(&mut self) -> Result<Cond, String> {
        let mut left = self.not_cond()?;
        while is_kw(self.peek(), "AND") {
            self.bump();
            let right = self.not_cond()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_cond(&mut self) -> Result<Cond, String> {
        if is_kw(self.peek(), "NOT") {
            self.bump();
            let inner = self.not_cond()?;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        if self.at_sym("(") {
            self.bump();
            let c = self.condition()?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        if let Tok::Ident(f) = self.peek().clone()
            && *self.peek_at(1) == Tok::Sym("(")
        {
            match f.as_str() {
                "attribute_exists"
                | "attribute_not_exists"
                | "attribute_type"
                | "begins_with"
                | "contains" => return self.bool_function(&f),
                "size" => {}
                "if_not_exists" | "list_append" => {
                    return Err(format!(
                        "The function is not allowed to be used this way in an expression; function: {f}"
                    ));
                }
                _ => return Err(format!("Invalid function name; function: {f}")),
            }
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Tok::Sym("=") => Some(CmpOp::Eq),
            Tok::Sym("<>") => Some(CmpOp::Ne),
            Tok::Sym("<") => Some(CmpOp::Lt),
            Tok::Sym("<=") => Some(CmpOp::Le),
            Tok::Sym(">") => Some(CmpOp::Gt),
            Tok::Sym(">=") => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let right = self.operand()?;
            return Ok(Cond::Cmp(op, left, right));
        }
        if is_kw(self.peek(), "BETWEEN") {
            self.bump();
            let low = self.operand()?;
            if !is_kw(self.peek(), "AND") {
                return Err(self.error());
            }
            self.bump();
            let high = self.operand()?;
            if let (Operand::Value(l), Operand::Value(h)) = (&low, &high)
                && l.compare(h) == Some(std::cmp::Ordering::Greater)
            {
                return Err(format!(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
                    show(l),
                    show(h)
                ));
            }
            return Ok(Cond::Between(left, low, high));
        }
        if is_kw(self.peek(), "IN") {
            self.bump();
            self.expect_sym("(")?;
            let mut list = vec![self.operand()?];
            while self.at_sym(",") {
                self.bump();
                list.push(self.operand()?);
            }
            self.expect_sym(")")?;
            if list.len() > 100 {
                return Err(format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    list.len()
                ));
            }
            return Ok(Cond::In(left, list));
        }
        Err(self.error())
    }

    fn args(&mut self, name: &str) -> Result<Vec<Operand>, String> {
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if !self.at_sym(")") {
            args.push(self.operand()?);
            while self.at_sym(",") {
                self.bump();
                args.push(self.operand()?);
            }
        }
        self.expect_sym(")")?;
        let want = match name {
            "attribute_exists" | "attribute_not_exists" | "size" => 1,
            _ => 2,
        };
        if args.len() != want {
            return Err(format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            ));
        }
        Ok(args)
    }

    fn bool_function(&mut self, name: &str) -> Result<Cond, String> {
        self.bump();
        let mut args = self.args(name)?.into_iter();
        let (Some(a), b) = (args.next(), args.next()) else {
            return Err(self.error());
        };
        let path_arg = |op: Operand| match op {
            Operand::Path(p) => Ok(p),
            _ => Err(format!(
                "Incorrect operand type for operator or function; operator or function: {name}, operand type: not a document path"
            )),
        };
        Ok(match (name, b) {
            ("attribute_exists", None) => Cond::Exists(path_arg(a)?),
            ("attribute_not_exists", None) => Cond::NotExists(path_arg(a)?),
            ("attribute_type", Some(t)) => {
                let p = path_arg(a)?;
                if let Operand::Value(v) = &t {
                    let valid = matches!(v, Av::S(s) if matches!(s.as_str(),
                        "S" | "SS" | "N" | "NS" | "B" | "BS" | "BOOL" | "NULL" | "L" | "M"));
                    if !valid {
                        return Err(format!(
                            "Invalid attribute type name found; type: {}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}",
                            show_plain(v)
                        ));
                    }
                }
                Cond::Type(p, t)
            }
            ("begins_with", Some(b)) => Cond::BeginsWith(a, b),
            ("contains", Some(b)) => Cond::Contains(a, b),
            _ => return Err(self.error()),
        })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek().clone() {
            Tok::Value(v) => {
                self.bump();
                Ok(Operand::Value(self.value(&v)?))
            }
            Tok::Ident(f) if *self.peek_at(1) == Tok::Sym("(") => {
                if f == "size" {
                    self.bump();
                    let mut args = self.args("size")?;
                    match args.pop() {
                        Some(Operand::Path(p)) => Ok(Operand::Size(p)),
                        _ => Err(
                            "Incorrect operand type for operator or function; operator or function: size, operand type: not a document path"
                                .to_owned(),
                        ),
                    }
                } else if matches!(
                    f.as_str(),
                    "attribute_exists"
                        | "attribute_not_exists"
                        | "attribute_type"
                        | "begins_with"
                        | "contains"
                        | "if_not_exists"
                        | "list_append"
                ) {
                    Err(format!(
                        "The function is not allowed to be used this way in an expression; function: {f}"
                    ))
                } else {
                    Err(format!("Invalid function name; function: {f}"))
                }
            }
            Tok::Ident(_) | Tok::Name(_) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.error()),
        }
    }

    // -- update expressions ----------------------------------------------------------------------

    fn update(&mut self) -> Result<Update, String> {
        let mut update = Update::default();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        if *self.peek() == Tok::Eof {
            return Err(self.error());
        }
        while *self.peek() != Tok::Eof {
            let Tok::Ident(kw) = self.peek().clone() else {
                return Err(self.error());
            };
            let clause = kw.to_ascii_uppercase();
            if !matches!(clause.as_str(), "SET" | "REMOVE" | "ADD" | "DELETE") {
                return Err(self.error());
            }
            if !seen.insert(clause.clone()) {
                return Err(format!(
                    "The \"{clause}\" section can only be used once in an update expression;"
                ));
            }
            self.bump();
            loop {
                let action = match clause.as_str() {
                    "SET" => {
                        let path = self.path()?;
                        self.expect_sym("=")?;
                        let value = self.set_value()?;
                        UpdateAction::Set(path, value)
                    }
                    "REMOVE" => UpdateAction::Remove(self.path()?),
                    "ADD" | "DELETE" => {
                        let path = self.path()?;
                        let Tok::Value(v) = self.peek().clone() else {
                            return Err(self.error());
                        };
                        self.bump();
                        let value = self.value(&v)?;
                        if clause == "ADD" {
                            UpdateAction::Add(path, value)
                        } else {
                            UpdateAction::Delete(path, value)
                        }
                    }
                    _ => return Err(self.error()),
                };
                update.actions.push(action);
                if self.at_sym(",") {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        Ok(update)
    }

    fn set_value(&mut self) -> Result<SetValue, String> {
        let left = self.set_operand()?;
        if self.at_sym("+") || self.at_sym("-") {
            let plus = self.at_sym("+");
            self.bump();
            let right = self.set_operand()?;
            return Ok(if plus {
                SetValue::Plus(Box::new(left), Box::new(right))
            } else {
                SetValue::Minus(Box::new(left), Box::new(right))
            });
        }
        Ok(left)
    }

    fn set_operand(&mut self) -> Result<SetValue, String> {
        match self.peek().clone() {
            Tok::Value(v) => {
                self.bump();
                Ok(SetValue::Value(self.value(&v)?))
            }
            Tok::Ident(f) if *self.peek_at(1) == Tok::Sym("(") => {
                self.bump();
                self.expect_sym("(")?;
                let result = match f.as_str() {
                    "if_not_exists" => {
                        let p = self.path()?;
                        self.expect_sym(",")?;
                        let v = self.set_value()?;
                        SetValue::IfNotExists(p, Box::new(v))
                    }
                    "list_append" => {
                        let a = self.set_value()?;
                        self.expect_sym(",")?;
                        let b = self.set_value()?;
                        SetValue::ListAppend(Box::new(a), Box::new(b))
                    }
                    "attribute_exists"
                    | "attribute_not_exists"
                    | "attribute_type"
                    | "begins_with"
                    | "contains"
                    | "size" => {
                        return Err(format!(
                            "The function is not allowed to be used this way in an expression; function: {f}"
                        ));
                    }
                    _ => return Err(format!("Invalid function name; function: {f}")),
                };
                self.expect_sym(")")?;
                Ok(result)
            }
            Tok::Ident(_) | Tok::Name(_) => Ok(SetValue::Path(self.path()?)),
            _ => Err(self.error()),
        }
    }
}

/// `S:abc` style rendering of a scalar in messages.
fn show(v: &Av) -> String {
    format!("{}:{}", v.type_name(), show_plain(v))
}

fn show_plain(v: &Av) -> String {
    match v {
        Av::S(s) | Av::N(s) => s.clone(),
        Av::Bool(b) => b.to_string(),
        other => other.type_name().to_owned(),
    }
}

fn parse_with<'a, T>(
    kind: Kind,
    text: &'a str,
    ph: &'a mut Placeholders,
    f: impl FnOnce(&mut Parser<'a>) -> Result<T, String>,
) -> Result<T, String> {
    let wrap = |m: String| format!("Invalid {}: {m}", kind.name());
    if text.trim().is_empty() {
        return Err(format!(
            "Invalid {}: The expression can not be empty;",
            kind.name()
        ));
    }
    let toks = lex(text).map_err(wrap)?;
    let mut p = Parser {
        text,
        toks,
        pos: 0,
        ph,
    };
    let out = f(&mut p).map_err(wrap)?;
    p.eof().map_err(wrap)?;
    Ok(out)
}

/// Parses a condition (`ConditionExpression`, `FilterExpression`, `KeyConditionExpression`).
pub fn condition(kind: Kind, text: &str, ph: &mut Placeholders) -> Result<Cond, String> {
    parse_with(kind, text, ph, Parser::condition)
}

/// Parses a `ProjectionExpression`.
pub fn projection(text: &str, ph: &mut Placeholders) -> Result<Vec<Path>, String> {
    let paths = parse_with(Kind::Projection, text, ph, |p| {
        let mut paths = vec![p.path()?];
        while p.at_sym(",") {
            p.bump();
            paths.push(p.path()?);
        }
        Ok(paths)
    })?;
    super::check_overlap(&paths)
        .map_err(|m| format!("Invalid {}: {m}", Kind::Projection.name()))?;
    Ok(paths)
}

/// Parses an `UpdateExpression`.
pub fn update(text: &str, ph: &mut Placeholders) -> Result<Update, String> {
    let update = parse_with(Kind::Update, text, ph, Parser::update)?;
    let paths: Vec<Path> = update.actions.iter().map(|a| a.path().clone()).collect();
    super::check_overlap(&paths).map_err(|m| format!("Invalid {}: {m}", Kind::Update.name()))?;
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ph() -> Placeholders {
        let mut values = BTreeMap::new();
        values.insert(":v".to_owned(), Av::N("1".into()));
        values.insert(":s".to_owned(), Av::S("x".into()));
        let mut names = BTreeMap::new();
        names.insert("#n".to_owned(), "name".to_owned());
        Placeholders::new(names, values)
    }

    #[test]
    fn parses_conditions() {
        let mut p = ph();
        let c = condition(
            Kind::Condition,
            "a.b[2].c = :v AND NOT (attribute_exists(#n) OR size(x) BETWEEN :v AND :v) or y IN (:v, :s)",
            &mut p,
        )
        .unwrap();
        assert!(matches!(c, Cond::Or(..)), "{c:?}");
        assert!(p.check_unused().is_ok());
    }

    #[test]
    fn reports_like_aws() {
        let e = |text: &str| condition(Kind::Condition, text, &mut ph()).unwrap_err();
        assert_eq!(
            e("name = :v"),
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"
        );
        assert_eq!(
            e("a = :x"),
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x"
        );
        assert_eq!(
            e("#m = :v"),
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #m"
        );
        assert_eq!(
            e("a = "),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""
        );
        assert_eq!(
            e("foo(a)"),
            "Invalid ConditionExpression: Invalid function name; function: foo"
        );
        assert_eq!(
            e("begins_with(a)"),
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"
        );
        let mut p = ph();
        condition(Kind::Filter, "a = :v", &mut p).unwrap();
        assert_eq!(
            p.check_unused().unwrap_err(),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}"
        );
    }

    #[test]
    fn parses_updates() {
        let mut p = ph();
        let u = update(
            "SET a = :v, b = if_not_exists(b, :v) + :v, c = list_append(c, :s) REMOVE d[1] ADD e :v DELETE f :s",
            &mut p,
        )
        .unwrap();
        assert_eq!(u.actions.len(), 6);
        assert_eq!(
            update("SET a = :v, a.b = :v", &mut ph()).unwrap_err(),
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        );
        assert_eq!(
            update("SET a = :v SET b = :v", &mut ph()).unwrap_err(),
            "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"
        );
    }
}
