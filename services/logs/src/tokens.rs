//! Pagination tokens.
//!
//! `GetLogEvents` answers with AWS's shapes, `f/<56 digits>/s` (forward) and `b/<56 digits>/s`
//! (backward), the digits being a position in the stream (see [`crate::state`]). The other operations'
//! tokens are opaque: a kind and a value, hex-encoded.

/// Which way a `GetLogEvents` token reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `f/…`: events after the position.
    Forward,
    /// `b/…`: events before the position.
    Backward,
}

/// The `GetLogEvents` token for `position`.
pub fn stream_token(direction: Direction, position: u128) -> String {
    let d = match direction {
        Direction::Forward => 'f',
        Direction::Backward => 'b',
    };
    format!("{d}/{position:056}/s")
}

/// Reads a `GetLogEvents` token.
pub fn parse_stream_token(token: &str) -> Option<(Direction, u128)> {
    let (direction, rest) = match token.split_at_checked(2)? {
        ("f/", rest) => (Direction::Forward, rest),
        ("b/", rest) => (Direction::Backward, rest),
        _ => return None,
    };
    let digits = rest.strip_suffix("/s")?;
    if digits.len() != 56 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((direction, digits.parse().ok()?))
}

/// An opaque token carrying `value` for `kind`.
pub fn opaque(kind: &str, value: &str) -> String {
    let mut out = String::with_capacity(2 * (kind.len() + value.len() + 1));
    for b in kind
        .bytes()
        .chain(std::iter::once(b':'))
        .chain(value.bytes())
    {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// The value of an opaque token of `kind`.
pub fn parse_opaque(kind: &str, token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes: Option<Vec<u8>> = token
        .as_bytes()
        .chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    text.strip_prefix(kind)?
        .strip_prefix(':')
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_tokens_round_trip() {
        let t = stream_token(Direction::Forward, 12345);
        assert_eq!(t.len(), 60);
        assert!(t.starts_with("f/0000") && t.ends_with("5/s"));
        assert_eq!(parse_stream_token(&t), Some((Direction::Forward, 12345)));
        let b = stream_token(Direction::Backward, u128::MAX);
        assert_eq!(
            parse_stream_token(&b),
            Some((Direction::Backward, u128::MAX))
        );
        for bad in [
            "",
            "f/",
            "f/12/s",
            "x/00000000000000000000000000000000000000000000000000000000/s",
        ] {
            assert_eq!(parse_stream_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn opaque_tokens_round_trip() {
        let t = opaque("groups", "/aws/lambda/ünï");
        assert_eq!(
            parse_opaque("groups", &t).as_deref(),
            Some("/aws/lambda/ünï")
        );
        assert_eq!(parse_opaque("streams", &t), None);
        assert_eq!(parse_opaque("groups", "zz"), None);
        assert_eq!(parse_opaque("groups", "abc"), None);
    }
}
