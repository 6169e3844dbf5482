//! Tokens and grammar of DynamoDB's PartiQL subset, producing [`Statement`]s whose conditions and
//! updates are the expression language's own forms ([`Cond`], [`UpdateAction`]) with every literal and
//! `?` parameter already turned into an attribute value.
//!
//! Keywords are case-insensitive; identifiers are bare (`Artist`) or double-quoted (`"Artist"`, which
//! may hold any character, `""` for a quote); strings are single-quoted (`''` for a quote). A syntax
//! error is AWS's `Statement wasn't well formed, can't be processed: <detail>`.

use std::collections::BTreeMap;

use crate::attr::{self, Av};
use crate::expr::{CmpOp, Cond, Elem, Operand, Path, SetValue, UpdateAction};
use crate::shapes::AttributeValue;

/// What `RETURNING` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returning {
    /// `ALL OLD *`
    AllOld,
    /// `MODIFIED OLD *`
    ModifiedOld,
    /// `ALL NEW *`
    AllNew,
    /// `MODIFIED NEW *`
    ModifiedNew,
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SELECT * | paths FROM table[.index] [WHERE cond] [ORDER BY key [ASC|DESC]]`
    Select {
        /// The table.
        table: String,
        /// The index, if any.
        index: Option<String>,
        /// The paths selected (`None`: `*`).
        paths: Option<Vec<Path>>,
        /// The WHERE clause.
        filter: Option<Cond>,
        /// `ORDER BY`: the key named and whether ascending.
        order: Option<(String, bool)>,
    },
    /// `INSERT INTO table VALUE {...}`
    Insert {
        /// The table.
        table: String,
        /// The item.
        item: attr::Item,
    },
    /// `UPDATE table SET ... REMOVE ... WHERE cond [RETURNING ...]`
    Update {
        /// The table.
        table: String,
        /// The actions, in order written.
        actions: Vec<UpdateAction>,
        /// The WHERE clause (key equalities and conditions).
        filter: Option<Cond>,
        /// `RETURNING`.
        returning: Option<Returning>,
    },
    /// `DELETE FROM table WHERE cond [RETURNING ALL OLD *]`
    Delete {
        /// The table.
        table: String,
        /// The WHERE clause.
        filter: Option<Cond>,
        /// `RETURNING`.
        returning: Option<Returning>,
    },
    /// `EXISTS(SELECT ...)` (transactions only): a condition check.
    Exists(Box<Statement>),
}

impl Statement {
    /// The table the statement names.
    pub fn table(&self) -> &str {
        match self {
            Statement::Select { table, .. }
            | Statement::Insert { table, .. }
            | Statement::Update { table, .. }
            | Statement::Delete { table, .. } => table,
            Statement::Exists(s) => s.table(),
        }
    }

    /// True for `SELECT`.
    pub fn is_read(&self) -> bool {
        matches!(self, Statement::Select { .. })
    }
}

/// AWS's message for a statement that does not parse.
pub fn malformed(detail: impl std::fmt::Display) -> String {
    format!("Statement wasn't well formed, can't be processed: {detail}")
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word (identifier or keyword).
    Word(String),
    /// A double-quoted identifier.
    Quoted(String),
    /// A single-quoted string.
    Str(String),
    /// A number literal, as written.
    Num(String),
    /// Punctuation and operators.
    Sym(&'static str),
    /// `?`
    Param,
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => w.clone(),
        Tok::Quoted(q) => format!("\"{q}\""),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => n.clone(),
        Tok::Sym(s) => (*s).to_owned(),
        Tok::Param => "?".to_owned(),
    }
}

const SYMBOLS: &[&str] = &[
    "<<", ">>", "<>", "!=", "<=", ">=", "=", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":",
    "*", "+", "-", ";",
];

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(malformed("Unterminated quoted text")),
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&other) => {
                        s.push(other);
                        i += 1;
                    }
                }
            }
            out.push(if c == '\'' {
                Tok::Str(s)
            } else {
                Tok::Quoted(s)
            });
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                i += 1;
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
            continue;
        }
        if c == '?' {
            out.push(Tok::Param);
            i += 1;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(s) => {
                out.push(Tok::Sym(s));
                i += s.len();
            }
            None => return Err(malformed(format!("Unexpected character '{c}'"))),
        }
    }
    Ok(out)
}

/// A value before conversion: literal documents are built as wire values, then converted (and
/// checked) as a request's `AttributeValue`s are.
type Wire = AttributeValue;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    params: std::vec::IntoIter<Wire>,
    used: usize,
    given: usize,
}

/// AWS's message when `?` and `Parameters` disagree.
const PARAM_COUNT: &str = "Number of parameters in request and statement don't match.";

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn unexpected(&self) -> String {
        match self.peek() {
            Some(t) => malformed(format!("Unexpected token: {}", show(t))),
            None => malformed("Unexpected end of statement"),
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn kw(&mut self, kw: &str) -> Result<(), String> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        let yes = self.is_sym(s);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn sym(&mut self, s: &str) -> Result<(), String> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn param(&mut self) -> Result<Wire, String> {
        self.used += 1;
        self.params.next().ok_or_else(|| PARAM_COUNT.to_owned())
    }

    /// An identifier: bare or double-quoted.
    fn ident(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) if !is_reserved(&w) => {
                self.pos += 1;
                Ok(w)
            }
            Some(Tok::Quoted(q)) => {
                self.pos += 1;
                Ok(q)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// `a.b[0].c`, also `a['b']`.
    fn path(&mut self) -> Result<Path, String> {
        let mut path = vec![Elem::Name(self.ident()?)];
        loop {
            if self.eat_sym(".") {
                path.push(Elem::Name(self.ident()?));
            } else if self.eat_sym("[") {
                match self.next() {
                    Some(Tok::Num(n)) => {
                        let i = n
                            .parse::<u32>()
                            .map_err(|_| malformed(format!("Invalid list index: {n}")))?;
                        path.push(Elem::Index(i));
                    }
                    Some(Tok::Str(s)) => path.push(Elem::Name(s)),
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected());
                    }
                }
                self.sym("]")?;
            } else {
                return Ok(path);
            }
        }
    }

    fn starts_value(&self) -> bool {
        match self.peek() {
            Some(Tok::Str(_) | Tok::Num(_) | Tok::Param) => true,
            Some(Tok::Sym(s)) => matches!(*s, "{" | "[" | "<<" | "-"),
            Some(Tok::Word(w)) => ["true", "false", "null"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k)),
            _ => false,
        }
    }

    /// A literal or parameter: strings, numbers, booleans, NULL, `{...}`, `[...]`, `<<...>>`, `?`.
    fn value(&mut self) -> Result<Wire, String> {
        let t = self.next();
        Ok(match t {
            Some(Tok::Str(s)) => Wire {
                s: Some(s),
                ..Wire::default()
            },
            Some(Tok::Num(n)) => Wire {
                n: Some(n),
                ..Wire::default()
            },
            Some(Tok::Sym("-")) => match self.next() {
                Some(Tok::Num(n)) => Wire {
                    n: Some(format!("-{n}")),
                    ..Wire::default()
                },
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
            },
            Some(Tok::Param) => self.param()?,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Wire {
                bool: Some(true),
                ..Wire::default()
            },
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Wire {
                bool: Some(false),
                ..Wire::default()
            },
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Wire {
                null: Some(true),
                ..Wire::default()
            },
            Some(Tok::Sym("{")) => {
                let mut m = BTreeMap::new();
                if !self.eat_sym("}") {
                    loop {
                        let key = match self.next() {
                            Some(Tok::Str(s)) => s,
                            _ => {
                                self.pos -= 1;
                                return Err(self.unexpected());
                            }
                        };
                        self.sym(":")?;
                        let v = self.value()?;
                        if m.insert(key.clone(), v).is_some() {
                            return Err(malformed(format!("Duplicate tuple attribute: {key}")));
                        }
                        if self.eat_sym("}") {
                            break;
                        }
                        self.sym(",")?;
                    }
                }
                Wire {
                    m: Some(m),
                    ..Wire::default()
                }
            }
            Some(Tok::Sym("[")) => {
                let l = self.list_until("]")?;
                Wire {
                    l: Some(l),
                    ..Wire::default()
                }
            }
            Some(Tok::Sym("<<")) => {
                let members = self.list_until(">>")?;
                set_of(members)?
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.unexpected());
            }
        })
    }

    fn list_until(&mut self, close: &str) -> Result<Vec<Wire>, String> {
        let mut out = Vec::new();
        if self.eat_sym(close) {
            return Ok(out);
        }
        loop {
            out.push(self.value()?);
            if self.eat_sym(close) {
                return Ok(out);
            }
            self.sym(",")?;
        }
    }

    fn av(&mut self) -> Result<Av, String> {
        let w = self.value()?;
        convert(w)
    }

    // ---- conditions

    fn or(&mut self) -> Result<Cond, String> {
        let mut c = self.and()?;
        while self.eat_kw("OR") {
            c = Cond::Or(Box::new(c), Box::new(self.and()?));
        }
        Ok(c)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut c = self.not()?;
        while self.eat_kw("AND") {
            c = Cond::And(Box::new(c), Box::new(self.not()?));
        }
        Ok(c)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.eat_kw("NOT") {
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.predicate()
    }

    fn operand(&mut self) -> Result<Operand, String> {
        if self.starts_value() {
            return Ok(Operand::Value(self.av()?));
        }
        if self.is_kw("size") && self.toks.get(self.pos + 1) == Some(&Tok::Sym("(")) {
            self.pos += 2;
            let p = self.path()?;
            self.sym(")")?;
            return Ok(Operand::Size(p));
        }
        Ok(Operand::Path(self.path()?))
    }

    fn function(&mut self) -> Result<Option<Cond>, String> {
        let Some(Tok::Word(w)) = self.peek().cloned() else {
            return Ok(None);
        };
        if self.toks.get(self.pos + 1) != Some(&Tok::Sym("(")) {
            return Ok(None);
        }
        let name = w.to_ascii_lowercase();
        if !matches!(name.as_str(), "begins_with" | "contains" | "attribute_type") {
            return Ok(None);
        }
        self.pos += 2;
        let a = self.operand()?;
        self.sym(",")?;
        let b = self.operand()?;
        self.sym(")")?;
        Ok(Some(match name.as_str() {
            "begins_with" => Cond::BeginsWith(a, b),
            "contains" => Cond::Contains(a, b),
            _ => match a {
                Operand::Path(p) => Cond::Type(p, b),
                _ => return Err(malformed("attribute_type expects a path")),
            },
        }))
    }

    fn predicate(&mut self) -> Result<Cond, String> {
        if self.eat_sym("(") {
            let c = self.or()?;
            self.sym(")")?;
            return Ok(c);
        }
        if let Some(c) = self.function()? {
            return Ok(c);
        }
        let a = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Sym("=")) => Some(CmpOp::Eq),
            Some(Tok::Sym("<>" | "!=")) => Some(CmpOp::Ne),
            Some(Tok::Sym("<")) => Some(CmpOp::Lt),
            Some(Tok::Sym("<=")) => Some(CmpOp::Le),
            Some(Tok::Sym(">")) => Some(CmpOp::Gt),
            Some(Tok::Sym(">=")) => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let b = self.operand()?;
            return Ok(Cond::Cmp(op, a, b));
        }
        if self.eat_kw("BETWEEN") {
            let lo = self.operand()?;
            self.kw("AND")?;
            let hi = self.operand()?;
            return Ok(Cond::Between(a, lo, hi));
        }
        if self.eat_kw("IN") {
            let close = if self.eat_sym("[") {
                "]"
            } else {
                self.sym("(")?;
                ")"
            };
            let mut list = Vec::new();
            loop {
                list.push(self.operand()?);
                if self.eat_sym(close) {
                    break;
                }
                self.sym(",")?;
            }
            return Ok(Cond::In(a, list));
        }
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            let Operand::Path(p) = a else {
                return Err(self.unexpected());
            };
            let c = if self.eat_kw("MISSING") {
                Cond::NotExists(p)
            } else if self.eat_kw("NULL") {
                Cond::Type(p, Operand::Value(Av::S("NULL".to_owned())))
            } else {
                return Err(self.unexpected());
            };
            return Ok(if negated { Cond::Not(Box::new(c)) } else { c });
        }
        Err(self.unexpected())
    }

    // ---- statements

    fn table(&mut self) -> Result<(String, Option<String>), String> {
        let table = self.ident()?;
        let index = if self.eat_sym(".") {
            Some(self.ident()?)
        } else {
            None
        };
        Ok((table, index))
    }

    fn returning(&mut self, update: bool) -> Result<Option<Returning>, String> {
        if !self.eat_kw("RETURNING") {
            return Ok(None);
        }
        let r = if self.eat_kw("ALL") {
            if self.eat_kw("OLD") {
                Returning::AllOld
            } else if update && self.eat_kw("NEW") {
                Returning::AllNew
            } else {
                return Err(self.unexpected());
            }
        } else if update && self.eat_kw("MODIFIED") {
            if self.eat_kw("OLD") {
                Returning::ModifiedOld
            } else if self.eat_kw("NEW") {
                Returning::ModifiedNew
            } else {
                return Err(self.unexpected());
            }
        } else {
            return Err(self.unexpected());
        };
        self.sym("*")?;
        Ok(Some(r))
    }

    fn where_clause(&mut self) -> Result<Option<Cond>, String> {
        if self.eat_kw("WHERE") {
            Ok(Some(self.or()?))
        } else {
            Ok(None)
        }
    }

    fn select(&mut self) -> Result<Statement, String> {
        let paths = if self.eat_sym("*") {
            None
        } else {
            let mut paths = vec![self.path()?];
            while self.eat_sym(",") {
                paths.push(self.path()?);
            }
            Some(paths)
        };
        self.kw("FROM")?;
        let (table, index) = self.table()?;
        let filter = self.where_clause()?;
        let order = if self.eat_kw("ORDER") {
            self.kw("BY")?;
            let key = self.ident()?;
            let asc = if self.eat_kw("DESC") {
                false
            } else {
                self.eat_kw("ASC");
                true
            };
            Some((key, asc))
        } else {
            None
        };
        Ok(Statement::Select {
            table,
            index,
            paths,
            filter,
            order,
        })
    }

    /// The right-hand side of `SET path = ...`.
    fn set_value(&mut self) -> Result<SetValue, String> {
        let mut v = self.set_term()?;
        loop {
            if self.eat_sym("+") {
                v = SetValue::Plus(Box::new(v), Box::new(self.set_term()?));
            } else if self.eat_sym("-") {
                // After a term, `-` is always the operator (`a -1` is `a - 1`).
                v = SetValue::Minus(Box::new(v), Box::new(self.set_term()?));
            } else {
                return Ok(v);
            }
        }
    }

    fn set_term(&mut self) -> Result<SetValue, String> {
        if self.starts_value() {
            return Ok(SetValue::Value(self.av()?));
        }
        if let Some(Tok::Word(w)) = self.peek().cloned()
            && self.toks.get(self.pos + 1) == Some(&Tok::Sym("("))
        {
            let name = w.to_ascii_lowercase();
            if name == "list_append" || name == "if_not_exists" {
                self.pos += 2;
                let a = self.set_value()?;
                self.sym(",")?;
                let b = self.set_value()?;
                self.sym(")")?;
                return Ok(if name == "list_append" {
                    SetValue::ListAppend(Box::new(a), Box::new(b))
                } else {
                    match a {
                        SetValue::Path(p) => SetValue::IfNotExists(p, Box::new(b)),
                        _ => return Err(malformed("if_not_exists expects a path")),
                    }
                });
            }
        }
        Ok(SetValue::Path(self.path()?))
    }

    /// One `path = value` of a SET clause; `set_add`/`set_delete` become ADD/DELETE actions.
    fn set_action(&mut self) -> Result<UpdateAction, String> {
        let path = self.path()?;
        self.sym("=")?;
        if let Some(Tok::Word(w)) = self.peek().cloned()
            && self.toks.get(self.pos + 1) == Some(&Tok::Sym("("))
        {
            let name = w.to_ascii_lowercase();
            if name == "set_add" || name == "set_delete" {
                self.pos += 2;
                let target = self.path()?;
                if target != path {
                    return Err(malformed(format!(
                        "{name} must apply to the attribute being set"
                    )));
                }
                self.sym(",")?;
                let v = self.av()?;
                self.sym(")")?;
                return Ok(if name == "set_add" {
                    UpdateAction::Add(path, v)
                } else {
                    UpdateAction::Delete(path, v)
                });
            }
        }
        Ok(UpdateAction::Set(path, self.set_value()?))
    }

    fn update(&mut self) -> Result<Statement, String> {
        let (table, index) = self.table()?;
        if index.is_some() {
            return Err("This operation is not supported on an index".to_owned());
        }
        let mut actions = Vec::new();
        loop {
            if self.eat_kw("SET") {
                loop {
                    actions.push(self.set_action()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_kw("REMOVE") {
                loop {
                    actions.push(UpdateAction::Remove(self.path()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        if actions.is_empty() {
            return Err(self.unexpected());
        }
        let filter = self.where_clause()?;
        let returning = self.returning(true)?;
        Ok(Statement::Update {
            table,
            actions,
            filter,
            returning,
        })
    }

    fn statement(&mut self) -> Result<Statement, String> {
        if self.eat_kw("SELECT") {
            self.select()
        } else if self.eat_kw("INSERT") {
            self.kw("INTO")?;
            let (table, index) = self.table()?;
            if index.is_some() {
                return Err("This operation is not supported on an index".to_owned());
            }
            self.kw("VALUE")?;
            if !self.is_sym("{") && self.peek() != Some(&Tok::Param) {
                return Err(malformed("Expected a tuple in VALUE"));
            }
            let w = self.value()?;
            if w.m.is_none() {
                return Err(malformed("Expected a tuple in VALUE"));
            }
            let Av::M(item) = convert(w)? else {
                return Err(malformed("Expected a tuple in VALUE"));
            };
            Ok(Statement::Insert { table, item })
        } else if self.eat_kw("UPDATE") {
            self.update()
        } else if self.eat_kw("DELETE") {
            self.kw("FROM")?;
            let (table, index) = self.table()?;
            if index.is_some() {
                return Err("This operation is not supported on an index".to_owned());
            }
            let filter = self.where_clause()?;
            let returning = self.returning(false)?;
            Ok(Statement::Delete {
                table,
                filter,
                returning,
            })
        } else if self.eat_kw("EXISTS") {
            self.sym("(")?;
            self.kw("SELECT")?;
            let inner = self.select()?;
            self.sym(")")?;
            Ok(Statement::Exists(Box::new(inner)))
        } else {
            Err(match self.peek() {
                None => malformed("Unexpected end of statement"),
                Some(_) => malformed("Expected data manipulation"),
            })
        }
    }
}

fn set_of(members: Vec<Wire>) -> Result<Wire, String> {
    let mut out = Wire::default();
    if members.iter().all(|m| m.s.is_some()) && !members.is_empty() {
        out.ss = Some(members.into_iter().filter_map(|m| m.s).collect());
    } else if members.iter().all(|m| m.n.is_some()) && !members.is_empty() {
        out.ns = Some(members.into_iter().filter_map(|m| m.n).collect());
    } else if members.iter().all(|m| m.b.is_some()) && !members.is_empty() {
        out.bs = Some(members.into_iter().filter_map(|m| m.b).collect());
    } else {
        return Err(malformed(
            "A set must hold one or more values of one type: strings, numbers or binaries",
        ));
    }
    Ok(out)
}

fn convert(w: Wire) -> Result<Av, String> {
    attr::from_wire(w).map_err(|e| e.to_string())
}

/// Words that end an identifier's place (so `SELECT * FROM t WHERE` is not a path named WHERE).
fn is_reserved(w: &str) -> bool {
    const WORDS: &[&str] = &[
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "is",
        "between",
        "set",
        "remove",
        "returning",
        "value",
        "values",
        "into",
        "order",
        "by",
        "missing",
        "true",
        "false",
        "null",
        "insert",
        "update",
        "delete",
        "exists",
    ];
    WORDS.iter().any(|k| w.eq_ignore_ascii_case(k))
}

/// Parses one statement, binding `?` to `params` in order. The error is a `ValidationException`
/// message.
pub fn parse(text: &str, params: Vec<AttributeValue>) -> Result<Statement, String> {
    let toks = lex(text)?;
    let given = params.len();
    let mut p = Parser {
        toks,
        pos: 0,
        params: params.into_iter(),
        used: 0,
        given,
    };
    let st = p.statement()?;
    p.eat_sym(";");
    if p.pos < p.toks.len() {
        return Err(malformed("Unexpected token after expression"));
    }
    if p.used != p.given {
        return Err(PARAM_COUNT.to_owned());
    }
    Ok(st)
}
