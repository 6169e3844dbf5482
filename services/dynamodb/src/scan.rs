//! Query and Scan, on tables and on secondary indexes.
//!
//! Both walk items in key order (a Query: one partition, its sort-key range, forwards or backwards;
//! a Scan: everything, or one segment of a parallel scan), count each item read against `Limit` and
//! the 1 MB page, then apply the filter, so `ScannedCount` counts items read and `Count` items
//! returned, and `LastEvaluatedKey` (the table key, plus the index key on an index) resumes after the
//! last item read. On an index, items are seen as the index projects them; items missing an index key
//! attribute are not in the index (sparse indexes).

use skyport_core::RequestContext;
use std::collections::BTreeSet;
use std::ops::Bound;

use crate::api::DynamoDb;
use crate::attr::{Av, Item, KeyVal, PKey, SortPart, item_size, item_to_wire};
use crate::error::{DdbError, validation};
use crate::expr::{self, CmpOp, Cond, Elem, Kind, Operand, Path};
use crate::packed::{self, Packed, Row};
use crate::request::{self, Units};
use crate::schema::{IndexMeta, KeyAttr, TableMeta};
use crate::shapes;
use crate::state::{self, IdxKey, Table};

/// The most bytes one page reads.
const PAGE_BYTES: usize = 1 << 20;

/// The smallest primary key (a bound for index ranges).
fn min_pkey() -> PKey {
    PKey {
        hash: KeyVal::N(Box::new([]), "".into()),
        range: SortPart::None,
    }
}

/// A condition on the sort key.
#[derive(Debug, Clone)]
enum SortCond {
    Cmp(CmpOp, KeyVal),
    Between(KeyVal, KeyVal),
    BeginsWith(Av),
}

impl SortCond {
    fn matches(&self, k: &SortPart) -> bool {
        let SortPart::Val(k) = k else {
            return false;
        };
        match self {
            SortCond::Cmp(op, v) => match op {
                CmpOp::Eq => k == v,
                CmpOp::Lt => k < v,
                CmpOp::Le => k <= v,
                CmpOp::Gt => k > v,
                CmpOp::Ge => k >= v,
                CmpOp::Ne => k != v,
            },
            SortCond::Between(a, b) => k >= a && k <= b,
            SortCond::BeginsWith(p) => match (k, p) {
                (KeyVal::S(s), Av::S(p)) => s.starts_with(p.as_str()),
                (KeyVal::B(b), Av::B(p)) => b.starts_with(p),
                _ => false,
            },
        }
    }

    /// The lowest sort value the condition admits (inclusive), if bounded below.
    fn low(&self) -> Option<(&KeyVal, bool)> {
        match self {
            SortCond::Cmp(CmpOp::Eq | CmpOp::Ge, v) | SortCond::Between(v, _) => Some((v, true)),
            SortCond::Cmp(CmpOp::Gt, v) => Some((v, false)),
            _ => None,
        }
    }

    /// The highest sort value (inclusive), if bounded above.
    fn high(&self) -> Option<(&KeyVal, bool)> {
        match self {
            SortCond::Cmp(CmpOp::Eq | CmpOp::Le, v) | SortCond::Between(_, v) => Some((v, true)),
            SortCond::Cmp(CmpOp::Lt, v) => Some((v, false)),
            _ => None,
        }
    }

    /// True when `k` lies beyond the condition's end in the walking direction.
    fn past_end(&self, k: &SortPart, forward: bool) -> bool {
        let SortPart::Val(k) = k else {
            return false;
        };
        if forward {
            self.high()
                .is_some_and(|(v, incl)| if incl { k > v } else { k >= v })
        } else {
            self.low()
                .is_some_and(|(v, incl)| if incl { k < v } else { k <= v })
        }
    }
}

fn flatten(c: Cond, out: &mut Vec<Cond>) {
    match c {
        Cond::And(a, b) => {
            flatten(*a, out);
            flatten(*b, out);
        }
        other => out.push(other),
    }
}

fn key_name(op: &Operand) -> Option<&str> {
    match op {
        Operand::Path(p) => match p.as_slice() {
            [Elem::Name(n)] => Some(n),
            _ => None,
        },
        _ => None,
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

fn typed_key(attr: &KeyAttr, v: &Av) -> Result<KeyVal, DdbError> {
    let ok = matches!(
        (attr.ty, v),
        (crate::attr::ScalarType::S, Av::S(_))
            | (crate::attr::ScalarType::N, Av::N(_))
            | (crate::attr::ScalarType::B, Av::B(_))
    );
    if !ok {
        return Err(validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ));
    }
    KeyVal::of(v).ok_or_else(|| {
        validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        )
    })
}

/// Reads a key condition: equality on the partition key, at most one condition on the sort key.
fn key_condition(
    cond: Cond,
    hash: &KeyAttr,
    range: Option<&KeyAttr>,
) -> Result<(KeyVal, Option<SortCond>), DdbError> {
    let mut parts = Vec::new();
    flatten(cond, &mut parts);
    let invalid_op = |op: &str| {
        validation(format!(
            "Invalid operator used in KeyConditionExpression: {op}"
        ))
    };
    let mut hash_value = None;
    let mut sort = None;
    if parts.len() > 2 {
        return Err(validation("Conditions can be of length 1 or 2 only"));
    }
    for part in parts {
        let (name, cond): (String, Option<(CmpOp, Av)>) = match &part {
            Cond::Cmp(op, a, b) => match (key_name(a), key_name(b), a, b) {
                (Some(n), None, _, Operand::Value(v)) => (n.to_owned(), Some((*op, v.clone()))),
                (None, Some(n), Operand::Value(v), _) => {
                    (n.to_owned(), Some((flip(*op), v.clone())))
                }
                _ => return Err(validation("Query key condition not supported")),
            },
            Cond::Between(a, _, _) | Cond::BeginsWith(a, _) => match key_name(a) {
                Some(n) => (n.to_owned(), None),
                None => return Err(validation("Query key condition not supported")),
            },
            Cond::Or(..) => return Err(invalid_op("OR")),
            Cond::Not(_) => return Err(invalid_op("NOT")),
            Cond::In(..) => return Err(invalid_op("IN")),
            Cond::Exists(_) => return Err(invalid_op("attribute_exists")),
            Cond::NotExists(_) => return Err(invalid_op("attribute_not_exists")),
            Cond::Type(..) => return Err(invalid_op("attribute_type")),
            Cond::Contains(..) => return Err(invalid_op("contains")),
            Cond::And(..) => return Err(validation("Query key condition not supported")),
        };
        if name == hash.name {
            match cond {
                Some((CmpOp::Eq, v)) if hash_value.is_none() => {
                    hash_value = Some(typed_key(hash, &v)?);
                }
                Some((CmpOp::Eq, _)) => {
                    return Err(validation(
                        "KeyConditionExpressions must only contain one condition per key",
                    ));
                }
                _ => return Err(validation("Query key condition not supported")),
            }
            continue;
        }
        let Some(r) = range.filter(|r| r.name == name) else {
            return Err(validation("Query key condition not supported"));
        };
        if sort.is_some() {
            return Err(validation(
                "KeyConditionExpressions must only contain one condition per key",
            ));
        }
        sort = Some(match (cond, part) {
            (Some((CmpOp::Ne, _)), _) => return Err(invalid_op("<>")),
            (Some((op, v)), _) => SortCond::Cmp(op, typed_key(r, &v)?),
            (None, Cond::Between(_, Operand::Value(a), Operand::Value(b))) => {
                SortCond::Between(typed_key(r, &a)?, typed_key(r, &b)?)
            }
            (None, Cond::BeginsWith(_, Operand::Value(p))) => {
                if !matches!(p, Av::S(_) | Av::B(_)) || r.ty == crate::attr::ScalarType::N {
                    return Err(validation(format!(
                        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: {}",
                        if r.ty == crate::attr::ScalarType::N {
                            "N"
                        } else {
                            p.type_name()
                        }
                    )));
                }
                typed_key(r, &p)?;
                SortCond::BeginsWith(p)
            }
            _ => return Err(validation("Query key condition not supported")),
        });
    }
    let hash_value = hash_value.ok_or_else(|| {
        validation(format!(
            "Query condition missed key schema element: {}",
            hash.name
        ))
    })?;
    Ok((hash_value, sort))
}

/// What to return of each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Select {
    All,
    Projected,
    Specific,
    Count,
}

fn select(
    given: Option<&str>,
    paths: bool,
    index: Option<&IndexMeta>,
    meta: &TableMeta,
) -> Result<Select, DdbError> {
    let s = match given {
        None if paths => Select::Specific,
        None if index.is_some() => Select::Projected,
        None => Select::All,
        Some("ALL_ATTRIBUTES") => Select::All,
        Some("ALL_PROJECTED_ATTRIBUTES") => Select::Projected,
        Some("SPECIFIC_ATTRIBUTES") => Select::Specific,
        Some("COUNT") => Select::Count,
        Some(other) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
            )));
        }
    };
    if paths && s != Select::Specific {
        return Err(validation(format!(
            "One or more parameter values were invalid: Select type {} is not compatible with ProjectionExpression or AttributesToGet",
            given.unwrap_or("")
        )));
    }
    if s == Select::Specific && !paths {
        return Err(validation(
            "One or more parameter values were invalid: SPECIFIC_ATTRIBUTES requires ProjectionExpression or AttributesToGet",
        ));
    }
    match (s, index) {
        (Select::Projected, None) => Err(validation(
            "One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is supported only for index queries or scans",
        )),
        (Select::All, Some(i)) if i.global && i.projection != "ALL" => Err(validation(format!(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
            i.name
        ))),
        _ => {
            let _ = meta;
            Ok(s)
        }
    }
}

/// How a page is read.
struct PageSpec<'a> {
    limit: Option<usize>,
    filter: Option<&'a Cond>,
    paths: Option<&'a [Path]>,
    select: Select,
    /// Attributes an index keeps (`None`: all).
    projected: Option<BTreeSet<String>>,
}

/// An item a page may read: its key bytes, its index entry's bytes (on an index) and the item.
struct Cand<'a> {
    key: &'a [u8],
    entry: Option<&'a [u8]>,
    item: &'a Packed,
}

struct Page<'a> {
    items: Vec<std::collections::BTreeMap<String, shapes::AttributeValue>>,
    count: usize,
    scanned: usize,
    bytes: usize,
    /// The key bytes and index entry bytes of the last item read, when the page stopped early.
    last: Option<(&'a [u8], Option<&'a [u8]>)>,
}

impl PageSpec<'_> {
    fn run<'a>(&self, candidates: impl Iterator<Item = Cand<'a>>) -> Page<'a> {
        let mut page = Page {
            items: Vec::new(),
            count: 0,
            scanned: 0,
            bytes: 0,
            last: None,
        };
        // Nothing to project or test: the item goes from its buffer to the wire in one pass.
        let plain = self.projected.is_none() && self.filter.is_none() && self.paths.is_none();
        for Cand { key, entry, item } in candidates {
            page.scanned += 1;
            if plain {
                page.bytes += item.size();
                page.count += 1;
                if self.select != Select::Count {
                    page.items.push(item.wire());
                }
            } else {
                let full = item.item();
                let view: Item = match &self.projected {
                    Some(names) => full
                        .into_iter()
                        .filter(|(k, _)| names.contains(k))
                        .collect(),
                    None => full,
                };
                page.bytes += item_size(&view);
                if self.filter.is_none_or(|f| expr::eval(f, &view)) {
                    page.count += 1;
                    match (self.select, self.paths) {
                        (Select::Count, _) => {}
                        (_, Some(paths)) => {
                            page.items.push(item_to_wire(&expr::project(&view, paths)))
                        }
                        _ => page.items.push(item_to_wire(&view)),
                    }
                }
            }
            if self.limit.is_some_and(|l| page.scanned >= l) || page.bytes >= PAGE_BYTES {
                page.last = Some((key, entry));
                break;
            }
        }
        page
    }
}

/// The `LastEvaluatedKey` of a page: the table key of the last item read, and on an index its index
/// key too.
fn last_key(t: &Table, index: Option<&IndexMeta>, last: (&[u8], Option<&[u8]>)) -> Option<Item> {
    let meta = &t.meta;
    let mut key = meta.key_item(&t.pkey_of(last.0)?);
    if let (Some(index), Some(entry)) = (index, last.1) {
        let (hash, range, _) =
            packed::idx_of(entry, index.range.is_some(), meta.range.is_some()).ok()?;
        key.insert(index.hash.name.clone(), hash.to_av());
        if let (Some(r), SortPart::Val(v)) = (&index.range, range) {
            key.insert(r.name.clone(), v.to_av());
        }
    }
    Some(key)
}

fn bad_start() -> DdbError {
    validation(
        "The provided starting key is invalid: The provided key element does not match the schema",
    )
}

/// Reads `ExclusiveStartKey`: the table key, and on an index the index key too.
fn start_key(
    meta: &TableMeta,
    index: Option<&IndexMeta>,
    esk: Item,
) -> Result<(PKey, Option<IdxKey>), DdbError> {
    let mut table_part = Item::new();
    for name in meta.key_names() {
        let v = esk.get(&name).ok_or_else(bad_start)?;
        table_part.insert(name, v.clone());
    }
    let pkey = meta.key_param(&table_part).map_err(|_| bad_start())?;
    let Some(index) = index else {
        if esk.len() != table_part.len() {
            return Err(bad_start());
        }
        return Ok((pkey, None));
    };
    let hash = esk
        .get(&index.hash.name)
        .and_then(KeyVal::of)
        .ok_or_else(bad_start)?;
    let range = match &index.range {
        Some(r) => SortPart::Val(
            esk.get(&r.name)
                .and_then(KeyVal::of)
                .ok_or_else(bad_start)?,
        ),
        None => SortPart::None,
    };
    Ok((
        pkey.clone(),
        Some(IdxKey {
            hash,
            range,
            table: pkey,
        }),
    ))
}

fn lower_bound<T: Ord + Clone>(lo: Bound<T>, after: Option<T>) -> Bound<T> {
    match (lo, after) {
        (lo, None) => lo,
        (Bound::Included(l), Some(a)) | (Bound::Excluded(l), Some(a)) if a >= l => {
            Bound::Excluded(a)
        }
        (lo, Some(_)) => lo,
    }
}

fn upper_bound<T: Ord + Clone>(hi: Bound<T>, before: Option<T>) -> Bound<T> {
    match (hi, before) {
        (hi, None) => hi,
        (Bound::Included(h), Some(b)) | (Bound::Excluded(h), Some(b)) if b <= h => {
            Bound::Excluded(b)
        }
        (hi, Some(_)) => hi,
    }
}

/// True when `lo..hi` is a range `BTreeMap::range` accepts and that can hold something.
fn nonempty<T: Ord>(lo: &Bound<T>, hi: &Bound<T>) -> bool {
    match (lo, hi) {
        (Bound::Included(l), Bound::Included(h)) => l <= h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) => l < h,
        _ => true,
    }
}

/// A range of keys as the byte ranges of the sets that keep them.
fn byte_bounds<T>(
    lo: Bound<T>,
    hi: Bound<T>,
    bytes: impl Fn(&T) -> Vec<u8>,
) -> [Bound<Vec<u8>>; 2] {
    [lo.map(|k| bytes(&k)), hi.map(|k| bytes(&k))]
}

fn as_slices(b: &[Bound<Vec<u8>>; 2]) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        b[0].as_ref().map(Vec::as_slice),
        b[1].as_ref().map(Vec::as_slice),
    )
}

/// The sort key of an index entry (the index's, not the table's).
fn entry_sort(t: &Table, n: usize, entry: &[u8]) -> Option<SortPart> {
    let index_ranged = t.meta.indexes[n].range.is_some();
    packed::idx_of(entry, index_ranged, t.meta.range.is_some())
        .inspect_err(|e| tracing::error!("a packed DynamoDB index entry is malformed: {e}"))
        .ok()
        .map(|(_, range, _)| range)
}

/// The table item of an index entry.
fn entry_item<'a>(t: &'a Table, n: usize, entry: &'a [u8]) -> Option<Cand<'a>> {
    let key = packed::idx_table_key(entry, t.meta.indexes[n].range.is_some()).ok()?;
    let item = t.get_packed(key)?;
    Some(Cand {
        key,
        entry: Some(entry),
        item,
    })
}

/// The items of a query, in order.
fn query_candidates<'a>(
    t: &'a Table,
    index: Option<usize>,
    hash: KeyVal,
    sort: Option<&'a SortCond>,
    forward: bool,
    start: Option<(PKey, Option<IdxKey>)>,
) -> Box<dyn Iterator<Item = Cand<'a>> + 'a> {
    match index {
        None => {
            let at = |range: SortPart| PKey {
                hash: hash.clone(),
                range,
            };
            let mut lo = Bound::Included(at(SortPart::None));
            let mut hi = Bound::Included(at(SortPart::Max));
            if let Some(s) = sort {
                if let Some((v, incl)) = s.low() {
                    let k = at(SortPart::Val(v.clone()));
                    lo = if incl {
                        Bound::Included(k)
                    } else {
                        Bound::Excluded(k)
                    };
                }
                if let Some((v, incl)) = s.high() {
                    let k = at(SortPart::Val(v.clone()));
                    hi = if incl {
                        Bound::Included(k)
                    } else {
                        Bound::Excluded(k)
                    };
                }
            }
            let start = start.map(|(p, _)| p);
            if forward {
                lo = lower_bound(lo, start);
            } else {
                hi = upper_bound(hi, start);
            }
            if !nonempty(&lo, &hi) {
                return Box::new(std::iter::empty());
            }
            let bounds = byte_bounds(lo, hi, packed::pkey_bytes);
            let range = t.items.range::<[u8], _>(as_slices(&bounds));
            let filter = move |row: &'a Row| {
                let key = row.0.key();
                sort.is_none_or(|s| t.pkey_of(key).is_some_and(|k| s.matches(&k.range)))
                    .then_some(Cand {
                        key,
                        entry: None,
                        item: &row.0,
                    })
            };
            if forward {
                Box::new(range.filter_map(filter))
            } else {
                Box::new(range.rev().filter_map(filter))
            }
        }
        Some(n) => {
            let entries = &t.indexes[n].entries;
            let at = |range: SortPart| IdxKey {
                hash: hash.clone(),
                range,
                table: min_pkey(),
            };
            let mut lo = Bound::Included(at(SortPart::None));
            let mut hi = Bound::Excluded(at(SortPart::Max));
            if forward && let Some((v, _)) = sort.and_then(SortCond::low) {
                lo = Bound::Included(at(SortPart::Val(v.clone())));
            }
            let start = start.and_then(|(_, e)| e);
            if forward {
                lo = lower_bound(lo, start);
            } else {
                hi = upper_bound(hi, start);
            }
            if !nonempty(&lo, &hi) {
                return Box::new(std::iter::empty());
            }
            let bounds = byte_bounds(lo, hi, IdxKey::bytes);
            let range = entries.range::<[u8], _>(as_slices(&bounds)).map(|e| &**e);
            let step = move |e: &'a [u8]| entry_item(t, n, e);
            let keep = move |e: &&'a [u8]| {
                sort.is_none_or(|s| entry_sort(t, n, e).is_some_and(|k| s.matches(&k)))
            };
            let go_on = move |e: &&'a [u8]| {
                sort.is_none_or(|s| entry_sort(t, n, e).is_none_or(|k| !s.past_end(&k, forward)))
            };
            if forward {
                Box::new(range.take_while(go_on).filter(keep).filter_map(step))
            } else {
                Box::new(range.rev().take_while(go_on).filter(keep).filter_map(step))
            }
        }
    }
}

/// Every item of a table or index from `start` on, in key order.
fn scan_candidates<'a>(
    t: &'a Table,
    index: Option<usize>,
    start: Option<(PKey, Option<IdxKey>)>,
    segment: Option<(u64, u64)>,
) -> Box<dyn Iterator<Item = Cand<'a>> + 'a> {
    let in_segment = move |key: &[u8]| {
        segment.is_none_or(|(s, total)| {
            packed::hash_of(key).is_ok_and(|h| h.stable_hash() % total == s)
        })
    };
    match index {
        None => {
            let lo = match start {
                Some((p, _)) => Bound::Excluded(packed::pkey_bytes(&p)),
                None => Bound::Unbounded,
            };
            Box::new(
                t.items
                    .range::<[u8], _>((lo.as_ref().map(Vec::as_slice), Bound::Unbounded))
                    .filter(move |row| in_segment(row.0.key()))
                    .map(|row| Cand {
                        key: row.0.key(),
                        entry: None,
                        item: &row.0,
                    }),
            )
        }
        Some(n) => {
            let lo = match start.and_then(|(_, e)| e) {
                Some(e) => Bound::Excluded(e.bytes()),
                None => Bound::Unbounded,
            };
            Box::new(
                t.indexes[n]
                    .entries
                    .range::<[u8], _>((lo.as_ref().map(Vec::as_slice), Bound::Unbounded))
                    .filter(move |e| in_segment(e))
                    .filter_map(move |e| entry_item(t, n, e)),
            )
        }
    }
}

/// The index `name` of a table: its position and definition.
fn find_index<'a>(
    meta: &'a TableMeta,
    name: Option<&str>,
) -> Result<Option<(usize, &'a IndexMeta)>, DdbError> {
    match name {
        None => Ok(None),
        Some(n) => meta
            .indexes
            .iter()
            .enumerate()
            .find(|(_, i)| i.name == n)
            .map(Some)
            .ok_or_else(|| validation(format!("The table does not have the specified index: {n}"))),
    }
}

/// What an index shows of an item for this select.
fn projected(
    meta: &TableMeta,
    index: Option<&IndexMeta>,
    select: Select,
) -> Option<BTreeSet<String>> {
    let index = index?;
    if !index.global && matches!(select, Select::All | Select::Specific) {
        return None;
    }
    index.projected(meta)
}

fn units_for(index: Option<&IndexMeta>, bytes: usize, consistent: bool) -> Units {
    let u = request::read_units(bytes, consistent);
    match index {
        None => Units::read(u),
        Some(i) => {
            let mut units = Units::read(0.0);
            if i.global {
                units.gsi.insert(i.name.clone(), u);
            } else {
                units.lsi.insert(i.name.clone(), u);
            }
            units
        }
    }
}

fn limit(l: Option<i32>) -> Option<usize> {
    l.map(|l| l.max(1) as usize)
}

/// A Query or Scan, its expressions already parsed: what `Query`, `Scan` and PartiQL's `SELECT` run.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadSpec {
    /// The table.
    pub table_name: String,
    /// The index, if any.
    pub index_name: Option<String>,
    /// The key condition: a Query when given, a Scan otherwise.
    pub key_cond: Option<Cond>,
    /// The filter.
    pub filter: Option<Cond>,
    /// The projection.
    pub paths: Option<Vec<Path>>,
    /// `Select`.
    pub select: Option<String>,
    /// `Limit`.
    pub limit: Option<i32>,
    /// `ExclusiveStartKey`.
    pub start: Option<Item>,
    /// `ConsistentRead`.
    pub consistent: bool,
    /// `ScanIndexForward` (Query).
    pub forward: bool,
    /// `Segment` and `TotalSegments` (Scan).
    pub segment: Option<(u64, u64)>,
    /// `ReturnConsumedCapacity`.
    pub return_consumed: Option<String>,
}

/// One page of a Query or Scan.
#[derive(Debug, Clone)]
pub(crate) struct ReadPage {
    /// The items (`None` for `Select: COUNT` with nothing to show).
    pub items: Option<Vec<std::collections::BTreeMap<String, shapes::AttributeValue>>>,
    /// `Count`.
    pub count: usize,
    /// `ScannedCount`.
    pub scanned: usize,
    /// `LastEvaluatedKey`.
    pub last: Option<Item>,
    /// `ConsumedCapacity`.
    pub consumed: Option<shapes::ConsumedCapacity>,
}

impl DynamoDb {
    /// Runs one page of a Query (`key_cond` given) or a Scan.
    pub(crate) fn read_page(
        &self,
        ctx: &RequestContext,
        spec: ReadSpec,
    ) -> Result<ReadPage, DdbError> {
        let table = self
            .registry()
            .existing(&ctx.account, &ctx.region, &spec.table_name)?;
        let t = state::read(&table);
        let meta = &t.meta;
        let found = find_index(meta, spec.index_name.as_deref())?;
        let index = found.map(|(_, i)| i);
        if spec.consistent && index.is_some_and(|i| i.global) {
            return Err(validation(
                "Consistent reads are not supported on global secondary indexes",
            ));
        }
        let key = match spec.key_cond {
            Some(cond) => {
                let (hash_attr, range_attr) = match index {
                    Some(i) => (&i.hash, i.range.as_ref()),
                    None => (&meta.hash, meta.range.as_ref()),
                };
                Some(key_condition(cond, hash_attr, range_attr)?)
            }
            None => None,
        };
        let select = select(spec.select.as_deref(), spec.paths.is_some(), index, meta)?;
        let start = spec.start.map(|k| start_key(meta, index, k)).transpose()?;
        let page_spec = PageSpec {
            limit: limit(spec.limit),
            filter: spec.filter.as_ref(),
            paths: spec.paths.as_deref(),
            select,
            projected: projected(meta, index, select),
        };
        let n = found.map(|(n, _)| n);
        let page = match &key {
            Some((hash, sort)) => page_spec.run(query_candidates(
                &t,
                n,
                hash.clone(),
                sort.as_ref(),
                spec.forward,
                start,
            )),
            None => page_spec.run(scan_candidates(&t, n, start, spec.segment)),
        };
        let Page {
            items,
            count,
            scanned,
            bytes,
            last,
        } = page;
        let last = last.and_then(|l| last_key(&t, index, l));
        let units = units_for(index, bytes, spec.consistent);
        let consumed = request::consumed(spec.return_consumed.as_deref(), &spec.table_name, &units);
        drop(t);
        Ok(ReadPage {
            items: (!items.is_empty() || !matches!(spec.select.as_deref(), Some("COUNT")))
                .then_some(items),
            count,
            scanned,
            last,
            consumed,
        })
    }

    /// `Query`.
    pub async fn query_op(
        &self,
        ctx: &RequestContext,
        input: shapes::QueryInput,
    ) -> Result<shapes::QueryOutput, DdbError> {
        let (names, values) = (
            input.expression_attribute_names.is_some(),
            input.expression_attribute_values.is_some(),
        );
        let mut ph = request::placeholders(
            input.expression_attribute_names,
            input.expression_attribute_values,
        )?;
        let key_cond = match (
            input.key_condition_expression.as_deref(),
            input.key_conditions,
        ) {
            (Some(_), Some(_)) => {
                return Err(validation(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}",
                ));
            }
            (Some(text), None) => request::condition(Kind::KeyCondition, Some(text), &mut ph)?,
            (None, Some(kc)) => crate::legacy::conditions(kc, None)?,
            (None, None) => {
                return Err(validation(
                    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                ));
            }
        };
        let filter = match (input.filter_expression.as_deref(), input.query_filter) {
            (Some(_), Some(_)) => {
                return Err(validation(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {QueryFilter} Expression parameters: {FilterExpression}",
                ));
            }
            (Some(text), None) => request::condition(Kind::Filter, Some(text), &mut ph)?,
            (None, Some(qf)) => {
                crate::legacy::conditions(qf, input.conditional_operator.as_deref())?
            }
            (None, None) => None,
        };
        let paths = request::projection(
            input.projection_expression.as_deref(),
            input.attributes_to_get,
            &mut ph,
        )?;
        let expressions = input.key_condition_expression.is_some()
            || input.filter_expression.is_some()
            || input.projection_expression.is_some();
        if expressions {
            request::finish(&ph)?;
        } else {
            request::no_expressions(
                names,
                values,
                &[
                    "KeyConditionExpression",
                    "FilterExpression",
                    "ProjectionExpression",
                ],
            )?;
        }
        let key_cond = key_cond.ok_or_else(|| {
            validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
        })?;
        let page = self.read_page(
            ctx,
            ReadSpec {
                table_name: input.table_name,
                index_name: input.index_name,
                key_cond: Some(key_cond),
                filter,
                paths,
                select: input.select,
                limit: input.limit,
                start: input.exclusive_start_key.map(request::item).transpose()?,
                consistent: input.consistent_read.unwrap_or(false),
                forward: input.scan_index_forward.unwrap_or(true),
                segment: None,
                return_consumed: input.return_consumed_capacity,
            },
        )?;
        Ok(shapes::QueryOutput {
            items: page.items,
            count: Some(page.count as i32),
            scanned_count: Some(page.scanned as i32),
            last_evaluated_key: page.last.as_ref().map(item_to_wire),
            consumed_capacity: page.consumed,
        })
    }

    /// `Scan`.
    pub async fn scan_op(
        &self,
        ctx: &RequestContext,
        input: shapes::ScanInput,
    ) -> Result<shapes::ScanOutput, DdbError> {
        let segment = match (input.segment, input.total_segments) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(validation(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ));
            }
            (None, Some(_)) => {
                return Err(validation(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ));
            }
            (Some(s), Some(total)) => {
                if s >= total {
                    return Err(validation(format!(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {total}"
                    )));
                }
                Some((s.max(0) as u64, total.max(1) as u64))
            }
        };
        let (names, values) = (
            input.expression_attribute_names.is_some(),
            input.expression_attribute_values.is_some(),
        );
        let mut ph = request::placeholders(
            input.expression_attribute_names,
            input.expression_attribute_values,
        )?;
        let filter = match (input.filter_expression.as_deref(), input.scan_filter) {
            (Some(_), Some(_)) => {
                return Err(validation(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}",
                ));
            }
            (Some(text), None) => request::condition(Kind::Filter, Some(text), &mut ph)?,
            (None, Some(sf)) => {
                crate::legacy::conditions(sf, input.conditional_operator.as_deref())?
            }
            (None, None) => None,
        };
        let paths = request::projection(
            input.projection_expression.as_deref(),
            input.attributes_to_get,
            &mut ph,
        )?;
        if input.filter_expression.is_some() || input.projection_expression.is_some() {
            request::finish(&ph)?;
        } else {
            request::no_expressions(names, values, &["FilterExpression", "ProjectionExpression"])?;
        }
        let page = self.read_page(
            ctx,
            ReadSpec {
                table_name: input.table_name,
                index_name: input.index_name,
                key_cond: None,
                filter,
                paths,
                select: input.select,
                limit: input.limit,
                start: input.exclusive_start_key.map(request::item).transpose()?,
                consistent: input.consistent_read.unwrap_or(false),
                forward: true,
                segment,
                return_consumed: input.return_consumed_capacity,
            },
        )?;
        Ok(shapes::ScanOutput {
            items: page.items,
            count: Some(page.count as i32),
            scanned_count: Some(page.scanned as i32),
            last_evaluated_key: page.last.as_ref().map(item_to_wire),
            consumed_capacity: page.consumed,
        })
    }
}
