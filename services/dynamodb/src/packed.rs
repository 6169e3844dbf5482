//! Items as they are kept: one compact buffer per item ([`Packed`]), decoded when read.
//!
//! A table holds its items as packed buffers in one ordered set ([`Row`]), and its secondary indexes
//! hold one byte string per entry; stream records share the table's buffers as their images. A
//! decoded [`Item`] is a tree of maps and strings, several allocations and about a kilobyte of
//! B-tree node even for a small item; a packed item is one allocation the size of its data plus a few
//! bytes.
//!
//! Two encodings live here:
//!
//! - **keys** ([`pkey_bytes`], [`idx_bytes`]): a primary key or an index entry as bytes whose
//!   byte order is DynamoDB's key order ([`PKey`]'s `Ord`). Numbers are their order-preserving bytes
//!   (sign class, exponent, digits) ended by a terminator; strings and binaries are a type byte,
//!   then the bytes with `0x00` escaped as `00 ff`, ended by `00 01`. Every value ends itself, so a
//!   sort key or a table key can follow; a search bound past every sort key of a partition is the
//!   partition's bytes then `ff`, above every value's first byte.
//! - **items**: a tag-length-value list of the attributes in name order, each its name's length
//!   (LEB128), the name, a type tag and the value (lengths and counts as LEB128, numbers as their
//!   normalised text). A table key attribute is its name and a tag saying "the key's first (or
//!   second) value": its value is read from the key bytes, not stored twice.
//!
//! A [`Packed`] buffer is the item's key bytes (length first) then its attributes, allocated once at
//! its exact size and shared (`Arc`) by the table and the stream records whose images it is. With a
//! 100-byte item (AWS's count) it is about 115 bytes; the set's slot and node share, the `Arc`'s
//! counts and the allocator's header make up the rest of what an item costs. Buffers are only
//! made here, from items, so they are well formed; the decoders still check every length and stop at
//! the first fault (reported as [`Malformed`] and logged) instead of panicking.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::attr::{Av, Item, KeyVal, PKey, SortPart, number_size};
use crate::number::Decimal;
use crate::shapes::AttributeValue;

/// A packed buffer or key that is not what this module writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The buffer ends inside a value.
    #[error("packed data truncated at byte {0}")]
    Truncated(usize),
    /// An unknown type tag.
    #[error("unknown type tag {0} at byte {1}")]
    Tag(u8, usize),
    /// A string that is not UTF-8.
    #[error("a string that is not UTF-8 at byte {0}")]
    Utf8(usize),
}

// ---------------------------------------------------------------------------------------------------
// Reading bytes

/// A cursor over a buffer; every read checks the length.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }

    fn done(&self) -> bool {
        self.at >= self.buf.len()
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        let b = *self.buf.get(self.at).ok_or(Malformed::Truncated(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.at).copied()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(Malformed::Truncated(self.at))?;
        let out = self
            .buf
            .get(self.at..end)
            .ok_or(Malformed::Truncated(self.at))?;
        self.at = end;
        Ok(out)
    }

    fn varint(&mut self) -> Result<usize, Malformed> {
        let mut out = 0usize;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            out |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(Malformed::Truncated(self.at))
    }

    fn chunk(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.varint()?;
        self.take(n)
    }

    fn text(&mut self) -> Result<&'a str, Malformed> {
        let at = self.at;
        std::str::from_utf8(self.chunk()?).map_err(|_| Malformed::Utf8(at))
    }
}

/// `n` as LEB128: the bytes and how many of them are used.
fn varint_bytes(mut n: usize) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    let mut len = 0;
    while n >= 0x80 {
        out[len] = (n as u8 & 0x7f) | 0x80;
        n >>= 7;
        len += 1;
    }
    out[len] = n as u8;
    (out, len + 1)
}

fn put_varint(out: &mut Vec<u8>, n: usize) {
    let (bytes, len) = varint_bytes(n);
    out.extend_from_slice(&bytes[..len]);
}

fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len());
    out.extend_from_slice(bytes);
}

// ---------------------------------------------------------------------------------------------------
// Keys

/// First byte of a string key value (numbers start with their sign class 0, 1 or 2).
const KEY_S: u8 = 3;
/// First byte of a binary key value.
const KEY_B: u8 = 4;
/// After every sort key of a partition (a search bound only).
const KEY_MAX: u8 = 0xff;

fn put_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

fn read_escaped(r: &mut Reader<'_>) -> Result<Vec<u8>, Malformed> {
    let mut out = Vec::with_capacity(16);
    loop {
        match r.byte()? {
            0 => match r.byte()? {
                1 => return Ok(out),
                _ => out.push(0),
            },
            b => out.push(b),
        }
    }
}

fn put_keyval(out: &mut Vec<u8>, v: &KeyVal) {
    match v {
        KeyVal::N(order, _) => {
            out.extend_from_slice(order);
            // A positive number's digits (1-10) end at a 0; a negative one's end at its `ff`.
            if order.first() == Some(&2) {
                out.push(0);
            }
        }
        KeyVal::S(s) => {
            out.push(KEY_S);
            put_escaped(out, s.as_bytes());
        }
        KeyVal::B(b) => {
            out.push(KEY_B);
            put_escaped(out, b);
        }
    }
}

/// A key value as read: a number's order-preserving bytes and its text, a string or a binary.
enum KeyRead<'a> {
    N(&'a [u8], String),
    S(String),
    B(Vec<u8>),
}

fn read_key<'a>(r: &mut Reader<'a>) -> Result<KeyRead<'a>, Malformed> {
    let start = r.at;
    match r.byte()? {
        1 => Ok(KeyRead::N(&r.buf[start..r.at], "0".to_owned())),
        class @ (0 | 2) => {
            let neg = class == 0;
            let exp = r.take(2)?;
            let biased = u16::from_be_bytes([exp[0], exp[1]]);
            let biased = if neg { !biased } else { biased };
            let mut digits = Vec::with_capacity(8);
            loop {
                match (neg, r.byte()?) {
                    (false, 0) | (true, 0xff) => break,
                    (false, d @ 1..=10) => digits.push(d - 1),
                    (true, d @ 1..=10) => digits.push(10 - d),
                    (_, d) => return Err(Malformed::Tag(d, r.at - 1)),
                }
            }
            let end = if neg { r.at } else { r.at - 1 };
            let d = Decimal {
                neg,
                digits,
                exp: i32::from(biased) - 32768,
            };
            Ok(KeyRead::N(&r.buf[start..end], d.to_text()))
        }
        KEY_S => {
            let at = r.at;
            let text = String::from_utf8(read_escaped(r)?).map_err(|_| Malformed::Utf8(at))?;
            Ok(KeyRead::S(text))
        }
        KEY_B => Ok(KeyRead::B(read_escaped(r)?)),
        t => Err(Malformed::Tag(t, start)),
    }
}

fn read_keyval(r: &mut Reader<'_>) -> Result<KeyVal, Malformed> {
    Ok(match read_key(r)? {
        KeyRead::N(order, text) => KeyVal::N(order.into(), text.into()),
        KeyRead::S(s) => KeyVal::S(s.into()),
        KeyRead::B(b) => KeyVal::B(Bytes::from(b)),
    })
}

/// Skips a key value; returns its size as DynamoDB counts it, without decoding it.
fn skip_key(r: &mut Reader<'_>) -> Result<usize, Malformed> {
    let start = r.at;
    match r.byte()? {
        1 => Ok(1),
        class @ (0 | 2) => {
            let end = if class == 0 { 0xff } else { 0 };
            r.take(2)?;
            let mut digits = 0usize;
            while r.byte()? != end {
                digits += 1;
            }
            Ok(digits.div_ceil(2) + 1)
        }
        KEY_S | KEY_B => {
            let mut len = 0usize;
            loop {
                // `00 01` ends the value; `00 ff` is a zero byte.
                if r.byte()? == 0 && r.byte()? == 1 {
                    return Ok(len);
                }
                len += 1;
            }
        }
        t => Err(Malformed::Tag(t, start)),
    }
}

fn put_sort(out: &mut Vec<u8>, s: &SortPart) {
    match s {
        SortPart::None => {}
        SortPart::Val(v) => put_keyval(out, v),
        SortPart::Max => out.push(KEY_MAX),
    }
}

fn read_sort(r: &mut Reader<'_>, ranged: bool) -> Result<SortPart, Malformed> {
    if !ranged {
        return Ok(SortPart::None);
    }
    if r.peek() == Some(KEY_MAX) {
        r.at += 1;
        return Ok(SortPart::Max);
    }
    Ok(SortPart::Val(read_keyval(r)?))
}

/// The bytes of a primary key (or a search bound), in key order.
pub fn pkey_bytes(p: &PKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    put_pkey(&mut out, p);
    out
}

fn put_pkey(out: &mut Vec<u8>, p: &PKey) {
    // The smallest key (a bound's `N` with no bytes) is no bytes.
    put_keyval(out, &p.hash);
    put_sort(out, &p.range);
}

fn read_pkey(r: &mut Reader<'_>, ranged: bool) -> Result<PKey, Malformed> {
    let hash = read_keyval(r)?;
    let range = read_sort(r, ranged)?;
    Ok(PKey { hash, range })
}

/// The primary key of `bytes` ([`pkey_bytes`]) of a table with (`ranged`) or without a sort key.
pub fn pkey_of(bytes: &[u8], ranged: bool) -> Result<PKey, Malformed> {
    read_pkey(&mut Reader::new(bytes), ranged)
}

/// The bytes of an index entry: the index's partition and sort key, then the table key.
pub fn idx_bytes(hash: &KeyVal, range: &SortPart, table: &PKey) -> Vec<u8> {
    let mut out = idx_prefix(hash, range);
    put_pkey(&mut out, table);
    out
}

/// The bytes of an index key, which the table key's bytes follow in an entry.
pub fn idx_prefix(hash: &KeyVal, range: &SortPart) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    put_keyval(&mut out, hash);
    put_sort(&mut out, range);
    out
}

/// An index entry read back: the index partition key, sort key and the table key's bytes.
pub fn idx_of(
    bytes: &[u8],
    index_ranged: bool,
    table_ranged: bool,
) -> Result<(KeyVal, SortPart, PKey), Malformed> {
    let mut r = Reader::new(bytes);
    let hash = read_keyval(&mut r)?;
    let range = read_sort(&mut r, index_ranged)?;
    let table = read_pkey(&mut r, table_ranged)?;
    Ok((hash, range, table))
}

/// The table key's bytes at the end of an index entry.
pub fn idx_table_key(bytes: &[u8], index_ranged: bool) -> Result<&[u8], Malformed> {
    let mut r = Reader::new(bytes);
    read_keyval(&mut r)?;
    read_sort(&mut r, index_ranged)?;
    Ok(&bytes[r.at..])
}

/// The partition key alone of key bytes (an item's or an index entry's), for parallel scans.
pub fn hash_of(bytes: &[u8]) -> Result<KeyVal, Malformed> {
    read_keyval(&mut Reader::new(bytes))
}

// ---------------------------------------------------------------------------------------------------
// Attribute values

const T_S: u8 = 1;
const T_N: u8 = 2;
const T_B: u8 = 3;
const T_TRUE: u8 = 4;
const T_FALSE: u8 = 5;
const T_NULL: u8 = 6;
const T_SS: u8 = 7;
const T_NS: u8 = 8;
const T_BS: u8 = 9;
const T_L: u8 = 10;
const T_M: u8 = 11;
/// The table's partition key attribute: its value is the key's, not repeated.
const T_KEY_HASH: u8 = 12;
/// The table's sort key attribute.
const T_KEY_RANGE: u8 = 13;

fn put_list<T: AsRef<[u8]>>(out: &mut Vec<u8>, tag: u8, values: &[T]) {
    out.push(tag);
    put_varint(out, values.len());
    for v in values {
        put_chunk(out, v.as_ref());
    }
}

fn put_value(out: &mut Vec<u8>, v: &Av) {
    match v {
        Av::S(s) => {
            out.push(T_S);
            put_chunk(out, s.as_bytes());
        }
        Av::N(n) => {
            out.push(T_N);
            put_chunk(out, n.as_bytes());
        }
        Av::B(b) => {
            out.push(T_B);
            put_chunk(out, b);
        }
        Av::Bool(true) => out.push(T_TRUE),
        Av::Bool(false) => out.push(T_FALSE),
        Av::Null => out.push(T_NULL),
        Av::Ss(v) => put_list(out, T_SS, v),
        Av::Ns(v) => put_list(out, T_NS, v),
        Av::Bs(v) => put_list(out, T_BS, v),
        Av::L(v) => {
            out.push(T_L);
            put_varint(out, v.len());
            for x in v {
                put_value(out, x);
            }
        }
        Av::M(m) => {
            out.push(T_M);
            put_varint(out, m.len());
            put_attrs(out, m);
        }
    }
}

fn put_attrs(out: &mut Vec<u8>, item: &Item) {
    for (name, v) in item {
        put_chunk(out, name.as_bytes());
        put_value(out, v);
    }
}

/// True when `v` is the key value `k`.
fn is_key_value(v: &Av, k: &KeyVal) -> bool {
    match (v, k) {
        (Av::S(a), KeyVal::S(b)) => a.as_str() == &**b,
        (Av::N(a), KeyVal::N(_, b)) => a.as_str() == &**b,
        (Av::B(a), KeyVal::B(b)) => a == b,
        _ => false,
    }
}

/// What the decoders build: the service's values ([`Av`]) or the wire's ([`AttributeValue`]), so a
/// read goes from the buffer to either in one pass.
trait Build: Sized {
    type Map: Default;
    fn s(s: String) -> Self;
    fn n(n: String) -> Self;
    fn b(b: Bytes) -> Self;
    fn bool(b: bool) -> Self;
    fn null() -> Self;
    fn ss(v: Vec<String>) -> Self;
    fn ns(v: Vec<String>) -> Self;
    fn bs(v: Vec<Bytes>) -> Self;
    fn l(v: Vec<Self>) -> Self;
    fn m(m: Self::Map) -> Self;
    fn insert(map: &mut Self::Map, name: String, v: Self);
}

impl Build for Av {
    type Map = Item;
    fn s(s: String) -> Av {
        Av::S(s)
    }
    fn n(n: String) -> Av {
        Av::N(n)
    }
    fn b(b: Bytes) -> Av {
        Av::B(b)
    }
    fn bool(b: bool) -> Av {
        Av::Bool(b)
    }
    fn null() -> Av {
        Av::Null
    }
    fn ss(v: Vec<String>) -> Av {
        Av::Ss(v)
    }
    fn ns(v: Vec<String>) -> Av {
        Av::Ns(v)
    }
    fn bs(v: Vec<Bytes>) -> Av {
        Av::Bs(v)
    }
    fn l(v: Vec<Av>) -> Av {
        Av::L(v)
    }
    fn m(m: Item) -> Av {
        Av::M(m)
    }
    fn insert(map: &mut Item, name: String, v: Av) {
        map.insert(name, v);
    }
}

impl Build for AttributeValue {
    type Map = BTreeMap<String, AttributeValue>;
    fn s(s: String) -> Self {
        AttributeValue {
            s: Some(s),
            ..Default::default()
        }
    }
    fn n(n: String) -> Self {
        AttributeValue {
            n: Some(n),
            ..Default::default()
        }
    }
    fn b(b: Bytes) -> Self {
        AttributeValue {
            b: Some(b),
            ..Default::default()
        }
    }
    fn bool(b: bool) -> Self {
        AttributeValue {
            bool: Some(b),
            ..Default::default()
        }
    }
    fn null() -> Self {
        AttributeValue {
            null: Some(true),
            ..Default::default()
        }
    }
    fn ss(v: Vec<String>) -> Self {
        AttributeValue {
            ss: Some(v),
            ..Default::default()
        }
    }
    fn ns(v: Vec<String>) -> Self {
        AttributeValue {
            ns: Some(v),
            ..Default::default()
        }
    }
    fn bs(v: Vec<Bytes>) -> Self {
        AttributeValue {
            bs: Some(v),
            ..Default::default()
        }
    }
    fn l(v: Vec<Self>) -> Self {
        AttributeValue {
            l: Some(v),
            ..Default::default()
        }
    }
    fn m(m: Self::Map) -> Self {
        AttributeValue {
            m: Some(m),
            ..Default::default()
        }
    }
    fn insert(map: &mut Self::Map, name: String, v: Self) {
        map.insert(name, v);
    }
}

fn read_list<T>(
    r: &mut Reader<'_>,
    one: impl Fn(&mut Reader<'_>) -> Result<T, Malformed>,
) -> Result<Vec<T>, Malformed> {
    let n = r.varint()?;
    // Each element takes at least one byte: a corrupt count cannot ask for a huge allocation.
    let mut out = Vec::with_capacity(n.min(r.buf.len() - r.at.min(r.buf.len())));
    for _ in 0..n {
        out.push(one(r)?);
    }
    Ok(out)
}

fn read_string(r: &mut Reader<'_>) -> Result<String, Malformed> {
    r.text().map(str::to_owned)
}

fn read_bytes(r: &mut Reader<'_>) -> Result<Bytes, Malformed> {
    r.chunk().map(Bytes::copy_from_slice)
}

/// A reader at the key value a key attribute refers to: the first (`T_KEY_HASH`) or second of `key`.
fn key_part(key: &[u8], tag: u8) -> Result<Reader<'_>, Malformed> {
    let mut r = Reader::new(key);
    if tag == T_KEY_RANGE {
        skip_key(&mut r)?;
    }
    Ok(r)
}

fn from_key<V: Build>(k: KeyRead<'_>) -> V {
    match k {
        KeyRead::N(_, n) => V::n(n),
        KeyRead::S(s) => V::s(s),
        KeyRead::B(b) => V::b(Bytes::from(b)),
    }
}

/// Reads one value; `key` is the item's key bytes, which its key attributes refer to.
fn read_value<V: Build>(r: &mut Reader<'_>, key: &[u8]) -> Result<V, Malformed> {
    let at = r.at;
    Ok(match r.byte()? {
        tag @ (T_KEY_HASH | T_KEY_RANGE) => from_key(read_key(&mut key_part(key, tag)?)?),
        T_S => V::s(read_string(r)?),
        T_N => V::n(read_string(r)?),
        T_B => V::b(read_bytes(r)?),
        T_TRUE => V::bool(true),
        T_FALSE => V::bool(false),
        T_NULL => V::null(),
        T_SS => V::ss(read_list(r, read_string)?),
        T_NS => V::ns(read_list(r, read_string)?),
        T_BS => V::bs(read_list(r, read_bytes)?),
        T_L => V::l(read_list(r, |r| read_value::<V>(r, key))?),
        T_M => {
            let n = r.varint()?;
            let mut m = V::Map::default();
            for _ in 0..n {
                let name = read_string(r)?;
                V::insert(&mut m, name, read_value(r, key)?);
            }
            V::m(m)
        }
        t => return Err(Malformed::Tag(t, at)),
    })
}

/// Skips one value; returns its size as DynamoDB counts it ([`Av::size`]).
fn skip_value(r: &mut Reader<'_>, key: &[u8]) -> Result<usize, Malformed> {
    let at = r.at;
    Ok(match r.byte()? {
        tag @ (T_KEY_HASH | T_KEY_RANGE) => skip_key(&mut key_part(key, tag)?)?,
        T_S | T_B => r.chunk()?.len(),
        T_N => number_size(r.text()?),
        T_TRUE | T_FALSE | T_NULL => 1,
        T_SS | T_BS => read_list(r, |r| r.chunk().map(<[u8]>::len))?.iter().sum(),
        T_NS => read_list(r, |r| r.text().map(number_size))?.iter().sum(),
        T_L => 3 + read_list(r, |r| skip_value(r, key))?.iter().sum::<usize>(),
        T_M => {
            let n = r.varint()?;
            let mut size = 3;
            for _ in 0..n {
                size += r.chunk()?.len() + skip_value(r, key)?;
            }
            size
        }
        t => return Err(Malformed::Tag(t, at)),
    })
}

// ---------------------------------------------------------------------------------------------------
// Packed items

/// An item packed into one shared buffer: its key bytes ([`pkey_bytes`], length first; none for an
/// item kept apart from a table), then its attributes, the key attributes' values referring to the
/// key bytes instead of being repeated. Cloning shares the buffer.
#[derive(Clone, PartialEq, Eq)]
pub struct Packed(Arc<[u8]>);

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Packed").field(&self.item()).finish()
    }
}

/// The names of a table's key attributes.
#[derive(Debug, Clone, Copy)]
pub struct KeyNames<'a> {
    /// The partition key's.
    pub hash: &'a str,
    /// The sort key's.
    pub range: Option<&'a str>,
}

impl Packed {
    /// Packs `item` with no key (an item outside a table, as a stream record read back keeps it).
    pub fn new(item: &Item) -> Packed {
        let mut body = Vec::with_capacity(64);
        put_attrs(&mut body, item);
        Packed::seal(0, &body)
    }

    /// Packs `item` under its primary key `pkey`, the attributes `names` naming keeping only a
    /// reference to the key bytes. `scratch` is working room, kept by the caller between items so
    /// that the buffer is the only allocation (one size per item, no short-lived ones between
    /// them: the allocator then reuses freed items' room instead of fragmenting).
    pub fn keyed(scratch: &mut Vec<u8>, pkey: &PKey, names: KeyNames<'_>, item: &Item) -> Packed {
        scratch.clear();
        put_pkey(scratch, pkey);
        let key_len = scratch.len();
        for (name, v) in item {
            put_chunk(scratch, name.as_bytes());
            let reference = if name == names.hash && is_key_value(v, &pkey.hash) {
                Some(T_KEY_HASH)
            } else {
                match &pkey.range {
                    SortPart::Val(k)
                        if Some(name.as_str()) == names.range && is_key_value(v, k) =>
                    {
                        Some(T_KEY_RANGE)
                    }
                    _ => None,
                }
            };
            match reference {
                Some(tag) => scratch.push(tag),
                None => put_value(scratch, v),
            }
        }
        Packed::seal(key_len, scratch)
    }

    /// The buffer of `body` (the key bytes, `key_len` long, then the attributes), allocated once
    /// at its exact size.
    fn seal(key_len: usize, body: &[u8]) -> Packed {
        let (head, n) = varint_bytes(key_len);
        Packed(head[..n].iter().chain(body).copied().collect())
    }

    /// The key bytes and the attributes.
    fn split(&self) -> (&[u8], &[u8]) {
        let mut r = Reader::new(&self.0);
        match r.chunk() {
            Ok(key) => (key, &self.0[r.at..]),
            Err(_) => (&[], &[]),
        }
    }

    /// The key bytes.
    pub fn key(&self) -> &[u8] {
        self.split().0
    }

    /// True when both are one buffer (not just equal).
    pub fn ptr_eq(a: &Packed, b: &Packed) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// Visits each attribute: its name and a reader at its value (with the key bytes its value may
    /// refer to); stops when `f` says so.
    fn visit(&self, mut f: impl FnMut(&str, &mut Reader<'_>, &[u8]) -> Result<bool, Malformed>) {
        let (key, attrs) = self.split();
        let mut r = Reader::new(attrs);
        while !r.done() {
            let go_on = r.text().and_then(|name| f(name, &mut r, key));
            match go_on {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::error!("a packed DynamoDB item is malformed: {e}");
                    return;
                }
            }
        }
    }

    fn attrs<V: Build>(&self) -> V::Map {
        let mut out = V::Map::default();
        self.visit(|name, r, key| {
            V::insert(&mut out, name.to_owned(), read_value::<V>(r, key)?);
            Ok(true)
        });
        out
    }

    /// The item.
    pub fn item(&self) -> Item {
        self.attrs::<Av>()
    }

    /// The item's wire form (as [`crate::attr::item_to_wire`] of [`Packed::item`]).
    pub fn wire(&self) -> BTreeMap<String, AttributeValue> {
        self.attrs::<AttributeValue>()
    }

    /// The item's size as DynamoDB counts it ([`crate::attr::item_size`]), without decoding it.
    pub fn size(&self) -> usize {
        let mut size = 0;
        self.visit(|name, r, key| {
            size += name.len() + skip_value(r, key)?;
            Ok(true)
        });
        size
    }

    /// The attribute `name`, decoding only it.
    pub fn get(&self, name: &str) -> Option<Av> {
        self.find(name, read_value::<Av>)
    }

    /// Whether the item has the attribute `name`, decoding nothing.
    pub fn has(&self, name: &str) -> bool {
        self.find(name, |_, _| Ok(())).is_some()
    }

    /// `read` of the attribute `name`'s value, if the item has it.
    fn find<T>(
        &self,
        name: &str,
        read: impl Fn(&mut Reader<'_>, &[u8]) -> Result<T, Malformed>,
    ) -> Option<T> {
        let mut found = None;
        self.visit(|n, r, key| {
            if n == name {
                found = Some(read(r, key)?);
                return Ok(false);
            }
            skip_value(r, key)?;
            // Attributes are in name order: past it, it is not there.
            Ok(n < name)
        });
        found
    }
}

/// A table's item in its ordered set: a [`Packed`] item ordered, compared and looked up by its key
/// bytes alone (so the set needs no key beside the item).
#[derive(Debug, Clone)]
pub struct Row(pub Packed);

impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Row {}

impl PartialOrd for Row {
    fn partial_cmp(&self, other: &Row) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Row {
    fn cmp(&self, other: &Row) -> Ordering {
        self.0.key().cmp(other.0.key())
    }
}

impl Borrow<[u8]> for Row {
    fn borrow(&self) -> &[u8] {
        self.0.key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{item_size, item_to_wire};
    use crate::number;
    use std::collections::BTreeSet;

    fn n(s: &str) -> KeyVal {
        KeyVal::of(&Av::N(number::normalize(s).unwrap())).unwrap()
    }

    fn s(v: &str) -> KeyVal {
        KeyVal::S(v.into())
    }

    fn b(v: &[u8]) -> KeyVal {
        KeyVal::B(Bytes::copy_from_slice(v))
    }

    fn pk(hash: KeyVal, range: SortPart) -> PKey {
        PKey { hash, range }
    }

    #[test]
    fn key_bytes_order_as_keys_do_and_read_back() {
        let values = [
            vec![
                n("-1e100"),
                n("-10"),
                n("-1"),
                n("-0.5"),
                n("-0.123"),
                n("-0.12"),
                n("0"),
                n("1e-5"),
                n("0.12"),
                n("0.123"),
                n("0.5"),
                n("1"),
                n("1.5"),
                n("9"),
                n("10"),
                n("100.25"),
                n("1e100"),
            ],
            vec![
                s(""),
                s("\0"),
                s("\0\0"),
                s("a"),
                s("a\0"),
                s("a\0b"),
                s("ab"),
                s("b"),
            ],
            vec![
                b(b""),
                b(b"\0"),
                b(b"\0\xff"),
                b(b"\x01"),
                b(b"\xff"),
                b(b"\xff\xff"),
            ],
        ];
        for sort_values in &values {
            for hash_values in &values {
                let mut keys = Vec::new();
                for h in hash_values {
                    keys.push(pk(h.clone(), SortPart::None));
                    for v in sort_values {
                        keys.push(pk(h.clone(), SortPart::Val(v.clone())));
                    }
                    keys.push(pk(h.clone(), SortPart::Max));
                }
                let mut by_key = keys.clone();
                by_key.sort();
                let mut by_bytes = keys.clone();
                by_bytes.sort_by_key(pkey_bytes);
                assert_eq!(by_key, by_bytes);
                for k in &keys {
                    let ranged = !matches!(k.range, SortPart::None);
                    assert_eq!(&pkey_of(&pkey_bytes(k), ranged).unwrap(), k);
                }
            }
        }
        // Numbers read back in their normalised text.
        let k = pkey_of(&pkey_bytes(&pk(n("-0.0120"), SortPart::None)), false).unwrap();
        assert_eq!(k.hash, n("-0.012"));
        assert!(matches!(k.hash, KeyVal::N(_, t) if &*t == "-0.012"));
    }

    #[test]
    fn index_entries_read_back_with_their_table_key() {
        let table = pk(s("a\0"), SortPart::Val(n("-3")));
        let e = idx_bytes(&n("7"), &SortPart::Val(b(b"\0x")), &table);
        assert_eq!(
            idx_of(&e, true, true).unwrap(),
            (n("7"), SortPart::Val(b(b"\0x")), table.clone())
        );
        assert_eq!(idx_table_key(&e, true).unwrap(), pkey_bytes(&table));
        assert_eq!(hash_of(&e).unwrap(), n("7"));
        let e = idx_bytes(&s("x"), &SortPart::None, &table);
        assert_eq!(
            idx_of(&e, false, true).unwrap().2,
            table,
            "an index without a sort key"
        );
    }

    fn sample() -> Item {
        let mut inner = Item::new();
        inner.insert("x".into(), Av::Bs(vec![Bytes::from_static(b"\x00\x01")]));
        inner.insert("".into(), Av::Ns(vec!["1".into(), "-2.5".into()]));
        let mut item = Item::new();
        item.insert("id".into(), Av::S("abc".into()));
        item.insert("n".into(), Av::N("12345".into()));
        item.insert("z".into(), Av::N("0.000120".into()));
        item.insert("big".into(), Av::S("é".repeat(300)));
        item.insert("t".into(), Av::Bool(true));
        item.insert("f".into(), Av::Bool(false));
        item.insert("nul".into(), Av::Null);
        item.insert("bin".into(), Av::B(Bytes::from_static(b"\xff\x00")));
        item.insert("ss".into(), Av::Ss(vec!["b".into(), "a".into()]));
        item.insert(
            "l".into(),
            Av::L(vec![Av::Null, Av::S("xy".into()), Av::M(inner.clone())]),
        );
        item.insert("m".into(), Av::M(inner));
        item
    }

    fn names() -> KeyNames<'static> {
        KeyNames {
            hash: "id",
            range: Some("n"),
        }
    }

    fn sample_key() -> PKey {
        pk(s("abc"), SortPart::Val(n("12345")))
    }

    fn check(p: &Packed, item: &Item) {
        assert_eq!(&p.item(), item);
        assert_eq!(p.wire(), item_to_wire(item));
        assert_eq!(p.size(), item_size(item));
        for name in ["id", "n", "m", "l", "absent", "zz", ""] {
            assert_eq!(p.get(name), item.get(name).cloned(), "{name}");
            assert_eq!(p.has(name), item.contains_key(name), "{name}");
        }
    }

    #[test]
    fn items_round_trip_with_their_size_and_wire_form() {
        let item = sample();
        let plain = Packed::new(&item);
        assert_eq!(plain.key(), b"");
        check(&plain, &item);
        let keyed = Packed::keyed(&mut Vec::new(), &sample_key(), names(), &item);
        assert_eq!(keyed.key(), pkey_bytes(&sample_key()));
        check(&keyed, &item);
        // The key attributes' values are not repeated.
        assert!(keyed.0.len() < plain.0.len() + keyed.key().len() - 3);
        let empty = Packed::new(&Item::new());
        assert_eq!((empty.item(), empty.size()), (Item::new(), 0));
    }

    #[test]
    fn a_key_attribute_that_differs_from_the_key_is_kept_whole() {
        let item = sample();
        let other = pk(s("abd"), SortPart::Val(n("1")));
        let p = Packed::keyed(&mut Vec::new(), &other, names(), &item);
        check(&p, &item);
        let hash_only = Packed::keyed(
            &mut Vec::new(),
            &pk(s("abc"), SortPart::None),
            KeyNames {
                hash: "id",
                range: None,
            },
            &item,
        );
        check(&hash_only, &item);
    }

    #[test]
    fn key_attributes_of_every_type_read_back_from_the_key() {
        let num = |t: &str| Av::N(number::normalize(t).unwrap());
        let cases = [
            (Av::S("a\0b".into()), num("0")),
            (Av::S("".into()), num("-12.5")),
            (num("1e100"), Av::B(Bytes::from_static(b"\0\xff\0"))),
            (Av::B(Bytes::new()), Av::S("\0".into())),
            (num("-0.0001"), num("123456789012345678901234567890")),
        ];
        for (hash, range) in cases {
            let mut item = sample();
            item.insert("id".into(), hash.clone());
            item.insert("n".into(), range.clone());
            let key = pk(
                KeyVal::of(&hash).unwrap(),
                SortPart::Val(KeyVal::of(&range).unwrap()),
            );
            let p = Packed::keyed(&mut Vec::new(), &key, names(), &item);
            check(&p, &item);
            assert_eq!(pkey_of(p.key(), true).unwrap(), key);
        }
    }

    #[test]
    fn rows_are_found_by_key_bytes() {
        let mut set = BTreeSet::new();
        let item = sample();
        for k in ["b", "a", "c"] {
            set.insert(Row(Packed::keyed(
                &mut Vec::new(),
                &pk(s(k), SortPart::None),
                names(),
                &item,
            )));
        }
        let keys: Vec<PKey> = set
            .iter()
            .map(|r| pkey_of(r.0.key(), false).unwrap())
            .collect();
        assert_eq!(
            keys,
            ["a", "b", "c"].map(|k| pk(s(k), SortPart::None)).to_vec()
        );
        let b = pkey_bytes(&pk(s("b"), SortPart::None));
        assert!(set.contains(b.as_slice()));
        assert!(!set.contains(&b"d"[..]));
        // Replacing swaps the item under the same key.
        let empty = Packed::keyed(
            &mut Vec::new(),
            &pk(s("b"), SortPart::None),
            names(),
            &Item::new(),
        );
        let old = set.replace(Row(empty));
        assert_eq!(old.map(|r| r.0.item()), Some(item));
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn malformed_buffers_are_refused_not_panicked_on() {
        let full = Packed::keyed(&mut Vec::new(), &sample_key(), names(), &sample())
            .0
            .to_vec();
        for cut in 0..full.len() {
            let p = Packed(Arc::from(&full[..cut]));
            // Whatever was read up to the fault, never a panic.
            let _ = (p.item(), p.wire(), p.size(), p.get("z"));
        }
        assert_eq!(
            pkey_of(&[9], false),
            Err(Malformed::Tag(9, 0)),
            "an unknown key type"
        );
        assert!(pkey_of(&[KEY_S, b'a'], false).is_err());
        assert!(pkey_of(&[2, 0x80], false).is_err());
    }
}
