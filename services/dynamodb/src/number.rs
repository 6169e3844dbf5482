//! DynamoDB's Number: a decimal of up to 38 significant digits with a magnitude between 1E-130 and
//! 9.9999999999999999999999999999999999999E+125 (or zero), exchanged as a string.
//!
//! A number is kept as its normalised text (no leading or trailing zeros, no exponent: `"1.50"` is stored
//! and returned as `"1.5"`, `"1e2"` as `"100"`, `"-0"` as `"0"`), and parsed into [`Decimal`] (sign,
//! digits, exponent) to compare and to add.

use std::cmp::Ordering;

/// The most significant digits a Number holds.
pub const MAX_DIGITS: usize = 38;

/// Why a string is not a DynamoDB Number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Not a decimal number at all.
    #[error("A value provided cannot be converted into a number")]
    Invalid,
    /// More than 38 significant digits.
    #[error("Attempting to store more than 38 significant digits in a Number")]
    Precision,
    /// Magnitude above 9.99...E+125.
    #[error(
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )]
    Overflow,
    /// Magnitude below 1E-130.
    #[error(
        "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    )]
    Underflow,
}

/// A parsed number: `(-1)^neg × 0.d1d2d3... × 10^exp`, digits without leading or trailing zeros (empty
/// for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    /// Negative.
    pub neg: bool,
    /// Significant digits, 0-9 each.
    pub digits: Vec<u8>,
    /// The exponent of the leading digit's place plus one.
    pub exp: i32,
}

impl Decimal {
    /// Zero.
    pub fn zero() -> Decimal {
        Decimal {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Parses DynamoDB's number syntax (`-12.5`, `+3`, `1e-3`, `.5`), without range checks.
    pub fn parse(text: &str) -> Result<Decimal, NumberError> {
        let s = text.trim();
        let (neg, s) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let exp_adjust: i64 = match exponent {
            Some(e) => {
                let (eneg, body) = match e.as_bytes().first() {
                    Some(b'-') => (true, &e[1..]),
                    Some(b'+') => (false, &e[1..]),
                    _ => (false, e),
                };
                if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(NumberError::Invalid);
                }
                let magnitude = body
                    .parse::<i64>()
                    .unwrap_or(i64::MAX / 4)
                    .min(i64::MAX / 4);
                if eneg { -magnitude } else { magnitude }
            }
            None => 0,
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(NumberError::Invalid);
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(NumberError::Invalid);
        }
        let mut digits: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let mut exp = int_part.len() as i64;
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        exp -= lead as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Decimal::zero());
        }
        let exp = (exp + exp_adjust).clamp(i64::from(i32::MIN / 2), i64::from(i32::MAX / 2));
        Ok(Decimal {
            neg,
            digits,
            exp: exp as i32,
        })
    }

    /// Checks DynamoDB's precision and range.
    pub fn check(&self) -> Result<(), NumberError> {
        if self.is_zero() {
            return Ok(());
        }
        if self.digits.len() > MAX_DIGITS {
            return Err(NumberError::Precision);
        }
        // Largest: 9.99..E+125 = 0.999.. × 10^126; smallest: 1E-130 = 0.1 × 10^-129.
        if self.exp > 126 {
            return Err(NumberError::Overflow);
        }
        if self.exp < -129 {
            return Err(NumberError::Underflow);
        }
        Ok(())
    }

    /// The normalised text: plain notation, no superfluous zeros.
    pub fn to_text(&self) -> String {
        if self.is_zero() {
            return "0".to_owned();
        }
        let mut out = String::with_capacity(self.digits.len() + 4);
        if self.neg {
            out.push('-');
        }
        let n = self.digits.len() as i32;
        let digit = |d: &u8| char::from(b'0' + d);
        if self.exp <= 0 {
            out.push_str("0.");
            for _ in 0..(-self.exp) {
                out.push('0');
            }
            out.extend(self.digits.iter().map(digit));
        } else if self.exp >= n {
            out.extend(self.digits.iter().map(digit));
            for _ in 0..(self.exp - n) {
                out.push('0');
            }
        } else {
            let split = self.exp as usize;
            out.extend(self.digits[..split].iter().map(digit));
            out.push('.');
            out.extend(self.digits[split..].iter().map(digit));
        }
        out
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits))
    }

    /// Adds `other`.
    pub fn add(&self, other: &Decimal) -> Decimal {
        if self.is_zero() {
            return other.clone();
        }
        if other.is_zero() {
            return self.clone();
        }
        // Align both on the lowest place.
        let low = |d: &Decimal| d.exp - d.digits.len() as i32;
        let base = low(self).min(low(other));
        let top = self.exp.max(other.exp);
        let width = (top - base) as usize;
        let spread = |d: &Decimal| {
            let mut v = vec![0i32; width];
            for (i, digit) in d.digits.iter().enumerate() {
                let place = (d.exp - 1 - i as i32 - base) as usize;
                v[place] = i32::from(*digit);
            }
            v
        };
        let (a, b) = (spread(self), spread(other));
        let (big, small, neg) =
            if self.neg == other.neg || self.cmp_magnitude(other) != Ordering::Less {
                (a, b, self.neg)
            } else {
                (b, a, other.neg)
            };
        let same = self.neg == other.neg;
        let mut out = vec![0i32; width + 1];
        let mut carry = 0;
        for i in 0..width {
            let mut v = if same {
                big[i] + small[i] + carry
            } else {
                big[i] - small[i] + carry
            };
            carry = 0;
            if v >= 10 {
                v -= 10;
                carry = 1;
            } else if v < 0 {
                v += 10;
                carry = -1;
            }
            out[i] = v;
        }
        out[width] = carry;
        // out is little-endian places starting at `base`.
        let mut digits: Vec<u8> = out.iter().rev().map(|d| *d as u8).collect();
        let mut exp = top + 1;
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        exp -= lead as i32;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Decimal::zero();
        }
        Decimal { neg, digits, exp }
    }

    /// The negation.
    pub fn negate(&self) -> Decimal {
        let mut d = self.clone();
        if !d.is_zero() {
            d.neg = !d.neg;
        }
        d
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let sign = |d: &Decimal| {
            if d.is_zero() {
                0
            } else if d.neg {
                -1
            } else {
                1
            }
        };
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        let magnitude = self.cmp_magnitude(other);
        if self.neg {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Parses and checks `text`, returning its normalised text.
pub fn normalize(text: &str) -> Result<String, NumberError> {
    let d = Decimal::parse(text)?;
    d.check()?;
    Ok(d.to_text())
}

/// Compares two normalised numbers numerically (unparseable text sorts as zero).
pub fn compare(a: &str, b: &str) -> Ordering {
    let parse = |s: &str| Decimal::parse(s).unwrap_or_else(|_| Decimal::zero());
    parse(a).cmp(&parse(b))
}

/// The count of significant digits of a normalised number (for item size).
pub fn significant_digits(text: &str) -> usize {
    Decimal::parse(text).map_or(0, |d| d.digits.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_dynamodb() {
        for (input, want) in [
            ("1.50", "1.5"),
            ("01", "1"),
            ("-0", "0"),
            ("0.000", "0"),
            ("1e2", "100"),
            ("1.5E-3", "0.0015"),
            ("+7", "7"),
            (".5", "0.5"),
            ("5.", "5"),
            ("-12.3400", "-12.34"),
            ("100", "100"),
        ] {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
        for bad in [
            "", "abc", "1.2.3", "--1", "1e", "e5", ".", "1e+-2", "0x10", "1 2",
        ] {
            assert_eq!(normalize(bad), Err(NumberError::Invalid), "{bad:?}");
        }
        assert_eq!(
            normalize("123456789012345678901234567890123456789"),
            Err(NumberError::Precision)
        );
        assert!(normalize("12345678901234567890123456789012345678").is_ok());
        assert!(normalize("12345678901234567890123456789012345678000").is_ok());
        assert_eq!(normalize("1e126"), Err(NumberError::Overflow));
        assert!(normalize("9.9999999999999999999999999999999999999E+125").is_ok());
        assert_eq!(normalize("1e-131"), Err(NumberError::Underflow));
        assert!(normalize("1e-130").is_ok());
    }

    #[test]
    fn compares_numerically() {
        let mut v = vec!["10", "9", "-1", "-10", "0", "0.5", "-0.5", "100.25", "1e-5"];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(
            v,
            ["-10", "-1", "-0.5", "0", "1e-5", "0.5", "9", "10", "100.25"]
        );
        assert_eq!(compare("1.0", "1"), Ordering::Equal);
    }

    #[test]
    fn adds_and_subtracts() {
        let add = |a: &str, b: &str| {
            Decimal::parse(a)
                .unwrap()
                .add(&Decimal::parse(b).unwrap())
                .to_text()
        };
        assert_eq!(add("1", "2"), "3");
        assert_eq!(add("9.99", "0.01"), "10");
        assert_eq!(add("5", "-7"), "-2");
        assert_eq!(add("-5", "7"), "2");
        assert_eq!(add("0.1", "0.2"), "0.3");
        assert_eq!(add("100", "-100"), "0");
        assert_eq!(add("-1.5", "-1.5"), "-3");
        assert_eq!(add("1000000", "0.000001"), "1000000.000001");
        assert_eq!(add("0", "-3"), "-3");
        let neg = Decimal::parse("3").unwrap().negate();
        assert_eq!(Decimal::parse("10").unwrap().add(&neg).to_text(), "7");
    }
}
