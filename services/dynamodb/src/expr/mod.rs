//! DynamoDB's expression language, one parser and one evaluator for every operation: conditions
//! (`ConditionExpression`, `FilterExpression`, `KeyConditionExpression`), projections and updates.
//!
//! - [`parse`]: tokens, grammar, placeholders (`#name`, `:value`), reserved words, AWS's messages;
//! - [`ast`]: the parsed forms;
//! - this module: evaluating a condition on an item ([`eval`]), projecting an item ([`project`]),
//!   applying an update ([`apply_update`]).

pub mod ast;
pub mod parse;
pub mod reserved;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

pub use ast::{CmpOp, Cond, Elem, Operand, Path, SetValue, Update, UpdateAction};
pub use parse::{Kind, Placeholders};

use crate::attr::{Av, Item};
use crate::number::Decimal;

/// The value at `path` in `item`.
pub fn resolve<'a>(item: &'a Item, path: &[Elem]) -> Option<&'a Av> {
    let (Elem::Name(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = item.get(first)?;
    for e in rest {
        v = match (e, v) {
            (Elem::Name(n), Av::M(m)) => m.get(n)?,
            (Elem::Index(i), Av::L(l)) => l.get(*i as usize)?,
            _ => return None,
        };
    }
    Some(v)
}

/// `a.b[1]` as AWS shows paths in messages: `[a, b, [1]]`.
pub fn show_path(path: &[Elem]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|e| match e {
            Elem::Name(n) => n.clone(),
            Elem::Index(i) => format!("[{i}]"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// AWS's error when one path is a prefix of (or equal to) another.
pub fn check_overlap(paths: &[Path]) -> Result<(), String> {
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let n = a.len().min(b.len());
            if a[..n] == b[..n] {
                return Err(format!(
                    "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                    show_path(a),
                    show_path(b)
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Conditions

fn size_of(v: &Av) -> Option<usize> {
    Some(match v {
        Av::S(s) => s.chars().count(),
        Av::B(b) => b.len(),
        Av::Ss(s) => s.len(),
        Av::Ns(s) => s.len(),
        Av::Bs(s) => s.len(),
        Av::L(l) => l.len(),
        Av::M(m) => m.len(),
        Av::N(_) | Av::Bool(_) | Av::Null => return None,
    })
}

fn operand<'a>(item: &'a Item, op: &'a Operand) -> Option<Cow<'a, Av>> {
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = size_of(resolve(item, p)?)?;
            Some(Cow::Owned(Av::N(n.to_string())))
        }
    }
}

fn compare(op: CmpOp, a: Option<&Av>, b: Option<&Av>) -> bool {
    match op {
        CmpOp::Eq => matches!((a, b), (Some(a), Some(b)) if a.same(b)),
        CmpOp::Ne => !matches!((a, b), (Some(a), Some(b)) if a.same(b)),
        _ => {
            let (Some(a), Some(b)) = (a, b) else {
                return false;
            };
            let Some(order) = a.compare(b) else {
                return false;
            };
            match op {
                CmpOp::Lt => order == Ordering::Less,
                CmpOp::Le => order != Ordering::Greater,
                CmpOp::Gt => order == Ordering::Greater,
                _ => order != Ordering::Less,
            }
        }
    }
}

/// Evaluates `cond` on `item`.
pub fn eval(cond: &Cond, item: &Item) -> bool {
    match cond {
        Cond::Cmp(op, a, b) => compare(
            *op,
            operand(item, a).as_deref(),
            operand(item, b).as_deref(),
        ),
        Cond::Between(a, low, high) => {
            let a = operand(item, a);
            compare(CmpOp::Ge, a.as_deref(), operand(item, low).as_deref())
                && compare(CmpOp::Le, a.as_deref(), operand(item, high).as_deref())
        }
        Cond::In(a, list) => {
            let Some(a) = operand(item, a) else {
                return false;
            };
            list.iter()
                .any(|b| operand(item, b).is_some_and(|b| a.same(&b)))
        }
        Cond::And(a, b) => eval(a, item) && eval(b, item),
        Cond::Or(a, b) => eval(a, item) || eval(b, item),
        Cond::Not(a) => !eval(a, item),
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::Type(p, t) => match (resolve(item, p), operand(item, t).as_deref()) {
            (Some(v), Some(Av::S(t))) => v.type_name() == t,
            _ => false,
        },
        Cond::BeginsWith(a, b) => {
            match (operand(item, a).as_deref(), operand(item, b).as_deref()) {
                (Some(Av::S(a)), Some(Av::S(b))) => a.starts_with(b.as_str()),
                (Some(Av::B(a)), Some(Av::B(b))) => a.starts_with(b),
                _ => false,
            }
        }
        Cond::Contains(a, b) => match (operand(item, a).as_deref(), operand(item, b).as_deref()) {
            (Some(Av::S(a)), Some(Av::S(b))) => a.contains(b.as_str()),
            (Some(Av::B(a)), Some(Av::B(b))) => {
                b.is_empty() || a.windows(b.len()).any(|w| w == b.as_ref())
            }
            (Some(Av::Ss(set)), Some(Av::S(b))) => set.contains(b),
            (Some(Av::Ns(set)), Some(Av::N(b))) => set.contains(b),
            (Some(Av::Bs(set)), Some(Av::B(b))) => set.contains(b),
            (Some(Av::L(list)), Some(b)) => list.iter().any(|x| x.same(b)),
            _ => false,
        },
    }
}

// ---------------------------------------------------------------------------------------------------
// Projections

#[derive(Debug, Default)]
struct Tree {
    leaf: bool,
    names: BTreeMap<String, Tree>,
    indexes: BTreeMap<u32, Tree>,
}

fn walk(v: &Av, tree: &Tree) -> Option<Av> {
    if tree.leaf {
        return Some(v.clone());
    }
    match v {
        Av::M(m) => {
            let out: Item = tree
                .names
                .iter()
                .filter_map(|(k, t)| Some((k.clone(), walk(m.get(k)?, t)?)))
                .collect();
            (!out.is_empty()).then_some(Av::M(out))
        }
        Av::L(l) => {
            let out: Vec<Av> = tree
                .indexes
                .iter()
                .filter_map(|(i, t)| walk(l.get(*i as usize)?, t))
                .collect();
            (!out.is_empty()).then_some(Av::L(out))
        }
        _ => None,
    }
}

/// The parts of `item` at `paths` (lists keep the selected elements, in order).
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut root = Tree::default();
    for path in paths {
        let mut node = &mut root;
        for e in path {
            node = match e {
                Elem::Name(n) => node.names.entry(n.clone()).or_default(),
                Elem::Index(i) => node.indexes.entry(*i).or_default(),
            };
        }
        node.leaf = true;
    }
    root.names
        .iter()
        .filter_map(|(k, t)| Some((k.clone(), walk(item.get(k)?, t)?)))
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// Updates

const MISSING: &str =
    "The provided expression refers to an attribute that does not exist in the item";
const WRONG_TYPE: &str = "An operand in the update expression has an incorrect data type";
const BAD_PATH: &str = "The document path provided in the update expression is invalid for update";

fn set_value(item: &Item, v: &SetValue) -> Result<Av, String> {
    Ok(match v {
        SetValue::Path(p) => resolve(item, p).cloned().ok_or(MISSING)?,
        SetValue::Value(v) => v.clone(),
        SetValue::IfNotExists(p, default) => match resolve(item, p) {
            Some(v) => v.clone(),
            None => set_value(item, default)?,
        },
        SetValue::ListAppend(a, b) => match (set_value(item, a)?, set_value(item, b)?) {
            (Av::L(mut a), Av::L(b)) => {
                a.extend(b);
                Av::L(a)
            }
            _ => return Err(WRONG_TYPE.to_owned()),
        },
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let (Av::N(a), Av::N(b)) = (set_value(item, a)?, set_value(item, b)?) else {
                return Err(WRONG_TYPE.to_owned());
            };
            let a = Decimal::parse(&a).map_err(|e| e.to_string())?;
            let mut b = Decimal::parse(&b).map_err(|e| e.to_string())?;
            if matches!(v, SetValue::Minus(..)) {
                b = b.negate();
            }
            let sum = a.add(&b);
            sum.check().map_err(|e| e.to_string())?;
            Av::number(&sum)
        }
    })
}

/// The container holding the last step of `path`, created nowhere: every step must exist.
fn parent_mut<'a>(item: &'a mut Item, path: &[Elem]) -> Option<&'a mut Av> {
    let (Elem::Name(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = item.get_mut(first)?;
    for e in &rest[..rest.len().saturating_sub(1)] {
        v = match (e, v) {
            (Elem::Name(n), Av::M(m)) => m.get_mut(n)?,
            (Elem::Index(i), Av::L(l)) => l.get_mut(*i as usize)?,
            _ => return None,
        };
    }
    Some(v)
}

fn set_at(item: &mut Item, path: &[Elem], value: Av) -> Result<(), String> {
    if let [Elem::Name(n)] = path {
        item.insert(n.clone(), value);
        return Ok(());
    }
    let last = path.last().ok_or(BAD_PATH)?;
    match (parent_mut(item, path).ok_or(BAD_PATH)?, last) {
        (Av::M(m), Elem::Name(n)) => {
            m.insert(n.clone(), value);
        }
        (Av::L(l), Elem::Index(i)) => {
            let i = *i as usize;
            if i < l.len() {
                l[i] = value;
            } else {
                l.push(value);
            }
        }
        _ => return Err(BAD_PATH.to_owned()),
    }
    Ok(())
}

fn remove_at(item: &mut Item, path: &[Elem]) -> Result<(), String> {
    if let [Elem::Name(n)] = path {
        item.remove(n);
        return Ok(());
    }
    let Some(parent) = parent_mut(item, path) else {
        return Ok(());
    };
    match (parent, path.last()) {
        (Av::M(m), Some(Elem::Name(n))) => {
            m.remove(n);
        }
        (Av::L(l), Some(Elem::Index(i))) => {
            if (*i as usize) < l.len() {
                l.remove(*i as usize);
            }
        }
        _ => return Err(BAD_PATH.to_owned()),
    }
    Ok(())
}

/// The name AWS uses for a type in operand-type messages.
fn long_type(v: &Av) -> &'static str {
    match v {
        Av::S(_) => "STRING",
        Av::N(_) => "NUMBER",
        Av::B(_) => "BINARY",
        Av::Bool(_) => "BOOLEAN",
        Av::Null => "NULL",
        Av::Ss(_) => "STRING_SET",
        Av::Ns(_) => "NUMBER_SET",
        Av::Bs(_) => "BINARY_SET",
        Av::L(_) => "LIST",
        Av::M(_) => "MAP",
    }
}

fn union<T: PartialEq + Clone>(a: &mut Vec<T>, b: &[T]) {
    for x in b {
        if !a.contains(x) {
            a.push(x.clone());
        }
    }
}

fn add(existing: Option<&Av>, v: &Av) -> Result<Av, String> {
    Ok(match (existing, v) {
        (None, v) => v.clone(),
        (Some(Av::N(a)), Av::N(b)) => {
            let a = Decimal::parse(a).map_err(|e| e.to_string())?;
            let b = Decimal::parse(b).map_err(|e| e.to_string())?;
            let sum = a.add(&b);
            sum.check().map_err(|e| e.to_string())?;
            Av::number(&sum)
        }
        (Some(Av::Ss(a)), Av::Ss(b)) => {
            let mut a = a.clone();
            union(&mut a, b);
            Av::Ss(a)
        }
        (Some(Av::Ns(a)), Av::Ns(b)) => {
            let mut a = a.clone();
            union(&mut a, b);
            Av::Ns(a)
        }
        (Some(Av::Bs(a)), Av::Bs(b)) => {
            let mut a = a.clone();
            union(&mut a, b);
            Av::Bs(a)
        }
        _ => return Err(WRONG_TYPE.to_owned()),
    })
}

fn delete(existing: &Av, v: &Av) -> Result<Option<Av>, String> {
    fn minus<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    }
    let out = match (existing, v) {
        (Av::Ss(a), Av::Ss(b)) => Av::Ss(minus(a, b)),
        (Av::Ns(a), Av::Ns(b)) => Av::Ns(minus(a, b)),
        (Av::Bs(a), Av::Bs(b)) => Av::Bs(minus(a, b)),
        _ => return Err(WRONG_TYPE.to_owned()),
    };
    let empty = match &out {
        Av::Ss(v) | Av::Ns(v) => v.is_empty(),
        Av::Bs(v) => v.is_empty(),
        _ => false,
    };
    Ok((!empty).then_some(out))
}

/// Applies `update` to a copy of `item`. Every operand is read from the item as it was before the
/// update. The error is a `ValidationException` message.
pub fn apply_update(item: &Item, update: &Update) -> Result<Item, String> {
    let invalid = |m: String| format!("Invalid UpdateExpression: {m}");
    // Static operand checks first (they are errors whatever the item holds).
    for action in &update.actions {
        match action {
            UpdateAction::Add(_, v)
                if !matches!(v, Av::N(_) | Av::Ss(_) | Av::Ns(_) | Av::Bs(_)) =>
            {
                return Err(invalid(format!(
                    "Incorrect operand type for operator or function; operator: ADD, operand type: {}",
                    long_type(v)
                )));
            }
            UpdateAction::Delete(_, v) if !matches!(v, Av::Ss(_) | Av::Ns(_) | Av::Bs(_)) => {
                return Err(invalid(format!(
                    "Incorrect operand type for operator or function; operator: DELETE, operand type: {}",
                    long_type(v)
                )));
            }
            _ => {}
        }
    }
    let mut sets = Vec::new();
    for action in &update.actions {
        if let UpdateAction::Set(p, v) = action {
            sets.push((p, set_value(item, v)?));
        }
    }
    let mut out = item.clone();
    for (p, v) in sets {
        set_at(&mut out, p, v)?;
    }
    let mut removes: Vec<&Path> = update
        .actions
        .iter()
        .filter_map(|a| match a {
            UpdateAction::Remove(p) => Some(p),
            _ => None,
        })
        .collect();
    // Later list elements first, so that indexes refer to the list as it was.
    removes.sort_by(|a, b| b.cmp(a));
    for p in removes {
        remove_at(&mut out, p)?;
    }
    for action in &update.actions {
        match action {
            UpdateAction::Add(p, v) => {
                let sum = add(resolve(&out, p), v)?;
                set_at(&mut out, p, sum)?;
            }
            UpdateAction::Delete(p, v) => {
                if let Some(existing) = resolve(&out, p) {
                    match delete(existing, v)? {
                        Some(rest) => set_at(&mut out, p, rest)?,
                        None => remove_at(&mut out, p)?,
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

impl PartialOrd for Elem {
    fn partial_cmp(&self, other: &Elem) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Elem {
    fn cmp(&self, other: &Elem) -> Ordering {
        match (self, other) {
            (Elem::Name(a), Elem::Name(b)) => a.cmp(b),
            (Elem::Index(a), Elem::Index(b)) => a.cmp(b),
            (Elem::Name(_), Elem::Index(_)) => Ordering::Less,
            (Elem::Index(_), Elem::Name(_)) => Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests;
