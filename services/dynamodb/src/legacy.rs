//! The legacy parameters (`Expected`, `KeyConditions`, `QueryFilter`, `ScanFilter`,
//! `AttributeUpdates`), translated onto the expression evaluator so there is one semantics.

use std::collections::BTreeMap;

use crate::attr::{Av, from_wire};
use crate::error::{DdbError, validation};
use crate::expr::{CmpOp, Cond, Elem, Operand, SetValue, Update, UpdateAction};
use crate::shapes::{AttributeValue, AttributeValueUpdate, Condition, ExpectedAttributeValue};

fn values(list: Option<Vec<AttributeValue>>) -> Result<Vec<Av>, DdbError> {
    list.unwrap_or_default()
        .into_iter()
        .map(from_wire)
        .collect()
}

/// One `ComparisonOperator` with its `AttributeValueList` on attribute `name`.
fn comparison(name: &str, op: &str, list: Vec<Av>) -> Result<Cond, DdbError> {
    let path = || Operand::Path(vec![Elem::Name(name.to_owned())]);
    let want = match op {
        "NULL" | "NOT_NULL" => 0,
        "BETWEEN" => 2,
        "IN" => usize::MAX,
        "EQ" | "NE" | "LE" | "LT" | "GE" | "GT" | "CONTAINS" | "NOT_CONTAINS" | "BEGINS_WITH" => 1,
        other => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            )));
        }
    };
    let count_ok = if want == usize::MAX {
        !list.is_empty()
    } else {
        list.len() == want
    };
    if !count_ok {
        return Err(validation(format!(
            "One or more parameter values were invalid: Invalid number of argument(s) for the {op} ComparisonOperator"
        )));
    }
    let mut list = list.into_iter();
    let mut next = || Operand::Value(list.next().unwrap_or(Av::Null));
    let cmp = |o: CmpOp, v: Operand| Cond::Cmp(o, path(), v);
    Ok(match op {
        "EQ" => cmp(CmpOp::Eq, next()),
        "NE" => cmp(CmpOp::Ne, next()),
        "LE" => cmp(CmpOp::Le, next()),
        "LT" => cmp(CmpOp::Lt, next()),
        "GE" => cmp(CmpOp::Ge, next()),
        "GT" => cmp(CmpOp::Gt, next()),
        "NULL" => Cond::NotExists(vec![Elem::Name(name.to_owned())]),
        "NOT_NULL" => Cond::Exists(vec![Elem::Name(name.to_owned())]),
        "CONTAINS" => Cond::Contains(path(), next()),
        "NOT_CONTAINS" => Cond::And(
            Box::new(Cond::Exists(vec![Elem::Name(name.to_owned())])),
            Box::new(Cond::Not(Box::new(Cond::Contains(path(), next())))),
        ),
        "BEGINS_WITH" => Cond::BeginsWith(path(), next()),
        "BETWEEN" => {
            let low = next();
            let high = next();
            Cond::Between(path(), low, high)
        }
        _ => Cond::In(path(), list.map(Operand::Value).collect()),
    })
}

fn combine(conds: Vec<Cond>, operator: Option<&str>) -> Result<Option<Cond>, DdbError> {
    let or = match operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(other) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]"
            )));
        }
    };
    Ok(conds.into_iter().reduce(|a, b| {
        if or {
            Cond::Or(Box::new(a), Box::new(b))
        } else {
            Cond::And(Box::new(a), Box::new(b))
        }
    }))
}

/// `Expected` with `ConditionalOperator`.
pub fn expected(
    expected: BTreeMap<String, ExpectedAttributeValue>,
    operator: Option<&str>,
) -> Result<Option<Cond>, DdbError> {
    let mut conds = Vec::new();
    for (name, e) in expected {
        let cond = if let Some(op) = e.comparison_operator.as_deref() {
            if e.value.is_some() {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Value and ComparisonOperator cannot be used together for Attribute: {name}"
                )));
            }
            comparison(&name, op, values(e.attribute_value_list)?)?
        } else {
            match (e.exists.unwrap_or(true), e.value) {
                (true, Some(v)) => Cond::Cmp(
                    CmpOp::Eq,
                    Operand::Path(vec![Elem::Name(name.clone())]),
                    Operand::Value(from_wire(v)?),
                ),
                (true, None) => {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: {name}"
                    )));
                }
                (false, Some(_)) => {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: {name}"
                    )));
                }
                (false, None) => Cond::NotExists(vec![Elem::Name(name.clone())]),
            }
        };
        conds.push(cond);
    }
    combine(conds, operator)
}

/// `KeyConditions`, `QueryFilter`, `ScanFilter` with `ConditionalOperator`.
pub fn conditions(
    conditions: BTreeMap<String, Condition>,
    operator: Option<&str>,
) -> Result<Option<Cond>, DdbError> {
    let mut conds = Vec::new();
    for (name, c) in conditions {
        conds.push(comparison(
            &name,
            &c.comparison_operator,
            values(c.attribute_value_list)?,
        )?);
    }
    combine(conds, operator)
}

/// `AttributeUpdates` as an update.
pub fn attribute_updates(
    updates: BTreeMap<String, AttributeValueUpdate>,
) -> Result<Update, DdbError> {
    let mut update = Update::default();
    for (name, u) in updates {
        let path = vec![Elem::Name(name.clone())];
        let value = u.value.map(from_wire).transpose()?;
        let action = match (u.action.as_deref().unwrap_or("PUT"), value) {
            ("PUT", Some(v)) => UpdateAction::Set(path, SetValue::Value(v)),
            ("PUT", None) => {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified: {name}"
                )));
            }
            ("DELETE", None) => UpdateAction::Remove(path),
            ("DELETE", Some(v)) => UpdateAction::Delete(path, v),
            ("ADD", Some(v)) => UpdateAction::Add(path, v),
            ("ADD", None) => {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified: {name}"
                )));
            }
            (other, _) => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )));
            }
        };
        update.actions.push(action);
    }
    Ok(update)
}
