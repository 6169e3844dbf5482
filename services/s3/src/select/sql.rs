//! The SQL subset of S3 Select: `SELECT <* | expr [AS name], ...> FROM S3Object[[*]] [[AS] alias]
//! [WHERE cond] [LIMIT n]`, with column references (`s._1`, `s.name`, `s."Name"`, nested `s.a.b[0]` for
//! JSON), literals, arithmetic, `||`, comparisons, `AND`/`OR`/`NOT`, `LIKE` (with `ESCAPE`), `BETWEEN`,
//! `IN`, `IS [NOT] NULL|MISSING`, `CAST(x AS INT|INTEGER|FLOAT|DECIMAL|NUMERIC|STRING|BOOL)`, the string
//! functions `LOWER`, `UPPER`, `CHAR_LENGTH`/`CHARACTER_LENGTH`, `TRIM`, `SUBSTRING(x, from[, for])`,
//! `COALESCE`, `NULLIF`, and the aggregates `COUNT`, `SUM`, `AVG`, `MIN`, `MAX` (over the whole
//! selection; S3 Select has no `GROUP BY`).

use std::fmt;

/// A parse error: S3's `ParseUnexpectedToken`-style code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub code: &'static str,
    pub message: String,
}

impl SqlError {
    fn new(code: &'static str, message: impl Into<String>) -> SqlError {
        SqlError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Num(String),
    Sym(&'static str),
}

fn lex(text: &str) -> Result<Vec<Tok>, SqlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SqlError::new(
                            "LexerInvalidLiteral",
                            "Invalid literal: unterminated quote",
                        ));
                    }
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&x) => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            out.push(if c == '\'' {
                Tok::Str(s)
            } else {
                Tok::Quoted(s)
            });
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || chars[i] == 'e'
                    || chars[i] == 'E')
            {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = match two.as_str() {
                "<=" => Some("<="),
                ">=" => Some(">="),
                "<>" | "!=" => Some("<>"),
                "||" => Some("||"),
                _ => None,
            };
            if let Some(s) = sym {
                out.push(Tok::Sym(s));
                i += 2;
                continue;
            }
            let one = match c {
                '=' => "=",
                '<' => "<",
                '>' => ">",
                '+' => "+",
                '-' => "-",
                '*' => "*",
                '/' => "/",
                '%' => "%",
                ',' => ",",
                '.' => ".",
                '(' => "(",
                ')' => ")",
                '[' => "[",
                ']' => "]",
                _ => {
                    return Err(SqlError::new(
                        "LexerInvalidChar",
                        format!("Invalid character: {c}"),
                    ));
                }
            };
            out.push(Tok::Sym(one));
            i += 1;
        }
    }
    Ok(out)
}

/// A path step after the record: a field name (`case_sensitive` when double-quoted) or a list index.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Field {
        name: String,
        case_sensitive: bool,
    },
    Index(usize),
    /// `[*]`.
    All,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    Num(f64, bool),
    Str(String),
    /// A reference into the record.
    Path(Vec<Step>),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Like(Box<Expr>, Box<Expr>, Option<Box<Expr>>, bool),
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    In(Box<Expr>, Vec<Expr>, bool),
    Is(Box<Expr>, &'static str, bool),
    Cast(Box<Expr>, String),
    Call(String, Vec<Expr>),
    /// `COUNT(*)`.
    CountAll,
}

/// One projected column.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub expr: Expr,
    pub alias: Option<String>,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None`: `SELECT *`.
    pub items: Option<Vec<Item>>,
    pub condition: Option<Expr>,
    pub limit: Option<u64>,
    pub aggregate: bool,
}

const AGGREGATES: &[&str] = &["COUNT", "SUM", "AVG", "MIN", "MAX"];

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    alias: Option<String>,
}

fn unexpected(what: &str) -> SqlError {
    SqlError::new(
        "ParseUnexpectedToken",
        format!("Unexpected token found {what} while parsing the expression"),
    )
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(k))
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        if self.keyword(k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, k: &str) -> Result<(), SqlError> {
        if self.eat_keyword(k) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), SqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn error(&self) -> SqlError {
        match self.peek() {
            None => SqlError::new(
                "ParseExpectedExpression",
                "Expected expression at the end of the query",
            ),
            Some(t) => unexpected(&format!("{t:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.and()?;
        while self.eat_keyword("OR") {
            left = Expr::Binary("OR", Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.not()?;
        while self.eat_keyword("AND") {
            left = Expr::Binary("AND", Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, SqlError> {
        if self.eat_keyword("NOT") {
            return Ok(Expr::Unary("NOT", Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SqlError> {
        let left = self.additive()?;
        for op in ["=", "<>", "<=", ">=", "<", ">"] {
            if self.eat_sym(op) {
                return Ok(Expr::Binary(op, Box::new(left), Box::new(self.additive()?)));
            }
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("LIKE") {
            let pattern = self.additive()?;
            let escape = if self.eat_keyword("ESCAPE") {
                Some(Box::new(self.additive()?))
            } else {
                None
            };
            return Ok(Expr::Like(
                Box::new(left),
                Box::new(pattern),
                escape,
                negated,
            ));
        }
        if self.eat_keyword("BETWEEN") {
            let lo = self.additive()?;
            self.expect_keyword("AND")?;
            let hi = self.additive()?;
            return Ok(Expr::Between(
                Box::new(left),
                Box::new(lo),
                Box::new(hi),
                negated,
            ));
        }
        if self.eat_keyword("IN") {
            let close = if self.eat_sym("(") {
                ")"
            } else {
                self.expect_sym("[")?;
                "]"
            };
            let mut list = vec![self.additive()?];
            while self.eat_sym(",") {
                list.push(self.additive()?);
            }
            self.expect_sym(close)?;
            return Ok(Expr::In(Box::new(left), list, negated));
        }
        if negated {
            return Err(self.error());
        }
        if self.eat_keyword("IS") {
            let not = self.eat_keyword("NOT");
            let what = if self.eat_keyword("NULL") {
                "NULL"
            } else if self.eat_keyword("MISSING") {
                "MISSING"
            } else {
                return Err(self.error());
            };
            return Ok(Expr::Is(Box::new(left), what, not));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.eat_sym("+") {
                "+"
            } else if self.eat_sym("-") {
                "-"
            } else if self.eat_sym("||") {
                "||"
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat_sym("*") {
                "*"
            } else if self.eat_sym("/") {
                "/"
            } else if self.eat_sym("%") {
                "%"
            } else {
                return Ok(left);
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, SqlError> {
        if self.eat_sym("-") {
            return Ok(Expr::Unary("-", Box::new(self.unary()?)));
        }
        self.eat_sym("+");
        self.primary()
    }

    fn steps(&mut self, first: Step) -> Result<Vec<Step>, SqlError> {
        let mut steps = vec![first];
        loop {
            if self.eat_sym(".") {
                match self.toks.get(self.pos).cloned() {
                    Some(Tok::Ident(n)) => {
                        self.pos += 1;
                        steps.push(Step::Field {
                            name: n,
                            case_sensitive: false,
                        });
                    }
                    Some(Tok::Quoted(n)) => {
                        self.pos += 1;
                        steps.push(Step::Field {
                            name: n,
                            case_sensitive: true,
                        });
                    }
                    _ => return Err(self.error()),
                }
            } else if self.eat_sym("[") {
                match self.toks.get(self.pos).cloned() {
                    Some(Tok::Num(n)) => {
                        self.pos += 1;
                        steps.push(Step::Index(n.parse().map_err(|_| unexpected(&n))?));
                    }
                    Some(Tok::Sym("*")) => {
                        self.pos += 1;
                        steps.push(Step::All);
                    }
                    _ => return Err(self.error()),
                }
                self.expect_sym("]")?;
            } else {
                return Ok(steps);
            }
        }
    }

    /// A path, without the FROM alias in front.
    fn path(&self, mut steps: Vec<Step>) -> Expr {
        if let (Some(alias), Some(Step::Field { name, .. })) = (&self.alias, steps.first())
            && name.eq_ignore_ascii_case(alias)
            && steps.len() > 1
        {
            steps.remove(0);
        }
        Expr::Path(steps)
    }

    fn primary(&mut self) -> Result<Expr, SqlError> {
        let Some(tok) = self.toks.get(self.pos).cloned() else {
            return Err(self.error());
        };
        self.pos += 1;
        match tok {
            Tok::Num(n) => {
                let int = !n.contains(['.', 'e', 'E']);
                let v: f64 = n.parse().map_err(|_| unexpected(&n))?;
                Ok(Expr::Num(v, int))
            }
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Quoted(q) => {
                let steps = self.steps(Step::Field {
                    name: q,
                    case_sensitive: true,
                })?;
                Ok(self.path(steps))
            }
            Tok::Sym("(") => {
                let e = self.or()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Ident(word) => {
                let upper = word.to_ascii_uppercase();
                match upper.as_str() {
                    "NULL" => return Ok(Expr::Null),
                    "TRUE" => return Ok(Expr::Bool(true)),
                    "FALSE" => return Ok(Expr::Bool(false)),
                    _ => {}
                }
                if self.eat_sym("(") {
                    if upper == "CAST" {
                        let e = self.or()?;
                        self.expect_keyword("AS")?;
                        let Some(Tok::Ident(t)) = self.toks.get(self.pos).cloned() else {
                            return Err(self.error());
                        };
                        self.pos += 1;
                        self.expect_sym(")")?;
                        return Ok(Expr::Cast(Box::new(e), t.to_ascii_uppercase()));
                    }
                    if upper == "COUNT" && self.eat_sym("*") {
                        self.expect_sym(")")?;
                        return Ok(Expr::CountAll);
                    }
                    let mut args = Vec::new();
                    if !self.eat_sym(")") {
                        args.push(self.or()?);
                        loop {
                            if self.eat_sym(",")
                                || self.eat_keyword("FROM")
                                || self.eat_keyword("FOR")
                            {
                                args.push(self.or()?);
                            } else {
                                break;
                            }
                        }
                        self.expect_sym(")")?;
                    }
                    return Ok(Expr::Call(upper, args));
                }
                let steps = self.steps(Step::Field {
                    name: word,
                    case_sensitive: false,
                })?;
                Ok(self.path(steps))
            }
            t => Err(unexpected(&format!("{t:?}"))),
        }
    }
}

fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::CountAll => true,
        Expr::Call(name, args) => {
            AGGREGATES.contains(&name.as_str()) || args.iter().any(has_aggregate)
        }
        Expr::Unary(_, a) | Expr::Cast(a, _) | Expr::Is(a, _, _) => has_aggregate(a),
        Expr::Binary(_, a, b) => has_aggregate(a) || has_aggregate(b),
        _ => false,
    }
}

/// Parses a query.
pub fn parse(text: &str) -> Result<Query, SqlError> {
    let toks = lex(text)?;
    // The FROM clause first: its alias shortens paths everywhere.
    // The FROM outside parentheses (`SUBSTRING(x FROM 1)` has one inside).
    let mut depth = 0i32;
    let from = toks
        .iter()
        .position(|t| {
            match t {
                Tok::Sym("(") => depth += 1,
                Tok::Sym(")") => depth -= 1,
                _ => {}
            }
            depth == 0 && matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case("FROM"))
        })
        .ok_or_else(|| SqlError::new("ParseMissingIdentAfterAt", "FROM clause is missing"))?;
    let mut p = Parser {
        toks,
        pos: from + 1,
        alias: None,
    };
    match p.toks.get(p.pos).cloned() {
        Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("S3Object") => p.pos += 1,
        _ => {
            return Err(SqlError::new(
                "ParseInvalidPathComponent",
                "The FROM clause must name S3Object",
            ));
        }
    }
    // `S3Object[*]` and `S3Object[*].path` (JSON documents): the records are the object's top level.
    if p.sym("[") {
        p.steps(Step::All)?;
    }
    p.eat_keyword("AS");
    if let Some(Tok::Ident(a)) = p.toks.get(p.pos).cloned()
        && !["WHERE", "LIMIT"].iter().any(|k| a.eq_ignore_ascii_case(k))
    {
        p.alias = Some(a);
        p.pos += 1;
    }
    let condition = if p.eat_keyword("WHERE") {
        Some(p.or()?)
    } else {
        None
    };
    let limit = if p.eat_keyword("LIMIT") {
        match p.toks.get(p.pos).cloned() {
            Some(Tok::Num(n)) => {
                p.pos += 1;
                Some(n.parse().map_err(|_| unexpected(&n))?)
            }
            _ => return Err(p.error()),
        }
    } else {
        None
    };
    if p.pos != p.toks.len() {
        return Err(p.error());
    }
    let tail = p.toks.split_off(from);
    p.pos = 0;
    if !p.eat_keyword("SELECT") {
        return Err(SqlError::new(
            "ParseUnsupportedSelect",
            "The query must start with SELECT",
        ));
    }
    let items = if p.eat_sym("*") {
        None
    } else {
        let mut items = Vec::new();
        loop {
            let expr = p.or()?;
            let alias = if p.eat_keyword("AS") {
                match p.toks.get(p.pos).cloned() {
                    Some(Tok::Ident(a) | Tok::Quoted(a)) => {
                        p.pos += 1;
                        Some(a)
                    }
                    _ => return Err(p.error()),
                }
            } else {
                None
            };
            items.push(Item { expr, alias });
            if !p.eat_sym(",") {
                break;
            }
        }
        Some(items)
    };
    if p.pos != p.toks.len() {
        return Err(p.error());
    }
    p.toks.extend(tail);
    let aggregate = items
        .as_ref()
        .is_some_and(|items| items.iter().any(|i| has_aggregate(&i.expr)));
    if aggregate
        && items
            .as_ref()
            .is_some_and(|items| items.iter().any(|i| !has_aggregate(&i.expr)))
    {
        return Err(SqlError::new(
            "UnsupportedSyntax",
            "Aggregate and non-aggregate columns cannot be mixed without GROUP BY",
        ));
    }
    Ok(Query {
        items,
        condition,
        limit,
        aggregate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q = parse("select s._1, s.\"Name\" as n from S3Object s where cast(s._3 as int) > 10 and s.city like 'B%' limit 5").unwrap();
        let items = q.items.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].alias.as_deref(), Some("n"));
        assert_eq!(
            items[0].expr,
            Expr::Path(vec![Step::Field {
                name: "_1".into(),
                case_sensitive: false
            }])
        );
        assert_eq!(q.limit, Some(5));
        assert!(q.condition.is_some());
        let q = parse("SELECT COUNT(*), MAX(CAST(_2 AS FLOAT)) FROM s3object").unwrap();
        assert!(q.aggregate);
        assert!(
            parse("SELECT * FROM S3Object[*].a s")
                .unwrap()
                .items
                .is_none()
        );
        assert_eq!(
            parse("SELECT * FROM t").unwrap_err().code,
            "ParseInvalidPathComponent"
        );
        assert_eq!(
            parse("SELECT FROM S3Object").unwrap_err().code,
            "ParseExpectedExpression"
        );
        assert_eq!(
            parse("SELECT a b c FROM S3Object").unwrap_err().code,
            "ParseUnexpectedToken"
        );
        assert!(parse("SELECT _1, COUNT(*) FROM S3Object").is_err());
        assert!(parse("SELECT * FROM S3Object WHERE").is_err());
        assert!(parse("SELECT 'unterminated FROM S3Object").is_err());
    }
}
