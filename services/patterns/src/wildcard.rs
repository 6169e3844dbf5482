//! `wildcard` rules: `*` stands for any run of characters (none included); `\*` and `\\` are a
//! literal star and backslash. Two stars in a row and a backslash before anything else are refused,
//! with AWS's message (its positions count the quote that opens the JSON string).

use crate::parse::PatternError;

/// One piece of a wildcard rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Star,
}

/// A compiled wildcard rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    pieces: Vec<Piece>,
}

impl Wildcard {
    /// Compiles `text`, or AWS's reason why it is not a wildcard rule.
    pub fn parse(text: &str) -> Result<Wildcard, PatternError> {
        let bytes = text.as_bytes();
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            // Positions as AWS reports them: bytes of the quoted value, so one more than ours.
            let pos = i + 1;
            match c {
                '*' => {
                    if bytes.get(i + 1) == Some(&b'*') {
                        return Err(PatternError::invalid(format!(
                            "Consecutive wildcard characters at pos {pos}"
                        )));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Star);
                }
                '\\' => match chars.peek() {
                    Some((_, next @ ('*' | '\\'))) => {
                        literal.push(*next);
                        chars.next();
                    }
                    _ => {
                        return Err(PatternError::invalid(format!(
                            "Invalid escape character at pos {pos}"
                        )));
                    }
                },
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Wildcard { pieces })
    }

    /// True when `text` matches the whole rule.
    pub fn matches(&self, text: &str) -> bool {
        matches_from(&self.pieces, text)
    }
}

fn matches_from(pieces: &[Piece], text: &str) -> bool {
    match pieces.split_first() {
        None => text.is_empty(),
        Some((Piece::Literal(l), rest)) => text
            .strip_prefix(l.as_str())
            .is_some_and(|t| matches_from(rest, t)),
        Some((Piece::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .any(|i| matches_from(rest, &text[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_escapes() {
        let w = Wildcard::parse("*.png").unwrap();
        assert!(w.matches("a.png") && w.matches(".png") && !w.matches("a.png.txt"));
        let w = Wildcard::parse("dir/*/file*").unwrap();
        assert!(w.matches("dir/x/file") && w.matches("dir/x/y/file.txt") && !w.matches("dir/file"));
        let w = Wildcard::parse(r"a\\b").unwrap();
        assert!(w.matches(r"a\b"));
        assert!(Wildcard::parse("").unwrap().matches(""));
    }

    #[test]
    fn aws_errors() {
        assert_eq!(
            Wildcard::parse("ab**c").unwrap_err().to_string(),
            "Consecutive wildcard characters at pos 3"
        );
        assert_eq!(
            Wildcard::parse(r"a\b").unwrap_err().to_string(),
            "Invalid escape character at pos 2"
        );
    }
}
