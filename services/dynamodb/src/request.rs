//! What every item operation reads the same way: expression placeholders and expressions (or their
//! legacy equivalents, through [`crate::legacy`]), `ReturnValues`, and consumed capacity.

use std::collections::BTreeMap;

use crate::attr::{Item, item_from_wire};
use crate::error::{DdbError, validation};
use crate::expr::{self, Cond, Elem, Kind, Path, Placeholders};
use crate::shapes::{self, AttributeValue};

/// Reads `ExpressionAttributeNames` and `ExpressionAttributeValues`.
pub fn placeholders(
    names: Option<BTreeMap<String, String>>,
    values: Option<BTreeMap<String, AttributeValue>>,
) -> Result<Placeholders, DdbError> {
    if names.as_ref().is_some_and(BTreeMap::is_empty) {
        return Err(validation("ExpressionAttributeNames must not be empty"));
    }
    if values.as_ref().is_some_and(BTreeMap::is_empty) {
        return Err(validation("ExpressionAttributeValues must not be empty"));
    }
    if let Some(bad) = names
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| !k.starts_with('#'))
    {
        return Err(validation(format!(
            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{bad}\""
        )));
    }
    let mut converted = BTreeMap::new();
    for (k, v) in values.unwrap_or_default() {
        if !k.starts_with(':') {
            return Err(validation(format!(
                "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
            )));
        }
        let v = crate::attr::from_wire(v).map_err(|e| {
            validation(format!(
                "ExpressionAttributeValues contains invalid value: {e} for key {k}"
            ))
        })?;
        converted.insert(k, v);
    }
    Ok(Placeholders::new(names.unwrap_or_default(), converted))
}

/// AWS's error when placeholders are given but no expression of the request could use them.
pub fn no_expressions(names: bool, values: bool, expressions: &[&str]) -> Result<(), DdbError> {
    let which = if names {
        "ExpressionAttributeNames"
    } else if values {
        "ExpressionAttributeValues"
    } else {
        return Ok(());
    };
    let null = match expressions {
        [one] => format!("{one} is null"),
        [init @ .., last] => format!("{} and {last} are null", init.join(", ")),
        [] => String::new(),
    };
    Err(validation(format!(
        "{which} can only be specified when using expressions: {null}"
    )))
}

/// Parses a condition expression, if given.
pub fn condition(
    kind: Kind,
    text: Option<&str>,
    ph: &mut Placeholders,
) -> Result<Option<Cond>, DdbError> {
    text.map(|t| expr::parse::condition(kind, t, ph).map_err(validation))
        .transpose()
}

/// Parses a `ProjectionExpression`, or turns `AttributesToGet` into the same paths.
pub fn projection(
    text: Option<&str>,
    attributes_to_get: Option<Vec<String>>,
    ph: &mut Placeholders,
) -> Result<Option<Vec<Path>>, DdbError> {
    match (text, attributes_to_get) {
        (Some(_), Some(_)) => Err(validation(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}",
        )),
        (Some(t), None) => Ok(Some(expr::parse::projection(t, ph).map_err(validation)?)),
        (None, Some(names)) => {
            for (i, n) in names.iter().enumerate() {
                if names[..i].contains(n) {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: Duplicate value in attribute name: {n}"
                    )));
                }
            }
            Ok(Some(
                names.into_iter().map(|n| vec![Elem::Name(n)]).collect(),
            ))
        }
        (None, None) => Ok(None),
    }
}

/// Checks that every placeholder was used.
pub fn finish(ph: &Placeholders) -> Result<(), DdbError> {
    ph.check_unused().map_err(validation)
}

/// Reads an item parameter (`Item`, `Key`).
pub fn item(m: BTreeMap<String, AttributeValue>) -> Result<Item, DdbError> {
    item_from_wire(m)
}

/// `ReturnValues`, checked against what the operation allows.
pub fn return_values(v: Option<&str>, allowed: &[&str]) -> Result<String, DdbError> {
    let v = v.unwrap_or("NONE");
    if allowed.contains(&v) {
        Ok(v.to_owned())
    } else {
        Err(validation("Return values set to invalid value"))
    }
}

/// True when `ReturnValuesOnConditionCheckFailure` asks for the item.
pub fn old_on_failure(v: Option<&str>) -> bool {
    v == Some("ALL_OLD")
}

// ---------------------------------------------------------------------------------------------------
// Consumed capacity

/// Read capacity for `bytes` (1 unit per 4 KB, half for eventually consistent reads).
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.max(1).div_ceil(4096) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Write capacity for `bytes` (1 unit per 1 KB).
pub fn write_units(bytes: usize) -> f64 {
    bytes.max(1).div_ceil(1024) as f64
}

/// Units consumed by one operation on a table and (for writes) its indexes.
#[derive(Debug, Clone, Default)]
pub struct Units {
    /// Units of the table.
    pub table: f64,
    /// Units per global secondary index.
    pub gsi: BTreeMap<String, f64>,
    /// Units per local secondary index.
    pub lsi: BTreeMap<String, f64>,
    /// Reads (true) or writes.
    pub read: bool,
}

impl Units {
    /// Units of a read.
    pub fn read(table: f64) -> Units {
        Units {
            table,
            read: true,
            ..Default::default()
        }
    }

    /// Units of a write.
    pub fn write(table: f64) -> Units {
        Units {
            table,
            read: false,
            ..Default::default()
        }
    }

    /// Adds `other`'s units.
    pub fn add(&mut self, other: &Units) {
        self.table += other.table;
        for (k, v) in &other.gsi {
            *self.gsi.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.lsi {
            *self.lsi.entry(k.clone()).or_default() += v;
        }
    }
}

/// `ConsumedCapacity` for `ReturnConsumedCapacity` (`TOTAL` or `INDEXES`; `None` for `NONE`).
pub fn consumed(
    mode: Option<&str>,
    table: &str,
    units: &Units,
) -> Option<shapes::ConsumedCapacity> {
    let indexes = match mode {
        Some("TOTAL") => false,
        Some("INDEXES") => true,
        _ => return None,
    };
    let cap = |u: f64| shapes::Capacity {
        capacity_units: Some(u),
        read_capacity_units: units.read.then_some(u),
        write_capacity_units: (!units.read).then_some(u),
    };
    let total = units.table + units.gsi.values().sum::<f64>() + units.lsi.values().sum::<f64>();
    let mut out = shapes::ConsumedCapacity {
        table_name: Some(table.to_owned()),
        capacity_units: Some(total),
        read_capacity_units: units.read.then_some(total),
        write_capacity_units: (!units.read).then_some(total),
        ..Default::default()
    };
    if indexes {
        out.table = Some(cap(units.table));
        if !units.gsi.is_empty() {
            out.global_secondary_indexes = Some(
                units
                    .gsi
                    .iter()
                    .map(|(k, v)| (k.clone(), cap(*v)))
                    .collect(),
            );
        }
        if !units.lsi.is_empty() {
            out.local_secondary_indexes = Some(
                units
                    .lsi
                    .iter()
                    .map(|(k, v)| (k.clone(), cap(*v)))
                    .collect(),
            );
        }
    }
    Some(out)
}

/// Write units of a change from `old` (as the table keeps it: nothing is decoded) to `new` on a table
/// and each index whose entry changes.
pub fn write_cost(
    meta: &crate::schema::TableMeta,
    old: Option<&crate::packed::Packed>,
    new: Option<&Item>,
) -> Units {
    let size = old
        .map_or(0, crate::packed::Packed::size)
        .max(new.map_or(0, crate::attr::item_size));
    let mut units = Units::write(write_units(size));
    for index in &meta.indexes {
        let keyed = |has: &dyn Fn(&str) -> bool| {
            has(&index.hash.name) && index.range.as_ref().is_none_or(|r| has(&r.name))
        };
        let touched = usize::from(old.is_some_and(|o| keyed(&|name| o.has(name))))
            + usize::from(new.is_some_and(|n| keyed(&|name| n.contains_key(name))));
        if touched == 0 {
            continue;
        }
        let u = write_units(size) * touched as f64;
        let map = if index.global {
            &mut units.gsi
        } else {
            &mut units.lsi
        };
        map.insert(index.name.clone(), u);
    }
    units
}
