//! Attribute values as the service works on them ([`Av`]), converted once from and to the model's
//! `AttributeValue` shape, with DynamoDB's rules for what a value may be (one type set, no empty sets,
//! no duplicates in a set, numbers within range) and its way of counting an item's size.
//!
//! Also the stored form of an item (DynamoDB JSON, as `{"S": "x"}`), and [`KeyVal`], a key attribute
//! value ordered as DynamoDB orders sort keys (strings and binaries by bytes, numbers numerically).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value as Json};

use crate::error::DdbError;
use crate::number::{self, Decimal};
use crate::shapes::AttributeValue;

/// An item: attribute name to value.
pub type Item = BTreeMap<String, Av>;

/// The largest item, in bytes as DynamoDB counts them.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// One attribute value. Numbers are kept as their normalised text ([`number::normalize`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Av {
    /// `S`.
    S(String),
    /// `N` (normalised).
    N(String),
    /// `B`.
    B(Bytes),
    /// `BOOL`.
    Bool(bool),
    /// `NULL`.
    Null,
    /// `SS`.
    Ss(Vec<String>),
    /// `NS` (normalised).
    Ns(Vec<String>),
    /// `BS`.
    Bs(Vec<Bytes>),
    /// `L`.
    L(Vec<Av>),
    /// `M`.
    M(Item),
}

impl Av {
    /// The type's name on the wire (`S`, `N`, `SS`, `BOOL`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Av::S(_) => "S",
            Av::N(_) => "N",
            Av::B(_) => "B",
            Av::Bool(_) => "BOOL",
            Av::Null => "NULL",
            Av::Ss(_) => "SS",
            Av::Ns(_) => "NS",
            Av::Bs(_) => "BS",
            Av::L(_) => "L",
            Av::M(_) => "M",
        }
    }

    /// A number from a `Decimal` (already in range).
    pub fn number(d: &Decimal) -> Av {
        Av::N(d.to_text())
    }

    /// DynamoDB equality: same type and value; sets regardless of order.
    pub fn same(&self, other: &Av) -> bool {
        fn set_eq<T: PartialEq>(a: &[T], b: &[T]) -> bool {
            a.len() == b.len() && a.iter().all(|x| b.contains(x))
        }
        match (self, other) {
            (Av::Ss(a), Av::Ss(b)) => set_eq(a, b),
            (Av::Ns(a), Av::Ns(b)) => set_eq(a, b),
            (Av::Bs(a), Av::Bs(b)) => set_eq(a, b),
            (Av::L(a), Av::L(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y)),
            (Av::M(a), Av::M(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.same(w)))
            }
            _ => self == other,
        }
    }

    /// The order of two scalars of the same type (`S`, `N`, `B`); `None` otherwise.
    pub fn compare(&self, other: &Av) -> Option<Ordering> {
        match (self, other) {
            (Av::S(a), Av::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Av::N(a), Av::N(b)) => Some(number::compare(a, b)),
            (Av::B(a), Av::B(b)) => Some(a.as_ref().cmp(b.as_ref())),
            _ => None,
        }
    }

    /// The value's size in bytes as DynamoDB counts it (without the attribute name).
    pub fn size(&self) -> usize {
        match self {
            Av::S(s) => s.len(),
            Av::N(n) => number_size(n),
            Av::B(b) => b.len(),
            Av::Bool(_) | Av::Null => 1,
            Av::Ss(v) => v.iter().map(String::len).sum(),
            Av::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
            Av::Bs(v) => v.iter().map(Bytes::len).sum(),
            Av::L(v) => 3 + v.iter().map(Av::size).sum::<usize>(),
            Av::M(m) => 3 + item_size(m),
        }
    }
}

/// A number's size as DynamoDB counts it: a byte per two significant digits, plus one.
pub(crate) fn number_size(text: &str) -> usize {
    number::significant_digits(text).div_ceil(2) + 1
}

/// An item's size: the lengths of its attribute names plus the sizes of their values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

fn invalid(message: impl Into<String>) -> DdbError {
    DdbError::Validation(message.into())
}

fn check_number(text: &str) -> Result<String, DdbError> {
    number::normalize(text).map_err(|e| invalid(e.to_string()))
}

fn no_duplicates<T: PartialEq + std::fmt::Debug>(
    values: &[T],
    show: impl Fn(&T) -> String,
) -> Result<(), DdbError> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            let list: Vec<String> = values.iter().map(&show).collect();
            return Err(invalid(format!(
                "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
                list.join(", ")
            )));
        }
    }
    Ok(())
}

/// Converts and checks one wire value.
pub fn from_wire(v: AttributeValue) -> Result<Av, DdbError> {
    let set = usize::from(v.s.is_some())
        + usize::from(v.n.is_some())
        + usize::from(v.b.is_some())
        + usize::from(v.ss.is_some())
        + usize::from(v.ns.is_some())
        + usize::from(v.bs.is_some())
        + usize::from(v.m.is_some())
        + usize::from(v.l.is_some())
        + usize::from(v.null.is_some())
        + usize::from(v.bool.is_some());
    if set == 0 {
        return Err(invalid(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ));
    }
    if set > 1 {
        return Err(invalid(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ));
    }
    Ok(if let Some(s) = v.s {
        Av::S(s)
    } else if let Some(n) = v.n {
        Av::N(check_number(&n)?)
    } else if let Some(b) = v.b {
        Av::B(b)
    } else if let Some(ss) = v.ss {
        if ss.is_empty() {
            return Err(invalid(
                "One or more parameter values were invalid: An string set  may not be empty",
            ));
        }
        no_duplicates(&ss, Clone::clone)?;
        Av::Ss(ss)
    } else if let Some(ns) = v.ns {
        if ns.is_empty() {
            return Err(invalid(
                "One or more parameter values were invalid: An number set  may not be empty",
            ));
        }
        let normalised = ns
            .iter()
            .map(|n| check_number(n))
            .collect::<Result<Vec<_>, _>>()?;
        no_duplicates(&normalised, Clone::clone)?;
        Av::Ns(normalised)
    } else if let Some(bs) = v.bs {
        if bs.is_empty() {
            return Err(invalid(
                "One or more parameter values were invalid: An binary set  may not be empty",
            ));
        }
        no_duplicates(&bs, |b| base64::engine::general_purpose::STANDARD.encode(b))?;
        Av::Bs(bs)
    } else if let Some(m) = v.m {
        Av::M(item_from_wire(m)?)
    } else if let Some(l) = v.l {
        Av::L(l.into_iter().map(from_wire).collect::<Result<_, _>>()?)
    } else if let Some(null) = v.null {
        if !null {
            return Err(invalid(
                "One or more parameter values were invalid: Null attribute value types must have the value of true",
            ));
        }
        Av::Null
    } else if let Some(b) = v.bool {
        Av::Bool(b)
    } else {
        return Err(invalid("Supplied AttributeValue is empty"));
    })
}

/// Converts and checks a wire item (or key, or map).
pub fn item_from_wire(m: BTreeMap<String, AttributeValue>) -> Result<Item, DdbError> {
    m.into_iter().map(|(k, v)| Ok((k, from_wire(v)?))).collect()
}

/// The wire form of a value.
pub fn to_wire(v: &Av) -> AttributeValue {
    let mut out = AttributeValue::default();
    match v {
        Av::S(s) => out.s = Some(s.clone()),
        Av::N(n) => out.n = Some(n.clone()),
        Av::B(b) => out.b = Some(b.clone()),
        Av::Bool(b) => out.bool = Some(*b),
        Av::Null => out.null = Some(true),
        Av::Ss(v) => out.ss = Some(v.clone()),
        Av::Ns(v) => out.ns = Some(v.clone()),
        Av::Bs(v) => out.bs = Some(v.clone()),
        Av::L(v) => out.l = Some(v.iter().map(to_wire).collect()),
        Av::M(m) => out.m = Some(item_to_wire(m)),
    }
    out
}

/// The wire form of an item.
pub fn item_to_wire(item: &Item) -> BTreeMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_wire(v))).collect()
}

// ---------------------------------------------------------------------------------------------------
// The stored form (DynamoDB JSON)

fn b64(b: &[u8]) -> Json {
    Json::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// DynamoDB JSON of a value.
pub fn to_json(v: &Av) -> Json {
    let (tag, value) = match v {
        Av::S(s) => ("S", Json::String(s.clone())),
        Av::N(n) => ("N", Json::String(n.clone())),
        Av::B(b) => ("B", b64(b)),
        Av::Bool(b) => ("BOOL", Json::Bool(*b)),
        Av::Null => ("NULL", Json::Bool(true)),
        Av::Ss(v) => ("SS", v.iter().cloned().map(Json::String).collect()),
        Av::Ns(v) => ("NS", v.iter().cloned().map(Json::String).collect()),
        Av::Bs(v) => ("BS", v.iter().map(|b| b64(b)).collect()),
        Av::L(v) => ("L", v.iter().map(to_json).collect()),
        Av::M(m) => ("M", item_to_json(m)),
    };
    let mut o = Map::with_capacity(1);
    o.insert(tag.to_owned(), value);
    Json::Object(o)
}

/// DynamoDB JSON of an item.
pub fn item_to_json(item: &Item) -> Json {
    Json::Object(item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}

fn unb64(j: &Json) -> Option<Bytes> {
    base64::engine::general_purpose::STANDARD
        .decode(j.as_str()?)
        .ok()
        .map(Bytes::from)
}

fn strings(j: &Json) -> Option<Vec<String>> {
    j.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// A value from DynamoDB JSON (`None` when malformed).
pub fn from_json(j: &Json) -> Option<Av> {
    let (tag, value) = j.as_object()?.iter().next()?;
    Some(match tag.as_str() {
        "S" => Av::S(value.as_str()?.to_owned()),
        "N" => Av::N(value.as_str()?.to_owned()),
        "B" => Av::B(unb64(value)?),
        "BOOL" => Av::Bool(value.as_bool()?),
        "NULL" => Av::Null,
        "SS" => Av::Ss(strings(value)?),
        "NS" => Av::Ns(strings(value)?),
        "BS" => Av::Bs(value.as_array()?.iter().map(unb64).collect::<Option<_>>()?),
        "L" => Av::L(
            value
                .as_array()?
                .iter()
                .map(from_json)
                .collect::<Option<_>>()?,
        ),
        "M" => Av::M(item_from_json(value)?),
        _ => return None,
    })
}

/// An item from DynamoDB JSON.
pub fn item_from_json(j: &Json) -> Option<Item> {
    j.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), from_json(v)?)))
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// Key values

/// A key attribute's scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScalarType {
    /// `S`.
    S,
    /// `N`.
    N,
    /// `B`.
    B,
}

impl ScalarType {
    /// From `S`, `N`, `B`.
    pub fn parse(s: &str) -> Option<ScalarType> {
        match s {
            "S" => Some(ScalarType::S),
            "N" => Some(ScalarType::N),
            "B" => Some(ScalarType::B),
            _ => None,
        }
    }

    /// `S`, `N`, `B`.
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }
}

/// A key attribute value, ordered as DynamoDB orders keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyVal {
    /// A number: order-preserving bytes, then the normalised text.
    N(Box<[u8]>, Box<str>),
    /// A string (by UTF-8 bytes).
    S(Box<str>),
    /// A binary (by bytes).
    B(Bytes),
}

/// Order-preserving bytes of a number: sign class, then exponent and digits (inverted when negative).
fn number_order_bytes(text: &str) -> Box<[u8]> {
    let d = Decimal::parse(text).unwrap_or_else(|_| Decimal::zero());
    if d.is_zero() {
        return Box::new([1]);
    }
    let biased = (d.exp + 32768).clamp(0, 65535) as u16;
    let mut out = Vec::with_capacity(d.digits.len() + 4);
    if d.neg {
        out.push(0);
        out.extend_from_slice(&(!biased).to_be_bytes());
        out.extend(d.digits.iter().map(|x| 10 - x));
        out.push(0xff);
    } else {
        out.push(2);
        out.extend_from_slice(&biased.to_be_bytes());
        out.extend(d.digits.iter().map(|x| x + 1));
    }
    out.into_boxed_slice()
}

impl KeyVal {
    /// The key value of `v`, if it is a scalar key type.
    pub fn of(v: &Av) -> Option<KeyVal> {
        Some(match v {
            Av::S(s) => KeyVal::S(s.as_str().into()),
            Av::N(n) => KeyVal::N(number_order_bytes(n), n.as_str().into()),
            Av::B(b) => KeyVal::B(b.clone()),
            _ => return None,
        })
    }

    /// The attribute value.
    pub fn to_av(&self) -> Av {
        match self {
            KeyVal::S(s) => Av::S(s.to_string()),
            KeyVal::N(_, n) => Av::N(n.to_string()),
            KeyVal::B(b) => Av::B(b.clone()),
        }
    }

    /// A stable hash (FNV-1a) of the value, for parallel scan segments.
    pub fn stable_hash(&self) -> u64 {
        let bytes: &[u8] = match self {
            KeyVal::S(s) => s.as_bytes(),
            KeyVal::N(_, n) => n.as_bytes(),
            KeyVal::B(b) => b,
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }
}

/// The sort part of a primary key: none (hash-only tables), a value, or the end of a partition (a
/// search bound only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SortPart {
    /// No sort key.
    None,
    /// A sort key value.
    Val(KeyVal),
    /// After every sort key of a partition.
    Max,
}

/// A primary key (also the key of an index entry's table item).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PKey {
    /// The partition key.
    pub hash: KeyVal,
    /// The sort key.
    pub range: SortPart,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> KeyVal {
        KeyVal::of(&Av::N(number::normalize(s).unwrap())).unwrap()
    }

    #[test]
    fn number_keys_order_numerically() {
        let mut v: Vec<&str> = vec![
            "10", "9", "-1", "-10", "0", "0.5", "-0.5", "100.25", "1e-5", "-0.123", "-0.12",
            "0.12", "0.123", "1e100", "-1e100",
        ];
        v.sort_by_key(|s| n(s));
        assert_eq!(
            v,
            [
                "-1e100", "-10", "-1", "-0.5", "-0.123", "-0.12", "0", "1e-5", "0.12", "0.123",
                "0.5", "9", "10", "100.25", "1e100"
            ]
        );
    }

    #[test]
    fn sizes_as_documented() {
        let mut item = Item::new();
        item.insert("id".into(), Av::S("abc".into())); // 2 + 3
        item.insert("n".into(), Av::N("12345".into())); // 1 + 3 + 1
        item.insert("b".into(), Av::Bool(true)); // 1 + 1
        item.insert("l".into(), Av::L(vec![Av::Null, Av::S("xy".into())])); // 1 + 3 + 1 + 2
        assert_eq!(item_size(&item), 5 + 5 + 2 + 7);
    }

    #[test]
    fn json_round_trip() {
        let mut inner = Item::new();
        inner.insert("x".into(), Av::Bs(vec![Bytes::from_static(b"\x00\x01")]));
        let v = Av::L(vec![
            Av::S("s".into()),
            Av::N("1.5".into()),
            Av::B(Bytes::from_static(b"hi")),
            Av::Bool(false),
            Av::Null,
            Av::Ss(vec!["a".into()]),
            Av::Ns(vec!["1".into(), "2".into()]),
            Av::M(inner),
        ]);
        assert_eq!(from_json(&to_json(&v)), Some(v));
    }
}
