//! Compiled text patterns of the policy language: literal text, the wildcards `*` (any run of
//! characters, none included) and `?` (exactly one character), and policy variables.
//!
//! A pattern is compiled once, when its policy is parsed: the text is split into tokens and the
//! tokens into the segments that lie between stars, so matching walks them without allocating.
//!
//! Policy variables (`${aws:username}`, `${aws:PrincipalTag/team}`, ...) are resolved from the
//! request context at match time; their value is always literal text, never a wildcard. A default
//! is written `${aws:username, 'anonymous'}` (a quote inside the default is doubled), and the
//! escapes `${*}`, `${?}` and `${$}` stand for the literal characters. A variable whose key has no
//! single value in the request, and no default, is unresolved: [`Pattern::is_match`] then returns
//! `None` and the caller treats the statement as not applying (IAM User Guide, "IAM policy
//! elements: Variables and tags", sections "Policy variables with no value" and "Specifying default
//! values").
//!
//! ARN patterns follow "IAM JSON policy elements: Resource", "Using wildcards in resource ARNs":
//! wildcards work within the colon-separated segments of an ARN, and a `*` that is the last
//! character of a segment may expand across colon boundaries. So in ARN mode `?` never matches a
//! colon, and a `*` matches colons only when it ends its segment.

/// Where a variable's value comes from: the request context's single-valued keys.
pub(crate) trait Resolve {
    /// The value of the context key `key` (already lower case), if it has exactly one value.
    fn var(&self, key: &str) -> Option<&str>;
}

/// A policy variable: its context key (lower case) and its default value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    key: String,
    default: Option<String>,
}

impl Var {
    fn value<'a>(&'a self, res: &'a dyn Resolve) -> Option<&'a str> {
        res.var(&self.key).or(self.default.as_deref())
    }
}

/// One piece of a segment (the text between two stars).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(String),
    One,
    Var(Var),
}

/// How a pattern's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (otherwise literal characters).
    pub wildcards: bool,
    /// `${...}` is a policy variable (policies of version 2012-10-17).
    pub variables: bool,
    /// Letters match regardless of case.
    pub ignore_case: bool,
    /// ARN rules for wildcards and colons.
    pub arn: bool,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The segments between stars; a pattern without stars has one.
    segments: Vec<Vec<Token>>,
    /// For each star (between `segments[i]` and `segments[i + 1]`): whether it may match a colon.
    stars: Vec<bool>,
    /// The pattern is `*` alone: it matches everything.
    everything: bool,
    has_vars: bool,
    ignore_case: bool,
    arn: bool,
}

/// Reads the variable starting at `text[start..]` (which begins with `${`): the token and the
/// byte length it covers, or `None` when the text is not a well-formed variable (it then stays
/// literal).
fn read_var(text: &str, start: usize) -> Option<(Token, usize)> {
    let body_start = start + 2;
    let rest = &text[body_start..];
    // The body ends at the first `}` outside a quoted default.
    let mut in_quote = false;
    let mut end = None;
    for (i, c) in rest.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            '}' if !in_quote => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end?;
    let body = &rest[..end];
    let covered = 2 + end + 1;
    let token = match body {
        "*" | "?" | "$" => Token::Lit(body.to_string()),
        _ => {
            let (key, default) = match body.split_once(',') {
                None => (body.trim(), None),
                Some((key, default)) => {
                    let default = default.trim();
                    let inner = default.strip_prefix('\'')?.strip_suffix('\'')?;
                    // A lone quote inside is malformed; a doubled one is a literal quote.
                    if inner.replace("''", "").contains('\'') {
                        return None;
                    }
                    (key.trim(), Some(inner.replace("''", "'")))
                }
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return None;
            }
            Token::Var(Var {
                key: key.to_lowercase(),
                default,
            })
        }
    };
    Some((token, covered))
}

fn push_lit(tokens: &mut Vec<Token>, text: &str, ignore_case: bool) {
    let text = if ignore_case {
        text.to_lowercase()
    } else {
        text.to_string()
    };
    if let Some(Token::Lit(last)) = tokens.last_mut() {
        last.push_str(&text);
    } else {
        tokens.push(Token::Lit(text));
    }
}

impl Pattern {
    /// Compiles `text` read with `syntax`.
    pub(crate) fn new(text: &str, syntax: Syntax) -> Pattern {
        let mut segments: Vec<Vec<Token>> = vec![Vec::new()];
        let mut stars: Vec<bool> = Vec::new();
        let mut has_vars = false;
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut lit_start = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let is_var = syntax.variables && b == b'$' && bytes.get(i + 1) == Some(&b'{');
            let is_wild = syntax.wildcards && (b == b'*' || b == b'?');
            if !is_var && !is_wild {
                i += 1;
                continue;
            }
            let current = segments.len() - 1;
            if is_var {
                let Some((token, len)) = read_var(text, i) else {
                    i += 2;
                    continue;
                };
                push_lit(
                    &mut segments[current],
                    &text[lit_start..i],
                    syntax.ignore_case,
                );
                match token {
                    Token::Lit(l) => push_lit(&mut segments[current], &l, syntax.ignore_case),
                    other => {
                        has_vars = true;
                        segments[current].push(other);
                    }
                }
                i += len;
                lit_start = i;
                continue;
            }
            push_lit(
                &mut segments[current],
                &text[lit_start..i],
                syntax.ignore_case,
            );
            if b == b'?' {
                segments[current].push(Token::One);
            } else {
                // A star ending its ARN segment may cross colons; elsewhere it stays inside.
                let crosses = !syntax.arn || matches!(bytes.get(i + 1), None | Some(b':'));
                let merged = segments[current].is_empty() && !stars.is_empty();
                if merged {
                    // `**` is one star.
                    if let Some(last) = stars.last_mut() {
                        *last = *last || crosses;
                    }
                } else {
                    stars.push(crosses);
                    segments.push(Vec::new());
                }
            }
            i += 1;
            lit_start = i;
        }
        let last = segments.len() - 1;
        push_lit(&mut segments[last], &text[lit_start..], syntax.ignore_case);
        for segment in &mut segments {
            segment.retain(|t| !matches!(t, Token::Lit(l) if l.is_empty()));
        }
        let everything = syntax.wildcards && text == "*";
        Pattern {
            segments,
            stars,
            everything,
            has_vars,
            ignore_case: syntax.ignore_case,
            arn: syntax.arn,
        }
    }

    /// Whether the pattern contains policy variables.
    pub(crate) fn has_vars(&self) -> bool {
        self.has_vars
    }

    /// Whether every variable of the pattern has a value (or a default) in `res`.
    pub(crate) fn resolvable(&self, res: &dyn Resolve) -> bool {
        !self.has_vars
            || self
                .segments
                .iter()
                .flatten()
                .all(|t| !matches!(t, Token::Var(v) if v.value(res).is_none()))
    }

    /// Whether `text` matches; `None` when a variable of the pattern is unresolved.
    pub(crate) fn is_match(&self, text: &str, res: &dyn Resolve) -> Option<bool> {
        if self.everything {
            return Some(true);
        }
        if !self.resolvable(res) {
            return None;
        }
        Some(self.matches_resolved(text, res))
    }

    fn matches_resolved(&self, text: &str, res: &dyn Resolve) -> bool {
        let n = self.segments.len();
        let Some(first) = self.segments.first() else {
            return text.is_empty();
        };
        let Some(mut pos) = self.segment_at(first, text, 0, res) else {
            return false;
        };
        if n == 1 {
            return pos == text.len();
        }
        for (i, segment) in self.segments.iter().enumerate().skip(1) {
            let crosses = self.stars[i - 1];
            let last = i == n - 1;
            if last && segment.is_empty() && crosses {
                return true;
            }
            let mut found = None;
            let mut start = pos;
            loop {
                if let Some(end) = self.segment_at(segment, text, start, res)
                    && (!last || end == text.len())
                {
                    found = Some(end);
                    break;
                }
                // The star skips one more character, if it may.
                let Some(c) = text[start..].chars().next() else {
                    break;
                };
                if c == ':' && !crosses {
                    break;
                }
                start += c.len_utf8();
            }
            match found {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }

    /// Matches `segment` at `text[at..]`: the end of the match, or `None`.
    fn segment_at(
        &self,
        segment: &[Token],
        text: &str,
        at: usize,
        res: &dyn Resolve,
    ) -> Option<usize> {
        let mut pos = at;
        for token in segment {
            match token {
                Token::Lit(lit) => pos = eat(lit, text, pos, self.ignore_case)?,
                Token::Var(var) => {
                    let value = var.value(res)?;
                    pos = eat(value, text, pos, self.ignore_case)?;
                }
                Token::One => {
                    let c = text[pos..].chars().next()?;
                    if self.arn && c == ':' {
                        return None;
                    }
                    pos += c.len_utf8();
                }
            }
        }
        Some(pos)
    }
}

/// Consumes `lit` at `text[pos..]`: the position after it, or `None`.
fn eat(lit: &str, text: &str, pos: usize, ignore_case: bool) -> Option<usize> {
    let rest = &text[pos..];
    if !ignore_case {
        return rest.starts_with(lit).then_some(pos + lit.len());
    }
    if lit.is_ascii() {
        let n = lit.len();
        return (rest.len() >= n
            && rest.is_char_boundary(n)
            && rest.as_bytes()[..n].eq_ignore_ascii_case(lit.as_bytes()))
        .then_some(pos + n);
    }
    let mut wanted = lit.chars().flat_map(char::to_lowercase).peekable();
    let mut used = 0;
    for c in rest.chars() {
        if wanted.peek().is_none() {
            break;
        }
        for lower in c.to_lowercase() {
            if wanted.next() != Some(lower) {
                return None;
            }
        }
        used += c.len_utf8();
    }
    wanted.peek().is_none().then_some(pos + used)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars(&'static [(&'static str, &'static str)]);
    impl Resolve for Vars {
        fn var(&self, key: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        }
    }
    const NONE: Vars = Vars(&[]);

    const ACTION: Syntax = Syntax {
        wildcards: true,
        variables: false,
        ignore_case: true,
        arn: false,
    };
    const ARN: Syntax = Syntax {
        wildcards: true,
        variables: true,
        ignore_case: false,
        arn: true,
    };
    const EXACT: Syntax = Syntax {
        wildcards: false,
        variables: true,
        ignore_case: false,
        arn: false,
    };

    fn m(p: &str, syntax: Syntax, text: &str) -> Option<bool> {
        Pattern::new(p, syntax).is_match(text, &NONE)
    }

    #[test]
    fn actions_ignore_case_and_take_wildcards() {
        assert_eq!(m("s3:Get*", ACTION, "S3:getobject"), Some(true));
        assert_eq!(m("s3:*Object", ACTION, "s3:PutObject"), Some(true));
        assert_eq!(m("s3:*Object", ACTION, "s3:PutObjectAcl"), Some(false));
        assert_eq!(m("s3:?etObject", ACTION, "s3:GetObject"), Some(true));
        assert_eq!(m("s3:?etObject", ACTION, "s3:etObject"), Some(false));
        assert_eq!(m("*", ACTION, "anything:At-all"), Some(true));
        assert_eq!(
            m("iam:*Report*", ACTION, "iam:GetCredentialReport"),
            Some(true)
        );
        assert_eq!(
            m("sqs:SendMessage", ACTION, "sqs:SendMessageBatch"),
            Some(false)
        );
    }

    #[test]
    fn arn_wildcards_respect_segments() {
        assert_eq!(
            m("arn:aws:s3:::bucket/*", ARN, "arn:aws:s3:::bucket/a/b:c"),
            Some(true)
        );
        assert_eq!(
            m(
                "arn:aws:s3:::bucket/*/test/*",
                ARN,
                "arn:aws:s3:::bucket/1/2/test/3/x.jpg"
            ),
            Some(true)
        );
        // Case-sensitive.
        assert_eq!(
            m(
                "arn:aws:iam::123456789012:user/Bob",
                ARN,
                "arn:aws:iam::123456789012:user/bob"
            ),
            Some(false)
        );
        // A star ending a segment crosses colons; one inside a segment does not.
        assert_eq!(
            m(
                "arn:aws:logs:*:*:log-group:/a/*",
                ARN,
                "arn:aws:logs:us-east-1:1:log-group:/a/x:log-stream:y"
            ),
            Some(true)
        );
        assert_eq!(
            m(
                "arn:aws:sqs:us-*1:123:q",
                ARN,
                "arn:aws:sqs:us-east:x1:123:q"
            ),
            Some(false)
        );
        assert_eq!(
            m(
                "arn:aws:sqs:us-*-1:123:q",
                ARN,
                "arn:aws:sqs:us-east-1:123:q"
            ),
            Some(true)
        );
        assert_eq!(
            m("arn:aws:sqs:?:1:q", ARN, "arn:aws:sqs::::1:q"),
            Some(false)
        );
    }

    #[test]
    fn variables_resolve_and_escape() {
        let vars = Vars(&[("aws:username", "alice"), ("aws:principaltag/team", "red")]);
        let p = Pattern::new("arn:aws:s3:::home/${aws:username}/*", ARN);
        assert!(p.has_vars());
        assert_eq!(p.is_match("arn:aws:s3:::home/alice/f", &vars), Some(true));
        assert_eq!(p.is_match("arn:aws:s3:::home/bob/f", &vars), Some(false));
        assert_eq!(p.is_match("arn:aws:s3:::home/alice/f", &NONE), None);
        let tag = Pattern::new("${aws:PrincipalTag/team}", EXACT);
        assert_eq!(tag.is_match("red", &vars), Some(true));
        let escaped = Pattern::new("a${*}b${?}${$}", ARN);
        assert!(!escaped.has_vars());
        assert_eq!(escaped.is_match("a*b?$", &NONE), Some(true));
        assert_eq!(escaped.is_match("axb?$", &NONE), Some(false));
        let default = Pattern::new("${aws:username, 'it''s anon'}", EXACT);
        assert_eq!(default.is_match("it's anon", &NONE), Some(true));
        assert_eq!(default.is_match("alice", &vars), Some(true));
        // The value of a variable is literal, never a wildcard.
        let star_value = Vars(&[("k:v", "*")]);
        let p = Pattern::new("x/${k:v}", ARN);
        assert_eq!(p.is_match("x/anything", &star_value), Some(false));
        assert_eq!(p.is_match("x/*", &star_value), Some(true));
        // Not a variable: stays literal.
        assert_eq!(m("a${b", EXACT, "a${b"), Some(true));
    }
}
