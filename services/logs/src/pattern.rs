//! CloudWatch Logs filter patterns: the language `FilterLogEvents` (and metric filters, subscription
//! filters and Live Tail) use to select log events, as AWS documents it in "Filter pattern syntax for
//! metric filters, subscription filters, filter log events, and Live Tail".
//!
//! Four kinds of pattern:
//!
//! - **Terms** (unstructured events): `ERROR`, `ERROR Exception` (all terms), `"Failed to process"`
//!   (an exact phrase), `?ERROR ?WARN` (any of the `?` terms), `ERROR -DEBUG` or `"ERROR" - "Exiting"`
//!   (exclusion), `%regex%`. Matching is case sensitive and looks for the term anywhere in the message.
//!   Unquoted terms may only hold letters, digits and `_`; anything else must be quoted, else AWS's
//!   `Invalid character(s) in term '…'`. The empty pattern and `" "` match every event.
//! - **JSON** (`{ … }`): selectors `$.a.b`, `$.a[0]`, `$.a[0][1]`; `=`, `!=` with strings (quoted or not,
//!   `*` as a wildcard at the start or end), numbers (also `<`, `<=`, `>`, `>=`, scientific notation) and
//!   `%regex%`; `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`; `&&`, `||` and parentheses, `&&`
//!   binding tighter. A selector must reach a value (string, number, boolean): one that reaches an
//!   object, an array or nothing makes its comparison false.
//! - **Space-delimited** (`[ip, user, ..., status_code = 4*, bytes > 1000]`): the message is split into
//!   fields at spaces, a `[…]` or `"…"` group being one field; named fields bind positionally, `...`
//!   stands for any number of fields, and conditions (`=`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||`,
//!   parentheses) test the named fields.
//! - **Regex** (`%…%`): AWS's restricted regex syntax (letters, digits, `_ # = @ / ; , - :` and the
//!   operators `^ $ ? [ ] { } | \ * + .`; no parentheses, no multi-byte characters).

use regex::Regex;

/// Why a pattern is invalid: the message AWS gives in its `InvalidParameterException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

impl PatternError {
    fn invalid() -> PatternError {
        PatternError("Invalid filter pattern".to_owned())
    }

    fn characters(chars: &str) -> PatternError {
        PatternError(format!("Invalid character(s) in term '{chars}'"))
    }
}

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    All,
    Terms(Terms),
    Json(Expr<Selector>),
    Delimited(Delimited),
}

impl FilterPattern {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<FilterPattern, PatternError> {
        let trimmed = text.trim();
        let kind = if trimmed.is_empty() {
            Kind::All
        } else if let Some(inner) = trimmed.strip_prefix('{') {
            let inner = inner.strip_suffix('}').ok_or_else(PatternError::invalid)?;
            Kind::Json(parse_json(inner)?)
        } else if let Some(inner) = trimmed.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(PatternError::invalid)?;
            Kind::Delimited(Delimited::parse(inner)?)
        } else {
            let terms = Terms::parse(trimmed)?;
            if terms.matches_everything() {
                Kind::All
            } else {
                Kind::Terms(terms)
            }
        };
        Ok(FilterPattern { kind })
    }

    /// True when the pattern matches everything (the empty pattern, `" "`).
    pub fn matches_all(&self) -> bool {
        matches!(self.kind, Kind::All)
    }

    /// True when `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Terms(terms) => terms.matches(message),
            Kind::Json(expr) => match serde_json::from_str::<serde_json::Value>(message.trim()) {
                Ok(doc) => expr.eval(&|selector: &Selector, test: &Test| {
                    test.check_json(selector.select(&doc))
                }),
                Err(_) => false,
            },
            Kind::Delimited(delimited) => delimited.matches(message),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Terms

#[derive(Debug, Clone)]
enum Term {
    Text(String),
    Regex(Regex),
}

impl Term {
    fn found_in(&self, message: &str) -> bool {
        match self {
            Term::Text(text) => message.contains(text.as_str()),
            Term::Regex(re) => re.is_match(message),
        }
    }

    fn is_blank(&self) -> bool {
        matches!(self, Term::Text(t) if t.trim().is_empty())
    }
}

#[derive(Debug, Clone, Default)]
struct Terms {
    all: Vec<Term>,
    any: Vec<Term>,
    none: Vec<Term>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TermRole {
    All,
    Any,
    None,
}

impl Terms {
    fn parse(text: &str) -> Result<Terms, PatternError> {
        let mut terms = Terms::default();
        let mut chars = text.chars().peekable();
        let mut role: Option<TermRole> = None;
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&c) = chars.peek() else { break };
            match c {
                '?' | '-' if role.is_none() => {
                    chars.next();
                    role = Some(if c == '?' {
                        TermRole::Any
                    } else {
                        TermRole::None
                    });
                    continue;
                }
                '"' => {
                    chars.next();
                    let mut text = String::new();
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => match chars.next() {
                                Some(escaped @ ('"' | '\\')) => text.push(escaped),
                                Some(other) => {
                                    text.push('\\');
                                    text.push(other);
                                }
                                None => text.push('\\'),
                            },
                            '"' => {
                                closed = true;
                                break;
                            }
                            other => text.push(other),
                        }
                    }
                    if !closed {
                        return Err(PatternError::invalid());
                    }
                    terms.push(role.take(), Term::Text(text));
                }
                '%' => {
                    chars.next();
                    let mut body = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '%' {
                            closed = true;
                            break;
                        }
                        body.push(c);
                    }
                    if !closed {
                        return Err(PatternError::invalid());
                    }
                    terms.push(role.take(), Term::Regex(compile_regex(&body)?));
                }
                _ => {
                    let mut word = String::new();
                    while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                        word.push(c);
                    }
                    let bad = invalid_chars(&word, |c| c.is_alphanumeric() || c == '_');
                    if !bad.is_empty() {
                        return Err(PatternError::characters(&bad));
                    }
                    terms.push(role.take(), Term::Text(word));
                }
            }
        }
        if role.is_some() {
            // A dangling `?` or `-`.
            return Err(PatternError::invalid());
        }
        Ok(terms)
    }

    fn push(&mut self, role: Option<TermRole>, term: Term) {
        match role.unwrap_or(TermRole::All) {
            TermRole::All => self.all.push(term),
            TermRole::Any => self.any.push(term),
            TermRole::None => self.none.push(term),
        }
    }

    /// `" "` (a quoted blank) and patterns made only of blanks match every event.
    fn matches_everything(&self) -> bool {
        self.none.is_empty()
            && self.all.iter().all(Term::is_blank)
            && (self.any.is_empty() || self.any.iter().any(Term::is_blank))
    }

    fn matches(&self, message: &str) -> bool {
        let found = |t: &Term| t.is_blank() || t.found_in(message);
        self.all.iter().all(found)
            && (self.any.is_empty() || self.any.iter().any(found))
            && !self
                .none
                .iter()
                .any(|t| !t.is_blank() && t.found_in(message))
    }
}

/// The characters of `word` that `ok` rejects, each once, in order.
fn invalid_chars(word: &str, ok: impl Fn(char) -> bool) -> String {
    let mut bad = String::new();
    for c in word.chars() {
        if !ok(c) && !bad.contains(c) {
            bad.push(c);
        }
    }
    bad
}

/// Compiles the body of a `%…%` regex after checking it against AWS's allowed characters.
fn compile_regex(body: &str) -> Result<Regex, PatternError> {
    if body.is_empty() {
        return Err(PatternError::invalid());
    }
    let bad = invalid_chars(body, |c| {
        c.is_ascii_alphanumeric() || "_#=@/;,-:^$?[]{}|\\*+.".contains(c)
    });
    if !bad.is_empty() {
        return Err(PatternError::characters(&bad));
    }
    Regex::new(body).map_err(|_| PatternError::invalid())
}

// ---------------------------------------------------------------------------------------------------
// Values and comparisons, shared by JSON and space-delimited patterns

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A string to compare with, `*` at its start or end being a wildcard (an inner `*` is literal, as
/// AWS documents: `Ev*ent` only matches `Ev*ent`).
#[derive(Debug, Clone)]
enum StrMatch {
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl StrMatch {
    fn new(text: &str) -> StrMatch {
        if text.chars().all(|c| c == '*') && !text.is_empty() {
            return StrMatch::Any;
        }
        let starts = text.starts_with('*');
        let ends = text.len() > 1 && text.ends_with('*');
        let inner = &text[usize::from(starts)..text.len() - usize::from(ends)];
        match (starts, ends) {
            (true, true) => StrMatch::Contains(inner.to_owned()),
            (true, false) => StrMatch::Suffix(inner.to_owned()),
            (false, true) => StrMatch::Prefix(inner.to_owned()),
            (false, false) => StrMatch::Exact(inner.to_owned()),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            StrMatch::Any => true,
            StrMatch::Exact(s) => value == s,
            StrMatch::Prefix(s) => value.starts_with(s.as_str()),
            StrMatch::Suffix(s) => value.ends_with(s.as_str()),
            StrMatch::Contains(s) => value.contains(s.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
enum Literal {
    Str(StrMatch),
    Num(f64, String),
    Regex(Regex),
}

/// What is compared: the textual form of a value, and its number when it is one.
struct Subject<'a> {
    text: std::borrow::Cow<'a, str>,
    number: Option<f64>,
}

impl Literal {
    fn compare(&self, op: Op, subject: &Subject<'_>) -> bool {
        match (self, op) {
            (Literal::Num(n, text), Op::Eq | Op::Ne) => {
                let equal = match subject.number {
                    Some(v) => v == *n,
                    None => subject.text == text.as_str(),
                };
                equal == (op == Op::Eq)
            }
            (Literal::Num(n, _), _) => match subject.number {
                Some(v) => match op {
                    Op::Lt => v < *n,
                    Op::Le => v <= *n,
                    Op::Gt => v > *n,
                    Op::Ge => v >= *n,
                    Op::Eq | Op::Ne => false,
                },
                None => false,
            },
            (Literal::Str(m), Op::Eq) => m.matches(&subject.text),
            (Literal::Str(m), Op::Ne) => !m.matches(&subject.text),
            (Literal::Regex(re), Op::Eq) => re.is_match(&subject.text),
            (Literal::Regex(re), Op::Ne) => !re.is_match(&subject.text),
            // Relational operators need a number.
            (Literal::Str(_) | Literal::Regex(_), _) => false,
        }
    }
}

fn parse_number(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    text.strip_prefix('+').unwrap_or(text).parse().ok()
}

/// A boolean expression over comparisons of `S` (a JSON selector or a delimited field name).
#[derive(Debug, Clone)]
enum Expr<S> {
    Or(Vec<Expr<S>>),
    And(Vec<Expr<S>>),
    Test(S, Test),
}

#[derive(Debug, Clone)]
enum Test {
    Cmp(Op, Literal),
    IsNull,
    IsBool(bool),
    NotExists,
    Exists,
}

impl<S> Expr<S> {
    fn eval(&self, test: &impl Fn(&S, &Test) -> bool) -> bool {
        match self {
            Expr::Or(parts) => parts.iter().any(|p| p.eval(test)),
            Expr::And(parts) => parts.iter().all(|p| p.eval(test)),
            Expr::Test(s, t) => test(s, t),
        }
    }

    fn visit_subjects<'a>(&'a self, f: &mut impl FnMut(&'a S)) {
        match self {
            Expr::Or(parts) | Expr::And(parts) => {
                for p in parts {
                    p.visit_subjects(f);
                }
            }
            Expr::Test(s, _) => f(s),
        }
    }
}

impl Test {
    fn check_json(&self, value: Option<&serde_json::Value>) -> bool {
        use serde_json::Value as J;
        match self {
            Test::NotExists => value.is_none(),
            Test::Exists => value.is_some(),
            Test::IsNull => matches!(value, Some(J::Null)),
            Test::IsBool(b) => matches!(value, Some(J::Bool(v)) if v == b),
            Test::Cmp(op, literal) => {
                let subject = match value {
                    Some(J::String(s)) => Subject {
                        text: std::borrow::Cow::Borrowed(s.as_str()),
                        number: parse_number(s),
                    },
                    Some(J::Number(n)) => Subject {
                        text: std::borrow::Cow::Owned(n.to_string()),
                        number: n.as_f64(),
                    },
                    Some(J::Bool(b)) => Subject {
                        text: std::borrow::Cow::Borrowed(if *b { "true" } else { "false" }),
                        number: None,
                    },
                    // Objects, arrays, null and absent fields: the filter does not apply.
                    _ => return false,
                };
                literal.compare(*op, &subject)
            }
        }
    }

    fn check_field(&self, value: Option<&str>) -> bool {
        match self {
            Test::NotExists => value.is_none(),
            Test::Exists => value.is_some(),
            Test::IsNull | Test::IsBool(_) => false,
            Test::Cmp(op, literal) => match value {
                Some(text) => literal.compare(
                    *op,
                    &Subject {
                        text: std::borrow::Cow::Borrowed(text),
                        number: parse_number(text),
                    },
                ),
                None => false,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// A small scanner for the expression languages

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Scanner<'a> {
        Scanner { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.text.len()
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Eats a keyword (case-insensitive) followed by a non-word character.
    fn eat_keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        if rest.len() >= word.len()
            && rest.is_char_boundary(word.len())
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn op(&mut self) -> Option<Op> {
        self.skip_ws();
        for (token, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(token) {
                return Some(op);
            }
        }
        None
    }

    /// A value: `"quoted"`, `%regex%`, a number, or an unquoted string.
    fn literal(&mut self) -> Result<Literal, PatternError> {
        self.skip_ws();
        match self.peek() {
            Some('"') => {
                self.pos += 1;
                let mut text = String::new();
                let mut chars = self.rest().char_indices();
                loop {
                    let Some((i, c)) = chars.next() else {
                        return Err(PatternError::invalid());
                    };
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                if escaped != '"' && escaped != '\\' {
                                    text.push('\\');
                                }
                                text.push(escaped);
                            }
                        }
                        '"' => {
                            self.pos += i + 1;
                            break;
                        }
                        other => text.push(other),
                    }
                }
                Ok(Literal::Str(StrMatch::new(&text)))
            }
            Some('%') => {
                self.pos += 1;
                let rest = self.rest();
                let end = rest.find('%').ok_or_else(PatternError::invalid)?;
                let body = &rest[..end];
                self.pos += end + 1;
                Ok(Literal::Regex(compile_regex(body)?))
            }
            Some(_) => {
                let word = self.take_while(|c| {
                    !c.is_whitespace() && !matches!(c, ')' | '(' | ',' | '&' | '|' | '}' | ']')
                });
                if word.is_empty() {
                    return Err(PatternError::invalid());
                }
                if let Some(n) = parse_number(word) {
                    return Ok(Literal::Num(n, word.to_owned()));
                }
                let bad = invalid_chars(word, |c| c.is_alphanumeric() || "_-.*+:/".contains(c));
                if !bad.is_empty() {
                    return Err(PatternError::characters(&bad));
                }
                Ok(Literal::Str(StrMatch::new(word)))
            }
            None => Err(PatternError::invalid()),
        }
    }

    /// `a || b || …` of `&&` groups of primaries (parenthesised expressions or tests).
    fn expr<S>(
        &mut self,
        subject: &impl Fn(&mut Scanner<'a>) -> Result<S, PatternError>,
        depth: usize,
    ) -> Result<Expr<S>, PatternError> {
        if depth > 64 {
            return Err(PatternError::invalid());
        }
        let mut ors = vec![self.and_expr(subject, depth)?];
        while self.eat("||") {
            ors.push(self.and_expr(subject, depth)?);
        }
        Ok(if ors.len() == 1 {
            ors.remove(0)
        } else {
            Expr::Or(ors)
        })
    }

    fn and_expr<S>(
        &mut self,
        subject: &impl Fn(&mut Scanner<'a>) -> Result<S, PatternError>,
        depth: usize,
    ) -> Result<Expr<S>, PatternError> {
        let mut ands = vec![self.primary(subject, depth)?];
        while self.eat("&&") {
            ands.push(self.primary(subject, depth)?);
        }
        Ok(if ands.len() == 1 {
            ands.remove(0)
        } else {
            Expr::And(ands)
        })
    }

    fn primary<S>(
        &mut self,
        subject: &impl Fn(&mut Scanner<'a>) -> Result<S, PatternError>,
        depth: usize,
    ) -> Result<Expr<S>, PatternError> {
        if self.eat("(") {
            let inner = self.expr(subject, depth + 1)?;
            if !self.eat(")") {
                return Err(PatternError::invalid());
            }
            return Ok(inner);
        }
        let s = subject(self)?;
        let test = if self.eat_keyword("IS") {
            if self.eat_keyword("NULL") {
                Test::IsNull
            } else if self.eat_keyword("TRUE") {
                Test::IsBool(true)
            } else if self.eat_keyword("FALSE") {
                Test::IsBool(false)
            } else {
                return Err(PatternError::invalid());
            }
        } else if self.eat_keyword("NOT") {
            if !self.eat_keyword("EXISTS") {
                return Err(PatternError::invalid());
            }
            Test::NotExists
        } else if self.eat_keyword("EXISTS") {
            Test::Exists
        } else {
            let op = self.op().ok_or_else(PatternError::invalid)?;
            Test::Cmp(op, self.literal()?)
        };
        Ok(Expr::Test(s, test))
    }
}

// ---------------------------------------------------------------------------------------------------
// JSON patterns

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `$.a.b[0]`: the path to a value of a JSON event.
#[derive(Debug, Clone, PartialEq)]
struct Selector(Vec<Step>);

impl Selector {
    fn parse(s: &mut Scanner<'_>) -> Result<Selector, PatternError> {
        s.skip_ws();
        if !s.eat("$") {
            let word = s.take_while(|c| !c.is_whitespace() && !"=!<>()".contains(c));
            let bad = invalid_chars(word, |c| c.is_alphanumeric() || c == '_');
            return Err(if bad.is_empty() {
                PatternError::invalid()
            } else {
                PatternError::characters(&bad)
            });
        }
        let mut steps = Vec::new();
        loop {
            let rest = s.rest();
            if let Some(after) = rest.strip_prefix('.') {
                let len = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(after.len());
                if len == 0 {
                    let bad: String = after.chars().take(1).collect();
                    return Err(if bad.is_empty() || bad.trim().is_empty() {
                        PatternError::invalid()
                    } else {
                        PatternError::characters(&format!("$.{bad}"))
                    });
                }
                steps.push(Step::Key(after[..len].to_owned()));
                s.pos += 1 + len;
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(PatternError::invalid)?;
                let index = after[..end]
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| PatternError::invalid())?;
                steps.push(Step::Index(index));
                s.pos += end + 2;
            } else {
                break;
            }
        }
        if steps.is_empty() {
            return Err(PatternError::invalid());
        }
        Ok(Selector(steps))
    }

    fn select<'v>(&self, doc: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        let mut at = doc;
        for step in &self.0 {
            at = match step {
                Step::Key(k) => at.as_object()?.get(k)?,
                Step::Index(i) => at.as_array()?.get(*i)?,
            };
        }
        Some(at)
    }
}

fn parse_json(inner: &str) -> Result<Expr<Selector>, PatternError> {
    let mut s = Scanner::new(inner);
    if s.at_end() {
        return Err(PatternError::invalid());
    }
    let expr = s.expr(&|s: &mut Scanner<'_>| Selector::parse(s), 0)?;
    if !s.at_end() {
        return Err(PatternError::invalid());
    }
    Ok(expr)
}

// ---------------------------------------------------------------------------------------------------
// Space-delimited patterns

#[derive(Debug, Clone)]
enum Slot {
    /// `...`: any number of fields.
    Ellipsis,
    /// One field, bound to a name.
    Field(String),
}

#[derive(Debug, Clone)]
struct Delimited {
    slots: Vec<Slot>,
    conditions: Vec<Expr<String>>,
}

fn field_name(s: &mut Scanner<'_>) -> Result<String, PatternError> {
    s.skip_ws();
    let name = s.take_while(|c| c.is_alphanumeric() || c == '_' || c == '$');
    if name.is_empty() {
        return Err(PatternError::invalid());
    }
    Ok(name.to_owned())
}

impl Delimited {
    fn parse(inner: &str) -> Result<Delimited, PatternError> {
        if inner.trim().is_empty() {
            return Err(PatternError::invalid());
        }
        let mut slots = Vec::new();
        let mut conditions = Vec::new();
        let mut s = Scanner::new(inner);
        loop {
            if s.at_end() || s.peek() == Some(',') {
                // An empty slot (`[a, , b]` or a trailing comma): a field without a name.
                slots.push(Slot::Field(String::new()));
            } else if s.eat("...") {
                slots.push(Slot::Ellipsis);
            } else {
                let start = s.pos;
                let name = field_name(&mut s)?;
                if s.at_end() || s.peek() == Some(',') {
                    slots.push(Slot::Field(name));
                } else {
                    s.pos = start;
                    let expr = s.expr(&|s: &mut Scanner<'_>| field_name(s), 0)?;
                    let mut first = None;
                    expr.visit_subjects(&mut |n: &String| {
                        first.get_or_insert_with(|| n.clone());
                    });
                    slots.push(Slot::Field(first.ok_or_else(PatternError::invalid)?));
                    conditions.push(expr);
                }
            }
            if s.at_end() {
                break;
            }
            if !s.eat(",") {
                return Err(PatternError::invalid());
            }
        }
        if slots.is_empty() {
            return Err(PatternError::invalid());
        }
        let names: Vec<&String> = slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Field(n) => Some(n),
                Slot::Ellipsis => None,
            })
            .collect();
        for condition in &conditions {
            let mut unknown = false;
            condition.visit_subjects(&mut |n: &String| unknown |= !names.contains(&n));
            if unknown {
                return Err(PatternError::invalid());
            }
        }
        Ok(Delimited { slots, conditions })
    }

    fn matches(&self, message: &str) -> bool {
        let fields = split_fields(message);
        let mut bound: Vec<(&str, &str)> = Vec::new();
        let check = |bound: &[(&str, &str)]| {
            let lookup = |name: &String| {
                bound
                    .iter()
                    .find(|(n, _)| *n == name.as_str())
                    .map(|(_, v)| *v)
            };
            self.conditions
                .iter()
                .all(|c| c.eval(&|name: &String, test: &Test| test.check_field(lookup(name))))
        };
        bind(&self.slots, &fields, &mut bound, &check)
    }
}

/// Binds `slots` to `fields` and checks the conditions; `...` takes any number of fields, every way
/// being tried until one satisfies the conditions.
fn bind<'a>(
    slots: &'a [Slot],
    fields: &[&'a str],
    bound: &mut Vec<(&'a str, &'a str)>,
    check: &impl Fn(&[(&'a str, &'a str)]) -> bool,
) -> bool {
    match slots.split_first() {
        None => fields.is_empty() && check(bound),
        Some((Slot::Field(name), rest)) => match fields.split_first() {
            Some((value, more)) => {
                bound.push((name.as_str(), value));
                if bind(rest, more, bound, check) {
                    return true;
                }
                bound.pop();
                false
            }
            None => false,
        },
        Some((Slot::Ellipsis, rest)) => {
            let mark = bound.len();
            for skip in 0..=fields.len() {
                if bind(rest, &fields[skip..], bound, check) {
                    return true;
                }
                bound.truncate(mark);
            }
            false
        }
    }
}

/// Splits a message into fields at whitespace; `[…]` and `"…"` are one field each, without the
/// brackets or quotes.
fn split_fields(message: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let bytes = message.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let close = match bytes[i] {
            b'"' => Some(b'"'),
            b'[' => Some(b']'),
            _ => None,
        };
        if let Some(close) = close
            && let Some(len) = bytes[i + 1..].iter().position(|&b| b == close)
        {
            fields.push(&message[i + 1..i + 1 + len]);
            i += len + 2;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(&message[start..i]);
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, message: &str) -> bool {
        FilterPattern::parse(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .matches(message)
    }

    fn err(pattern: &str) -> String {
        match FilterPattern::parse(pattern) {
            Ok(_) => panic!("{pattern} parsed"),
            Err(e) => e.0,
        }
    }

    // --- Unstructured log events (AWS's "Matching terms in unstructured log events") ---

    #[test]
    fn empty_pattern_and_quoted_blank_match_everything() {
        for p in ["", "   ", "\" \""] {
            assert!(FilterPattern::parse(p).unwrap().matches_all(), "{p:?}");
            assert!(m(p, "anything at all"));
        }
    }

    #[test]
    fn single_term() {
        // "ERROR" matches "[ERROR] A fatal exception has occurred" and "Exiting with ERRORCODE: -1".
        assert!(m("ERROR", "[ERROR] A fatal exception has occurred"));
        assert!(m("ERROR", "Exiting with ERRORCODE: -1"));
        assert!(m("\"ERROR\"", "[ERROR 400] BAD REQUEST"));
        assert!(!m("ERROR", "[INFO] all good"));
        // Case sensitive.
        assert!(!m("ERROR", "error: lower case"));
    }

    #[test]
    fn include_and_exclude() {
        // "ERROR" - "Exiting": the event "Exiting with ERRORCODE: -1" is excluded.
        let p = "\"ERROR\" - \"Exiting\"";
        assert!(m(p, "[ERROR] A fatal exception has occurred"));
        assert!(!m(p, "Exiting with ERRORCODE: -1"));
        assert!(m("ERROR -ARGUMENTS", "[ERROR 401] UNAUTHORIZED REQUEST"));
        assert!(!m("ERROR -ARGUMENTS", "[ERROR 400] BAD REQUEST ARGUMENTS"));
        // Only an exclusion: everything else matches.
        assert!(m("-DEBUG", "INFO hello"));
        assert!(!m("-DEBUG", "DEBUG hello"));
    }

    #[test]
    fn multiple_terms_all_must_match() {
        let p = "ERROR Exception";
        assert!(m(p, "[ERROR] Caught IllegalArgumentException"));
        assert!(m(p, "[ERROR] Unhandled Exception"));
        assert!(!m(p, "[ERROR] nothing else"));
        let p = "Failed to process the request";
        assert!(m(p, "[WARN] Failed to process the request"));
        assert!(m(
            p,
            "[ERROR] Unable to continue: Failed to process the request"
        ));
        assert!(!m(p, "[WARN] Failed to process"));
    }

    #[test]
    fn or_terms() {
        // The three events of AWS's OR example.
        let events = ["ERROR WARN message", "ERROR message", "WARN message"];
        let hits = |p: &str| events.iter().map(|e| m(p, e)).collect::<Vec<_>>();
        assert_eq!(hits("ERROR"), [true, true, false]);
        assert_eq!(hits("?ERROR ?WARN"), [true, true, true]);
        assert_eq!(hits("ERROR WARN"), [true, false, false]);
        assert_eq!(hits("ERROR -WARN"), [false, true, false]);
        assert!(m("?ERROR ?Exception", "Unhandled Exception"));
        assert!(!m("?ERROR ?Exception", "all fine"));
    }

    #[test]
    fn exact_phrases() {
        assert!(m(
            "\"INTERNAL SERVER ERROR\"",
            "[ERROR 500] INTERNAL SERVER ERROR"
        ));
        assert!(!m("\"INTERNAL SERVER ERROR\"", "INTERNAL ERROR SERVER"));
        assert!(m("\"ERROR 401\"", "[ERROR 401] UNAUTHORIZED REQUEST"));
        assert!(m(r#""say \"hi\"""#, r#"they say "hi" here"#));
        assert!(m(
            "\"Task timed out\"",
            "2024-01-01 Task timed out after 3.00 seconds"
        ));
    }

    #[test]
    fn unquoted_terms_with_other_characters_are_rejected() {
        assert_eq!(err("?Status:"), "Invalid character(s) in term ':'");
        assert_eq!(err("a,b"), "Invalid character(s) in term ','");
        assert_eq!(err("foo(bar)"), "Invalid character(s) in term '()'");
        assert_eq!(err("[ERROR"), "Invalid filter pattern");
        assert_eq!(err("\"unterminated"), "Invalid filter pattern");
        assert_eq!(err("ERROR ?"), "Invalid filter pattern");
        assert!(m("request_id", "the request_id is 1"));
    }

    #[test]
    fn regex_terms() {
        // %AUTHORIZED% matches both events of AWS's example.
        assert!(m("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST"));
        assert!(m("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST"));
        assert!(m("%colou?r%", "the color"));
        assert!(m("%colou?r%", "the colour"));
        assert!(m("%gray|grey%", "grey sky"));
        assert!(m("%10\\.10\\.0\\.1%", "from 10.10.0.1"));
        assert!(!m("%10\\.10\\.0\\.1%", "from 10a10.0.1"));
        assert!(m("%^START%", "START RequestId: 1"));
        assert!(!m("%^START%", "x START"));
        assert!(m("%[0-9]{3}%", "code 404"));
        // Characters AWS does not allow in a regex.
        assert_eq!(err("%something!%"), "Invalid character(s) in term '!'");
        assert_eq!(err("%(a|b)%"), "Invalid character(s) in term '()'");
        assert_eq!(err("%abc"), "Invalid filter pattern");
    }

    // --- JSON log events ---

    const CLOUDTRAIL: &str = r#"{
      "eventType": "UpdateTrail",
      "sourceIPAddress": "111.111.111.111",
      "arrayKey": ["value", "another value"],
      "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
      "SomeObject": null,
      "ThisFlag": true
    }"#;

    #[test]
    fn json_documented_selectors() {
        for p in [
            r#"{ $.eventType = "UpdateTrail" }"#,
            "{ $.eventType = UpdateTrail }",
            "{ $.sourceIPAddress != 123.123.* }",
            r#"{ $.arrayKey[0] = "value" }"#,
            "{ $.objectList[1].id = 2 }",
            "{ $.SomeObject IS NULL }",
            "{ $.SomeOtherObject NOT EXISTS }",
            "{ $.ThisFlag IS TRUE }",
            "{$.eventType=UpdateTrail}",
        ] {
            assert!(m(p, CLOUDTRAIL), "{p}");
        }
        for p in [
            r#"{ $.eventType = "DeleteTrail" }"#,
            "{ $.sourceIPAddress != 111.111.* }",
            r#"{ $.arrayKey[1] = "value" }"#,
            "{ $.objectList[1].id = 1 }",
            "{ $.objectList[5].id = 2 }",
            "{ $.eventType IS NULL }",
            "{ $.eventType NOT EXISTS }",
            "{ $.ThisFlag IS FALSE }",
            // Not an array: false.
            r#"{ $.eventType[0] = "UpdateTrail" }"#,
            // A selector reaching an object or an array does not apply, with = or !=.
            "{ $.arrayKey = 1 }",
            "{ $.arrayKey != 1 }",
            // Absent fields.
            r#"{ $.missing != "x" }"#,
        ] {
            assert!(!m(p, CLOUDTRAIL), "{p}");
        }
        // Not JSON: no match.
        assert!(!m(
            r#"{ $.eventType = "UpdateTrail" }"#,
            "eventType UpdateTrail"
        ));
    }

    #[test]
    fn json_wildcards() {
        let e = r#"{"eventName": "PutEvent", "other": "EventId", "third": "Ev*ent"}"#;
        assert!(m("{ $.eventName = *Event }", e));
        assert!(m("{ $.other = Event* }", e));
        assert!(m("{ $.other = *ent* }", e));
        assert!(!m("{ $.eventName = Event* }", e));
        // An inner * is literal.
        assert!(m(r#"{ $.third = "Ev*ent" }"#, e));
        assert!(!m(r#"{ $.eventName = "Pu*ent" }"#, e));
        // * alone: any value.
        assert!(m("{ $.eventName = * }", e));
        assert!(m(r#"{ $.eventName = "*" }"#, e));
        assert!(!m("{ $.nope = * }", e));
        assert!(m("{ $.latency = * }", r#"{"latency": 12}"#));
    }

    const USERS: &str = r#"{
      "user": {"id": 1, "email": "John.Stiles@example.com"},
      "users": [
        {"id": 2, "email": "John.Doe@example.com"},
        {"id": 3, "email": "Jane.Doe@example.com"}
      ],
      "actions": ["GET", "PUT", "DELETE"],
      "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]
    }"#;

    #[test]
    fn json_compound_conditions() {
        assert!(m(
            r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#,
            USERS
        ));
        assert!(!m(
            r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#,
            USERS
        ));
        assert!(m(
            r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }"#,
            USERS
        ));
        assert!(!m(
            r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }"#,
            USERS
        ));
        assert!(m("{ $.coordinates[2][0] = 7 }", USERS));
        assert!(m("{ $.actions[1] = PUT && $.user.id = 1 }", USERS));
        // OR across events: {$.foo = bar}, {$.foo = baz}, {$.foo = bar || $.foo = baz}.
        let (bar, baz) = (r#"{"foo": "bar"}"#, r#"{"foo": "baz"}"#);
        assert!(m("{$.foo = bar}", bar) && !m("{$.foo = bar}", baz));
        assert!(m("{$.foo = baz }", baz) && !m("{$.foo = baz }", bar));
        assert!(m("{$.foo = bar || $.foo = baz }", bar));
        assert!(m("{$.foo = bar || $.foo = baz }", baz));
    }

    #[test]
    fn json_numeric_comparisons() {
        let e = r#"{"latency": 500, "numbers": [9999, 0.001], "errorCode": 400,
                    "processes": [0, 0, 0, 0, {"averageRuntime": 55.5}], "text": "400"}"#;
        for p in [
            "{ $.latency >= 500 }",
            "{ $.numbers[0] < 10e3 }",
            "{ $.numbers[1] < 10e-3 }",
            "{ $.processes[4].averageRuntime <= 55.5 }",
            "{ $.errorCode = 400 }",
            "{ $.errorCode != 500 }",
            "{ $.latency > +100 }",
            "{ $.latency > -1 }",
            "{ $.latency = 5e2 }",
            "{ $.text = 400 }",
        ] {
            assert!(m(p, e), "{p}");
        }
        for p in [
            "{ $.latency > 500 }",
            "{ $.latency > +1000 }",
            "{ $.numbers[0] < 10e-3 }",
            "{ $.errorCode != 400 }",
            "{ $.errorCode < 400 }",
            "{ $.missing < 1 }",
        ] {
            assert!(!m(p, e), "{p}");
        }
    }

    #[test]
    fn json_regex_values() {
        let e = r#"{"eventType": "UpdateTrail", "message": "bind: address already in use"}"#;
        assert!(m("{ $.eventType = %Update% }", e));
        assert!(m("{ $.eventType != %^Delete% }", e));
        assert!(!m("{ $.eventType = %^Trail% }", e));
    }

    #[test]
    fn invalid_json_patterns() {
        assert_eq!(
            err(r#"{ $."sc-status" = 5* }"#),
            "Invalid character(s) in term '$.\"'"
        );
        for p in [
            "{ }",
            "{ $.a = }",
            "{ $.a == 1 ",
            "{ $.a = 1 && }",
            "{ ($.a = 1 }",
            "{ $.a IS MAYBE }",
            "{ $.a NOT THERE }",
            "{ $ = 1 }",
            "{ $.a[x] = 1 }",
            "{ $.a = 1 $.b = 2 }",
        ] {
            assert_eq!(err(p), "Invalid filter pattern", "{p}");
        }
        assert_eq!(
            err(r#"{ $.a = foo@bar }"#),
            "Invalid character(s) in term '@'"
        );
        assert!(m(r#"{ $.a = "foo@bar" }"#, r#"{"a": "foo@bar"}"#));
        assert!(m("{ $.detail-type = \"x\" }", r#"{"detail-type": "x"}"#));
    }

    // --- Space-delimited log events ---

    const APACHE: [&str; 3] = [
        r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#,
        r#"127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324"#,
        r#"127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355"#,
    ];

    fn hits(pattern: &str, events: &[&str]) -> Vec<bool> {
        events.iter().map(|e| m(pattern, e)).collect()
    }

    #[test]
    fn delimited_fields_and_ellipsis() {
        for p in [
            "[ip, user, username, timestamp, request, status_code, bytes]",
            "[..., status_code, bytes]",
            "[ip, user, ..., status_code, bytes]",
            "[ip, user, ...]",
        ] {
            assert_eq!(hits(p, &APACHE), [true, true, true], "{p}");
        }
        // The wrong number of fields.
        assert_eq!(hits("[ip, user, username]", &APACHE), [false, false, false]);
        assert_eq!(
            hits("[a, b, c, d, e, f, g, h]", &APACHE),
            [false, false, false]
        );
    }

    #[test]
    fn delimited_conditions() {
        let f = "[ip, user, username, timestamp, request, status_code, bytes";
        let p = |cond: &str| format!("{f}{cond}]");
        assert_eq!(hits(&p(" > 1000"), &APACHE), [true, true, true]);
        assert_eq!(hits(&p(" > 5000"), &APACHE), [false, true, false]);
        let p2 = |status: &str| {
            format!("[ip, user, username, timestamp, request, status_code {status}, bytes]")
        };
        assert_eq!(hits(&p2("= 200"), &APACHE), [true, false, true]);
        assert_eq!(hits(&p2("= 5*"), &APACHE), [false, true, false]);
        assert_eq!(hits(&p2("!= 200"), &APACHE), [false, true, false]);
        assert_eq!(
            hits(
                "[ip, user, username, timestamp, request = *gif*, status_code = 2*, bytes]",
                &APACHE
            ),
            [true, false, true]
        );
        assert_eq!(
            hits(
                "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]",
                &APACHE
            ),
            [false, false, false]
        );
        assert_eq!(
            hits(
                "[ip, user, username, timestamp, request, status_code = 2* && status_code != 201, bytes]",
                &APACHE
            ),
            [true, false, true]
        );
        // The extracted fields of AWS's example: request and status code.
        let e =
            r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
        assert!(m("[..., request=*.html*, status_code=4*,]", e));
        assert!(m(
            "[ip, user, username, timestamp = 10/Oct*, request, status_code, bytes]",
            e
        ));
        assert!(m("[ip = %127\\.0\\.0\\.1%, ...]", e));
    }

    #[test]
    fn delimited_or_conditions() {
        let events = ["ERROR WARN message", "ERROR message", "WARN message"];
        assert_eq!(hits("[w1=ERROR, w2]", &events), [false, true, false]);
        assert_eq!(
            hits("[w1=ERROR || w1=WARN, w2]", &events),
            [false, true, true]
        );
        assert_eq!(
            hits("[w1=ERROR || w1=WARN, ...]", &events),
            [true, true, true]
        );
        assert_eq!(
            hits("[w1!=ERROR && w1!=WARN, ...]", &events),
            [false, false, false]
        );
        assert_eq!(
            hits("[w1, w2=WARN || w2=message, ...]", &events),
            [true, true, true]
        );
    }

    #[test]
    fn invalid_delimited_patterns() {
        for p in [
            "[]",
            "[a b]",
            "[a, b = ]",
            "[a, b = 1 && other = 2]",
            "[a, (b = 1]",
        ] {
            assert_eq!(err(p), "Invalid filter pattern", "{p}");
        }
    }

    #[test]
    fn split_fields_keeps_brackets_and_quotes_together() {
        assert_eq!(
            split_fields(APACHE[0]),
            [
                "127.0.0.1",
                "-",
                "frank",
                "10/Oct/2000:13:25:15 -0700",
                "GET /apache_pb.gif HTTP/1.0",
                "200",
                "1534"
            ]
        );
        assert_eq!(split_fields("  a   b "), ["a", "b"]);
        assert_eq!(split_fields("[unclosed x"), ["[unclosed", "x"]);
    }

    #[test]
    fn numbers() {
        for (text, value) in [
            ("1", 1.0),
            ("+1000", 1000.0),
            ("-2.5", -2.5),
            ("10e3", 10e3),
        ] {
            assert_eq!(parse_number(text), Some(value), "{text}");
        }
        for text in ["4*", "1.", ".5", "e3", "1e", "0x10", "", "+", "1.2.3"] {
            assert_eq!(parse_number(text), None, "{text}");
        }
    }
}
