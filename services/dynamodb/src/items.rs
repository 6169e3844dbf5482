//! PutItem, GetItem, UpdateItem and DeleteItem, and the pieces of them that batches and transactions
//! share: reading a write request ([`WriteSpec`]), checking it against the item it replaces
//! ([`WriteSpec::outcome`]).

use std::sync::Arc;

use skyport_core::RequestContext;

use crate::api::DynamoDb;
use crate::attr::{Item, MAX_ITEM_BYTES, PKey, item_size, item_to_wire};
use crate::error::{DdbError, table_not_found, validation};
use crate::expr::{self, Cond, Kind, Path, Update};
use crate::packed::{self, Packed};
use crate::request::{self, Units};
use crate::schema::TableMeta;
use crate::shapes;
use crate::state;
use crate::streams::log::Origin;

/// What a write does to its item.
#[derive(Debug, Clone)]
pub enum Change {
    /// Store this item.
    Put(Item),
    /// Apply this update to the item (or to its key, when missing).
    Update(Update),
    /// Remove the item.
    Delete,
    /// Only check the condition (`ConditionCheck` of a transaction).
    Check,
}

/// A write request, read and validated, not yet applied.
#[derive(Debug, Clone)]
pub struct WriteSpec {
    /// The table's name.
    pub table: String,
    /// `Key` (updates, deletes, checks); puts carry the key in the item.
    pub key: Option<Item>,
    /// The change.
    pub change: Change,
    /// The condition.
    pub condition: Option<Cond>,
    /// `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
    pub old_on_failure: bool,
}

fn too_large() -> DdbError {
    validation("Item size has exceeded the maximum allowed size")
}

/// `Cannot update attribute <key>` for updates that touch a key attribute.
fn check_key_untouched(meta: &TableMeta, update: &Update) -> Result<(), DdbError> {
    for action in &update.actions {
        if let Some(expr::Elem::Name(first)) = action.path().first()
            && meta.is_key(first)
        {
            return Err(validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {first}. This attribute is part of the key"
            )));
        }
    }
    Ok(())
}

/// Why a write did not go through against the current item.
#[derive(Debug)]
pub enum Refusal {
    /// The condition is false (with the current item).
    Condition(Option<Arc<Item>>),
    /// The result is invalid (size, index key types, an update's operands).
    Invalid(DdbError),
}

impl WriteSpec {
    /// The item's primary key.
    pub fn pkey(&self, meta: &TableMeta) -> Result<PKey, DdbError> {
        match (&self.change, &self.key) {
            (Change::Put(item), _) => meta.item_key(item),
            (_, Some(key)) => meta.key_param(key),
            _ => Err(validation(
                "The provided key element does not match the schema",
            )),
        }
    }

    /// Checks what can be checked without the current item.
    pub fn validate(&self, meta: &TableMeta) -> Result<PKey, DdbError> {
        let pkey = self.pkey(meta)?;
        match &self.change {
            Change::Put(item) => {
                if item_size(item) > MAX_ITEM_BYTES {
                    return Err(too_large());
                }
                meta.check_index_keys(item)?;
            }
            Change::Update(u) => check_key_untouched(meta, u)?,
            Change::Delete | Change::Check => {}
        }
        Ok(pkey)
    }

    /// The item after the write (`None`: no item), given the current one.
    pub fn outcome(
        &self,
        meta: &TableMeta,
        current: Option<&Arc<Item>>,
    ) -> Result<Option<Item>, Refusal> {
        let empty = Item::new();
        if let Some(c) = &self.condition
            && !expr::eval(c, current.map_or(&empty, |i| i.as_ref()))
        {
            return Err(Refusal::Condition(current.cloned()));
        }
        match &self.change {
            Change::Put(item) => Ok(Some(item.clone())),
            Change::Delete => Ok(None),
            Change::Check => Ok(current.map(|i| i.as_ref().clone())),
            Change::Update(u) => {
                let base = match current {
                    Some(i) => i.as_ref().clone(),
                    None => self.key.clone().unwrap_or_default(),
                };
                let new =
                    expr::apply_update(&base, u).map_err(|m| Refusal::Invalid(validation(m)))?;
                if item_size(&new) > MAX_ITEM_BYTES {
                    return Err(Refusal::Invalid(too_large()));
                }
                meta.check_index_keys(&new).map_err(Refusal::Invalid)?;
                Ok(Some(new))
            }
        }
    }
}

/// The paths an update changes (for `UPDATED_OLD` and `UPDATED_NEW`).
pub(crate) fn updated_paths(update: &Update) -> Vec<Path> {
    update.actions.iter().map(|a| a.path().clone()).collect()
}

fn non_empty(item: Item) -> Option<std::collections::BTreeMap<String, shapes::AttributeValue>> {
    (!item.is_empty()).then(|| item_to_wire(&item))
}

/// Reads the condition of a write: `ConditionExpression` or legacy `Expected`.
fn write_condition(
    ph: &mut expr::Placeholders,
    expression: Option<&str>,
    expected: Option<std::collections::BTreeMap<String, shapes::ExpectedAttributeValue>>,
    operator: Option<&str>,
) -> Result<Option<Cond>, DdbError> {
    match (expression, expected) {
        (Some(_), Some(_)) => Err(validation(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        )),
        (Some(text), None) => request::condition(Kind::Condition, Some(text), ph),
        (None, Some(e)) => crate::legacy::expected(e, operator),
        (None, None) => Ok(None),
    }
}

/// The condition of a write whose only expression is `ConditionExpression` (PutItem, DeleteItem), with
/// the placeholders checked: every one used, none given without an expression.
fn only_condition(
    names: Option<std::collections::BTreeMap<String, String>>,
    values: Option<std::collections::BTreeMap<String, shapes::AttributeValue>>,
    expression: Option<&str>,
    expected: Option<std::collections::BTreeMap<String, shapes::ExpectedAttributeValue>>,
    operator: Option<&str>,
) -> Result<Option<Cond>, DdbError> {
    let (has_names, has_values) = (names.is_some(), values.is_some());
    let mut ph = request::placeholders(names, values)?;
    let condition = write_condition(&mut ph, expression, expected, operator)?;
    if expression.is_some() {
        request::finish(&ph)?;
    } else {
        request::no_expressions(has_names, has_values, &["ConditionExpression"])?;
    }
    Ok(condition)
}

impl DynamoDb {
    /// Applies one write to its table: checks, changes memory, queues the commit; then waits for
    /// the disk. Returns the old and new items and the units consumed.
    pub(crate) async fn write_one(
        &self,
        ctx: &RequestContext,
        spec: &WriteSpec,
    ) -> Result<(Option<Packed>, Option<Item>, Units), DdbError> {
        let table = self
            .registry()
            .existing(&ctx.account, &ctx.region, &spec.table)?;
        let (old, new, units, pending) = {
            let mut t = state::write(&table);
            if t.deleted {
                return Err(table_not_found());
            }
            let pkey = spec.validate(&t.meta)?;
            if t.in_flight.contains_key(&pkey) {
                return Err(DdbError::TransactionConflict);
            }
            let old = t.get_packed(&packed::pkey_bytes(&pkey)).cloned();
            // Decoded only for what reads it: a condition, or an update's or a check's base.
            let decoded = (spec.condition.is_some()
                || !matches!(spec.change, Change::Put(_) | Change::Delete))
            .then(|| old.as_ref().map(|p| Arc::new(p.item())))
            .flatten();
            let new = match spec.outcome(&t.meta, decoded.as_ref()) {
                Ok(new) => new,
                Err(Refusal::Condition(current)) => {
                    return Err(DdbError::ConditionFailed(
                        current
                            .filter(|_| spec.old_on_failure)
                            .map(|i| i.as_ref().clone()),
                    ));
                }
                Err(Refusal::Invalid(e)) => return Err(e),
            };
            let units = request::write_cost(&t.meta, old.as_ref(), new.as_ref());
            let mut ops = Vec::new();
            let durable = self.registry().durable();
            t.apply(
                pkey,
                new.clone(),
                Origin::Request,
                durable.then_some(&mut ops),
            );
            let pending = if durable {
                self.registry().commit(ops)
            } else {
                None
            };
            (old, new, units, pending)
        };
        self.wait(pending).await?;
        Ok((old, new, units))
    }

    /// `PutItem`.
    pub async fn put_item_op(
        &self,
        ctx: &RequestContext,
        input: shapes::PutItemInput,
    ) -> Result<shapes::PutItemOutput, DdbError> {
        let rv = request::return_values(input.return_values.as_deref(), &["NONE", "ALL_OLD"])?;
        let item = request::item(input.item)?;
        let condition = only_condition(
            input.expression_attribute_names,
            input.expression_attribute_values,
            input.condition_expression.as_deref(),
            input.expected,
            input.conditional_operator.as_deref(),
        )?;
        let spec = WriteSpec {
            table: input.table_name,
            key: None,
            change: Change::Put(item),
            condition,
            old_on_failure: request::old_on_failure(
                input.return_values_on_condition_check_failure.as_deref(),
            ),
        };
        let (old, _, units) = self.write_one(ctx, &spec).await?;
        Ok(shapes::PutItemOutput {
            attributes: if rv == "ALL_OLD" {
                old.map(|o| o.wire())
            } else {
                None
            },
            consumed_capacity: request::consumed(
                input.return_consumed_capacity.as_deref(),
                &spec.table,
                &units,
            ),
            item_collection_metrics: None,
        })
    }

    /// `DeleteItem`.
    pub async fn delete_item_op(
        &self,
        ctx: &RequestContext,
        input: shapes::DeleteItemInput,
    ) -> Result<shapes::DeleteItemOutput, DdbError> {
        let rv = request::return_values(input.return_values.as_deref(), &["NONE", "ALL_OLD"])?;
        let key = request::item(input.key)?;
        let condition = only_condition(
            input.expression_attribute_names,
            input.expression_attribute_values,
            input.condition_expression.as_deref(),
            input.expected,
            input.conditional_operator.as_deref(),
        )?;
        let spec = WriteSpec {
            table: input.table_name,
            key: Some(key),
            change: Change::Delete,
            condition,
            old_on_failure: request::old_on_failure(
                input.return_values_on_condition_check_failure.as_deref(),
            ),
        };
        let (old, _, units) = self.write_one(ctx, &spec).await?;
        Ok(shapes::DeleteItemOutput {
            attributes: if rv == "ALL_OLD" {
                old.map(|o| o.wire())
            } else {
                None
            },
            consumed_capacity: request::consumed(
                input.return_consumed_capacity.as_deref(),
                &spec.table,
                &units,
            ),
            item_collection_metrics: None,
        })
    }

    /// `UpdateItem`.
    pub async fn update_item_op(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateItemInput,
    ) -> Result<shapes::UpdateItemOutput, DdbError> {
        let rv = request::return_values(
            input.return_values.as_deref(),
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let key = request::item(input.key)?;
        let (names, values) = (
            input.expression_attribute_names.is_some(),
            input.expression_attribute_values.is_some(),
        );
        let mut ph = request::placeholders(
            input.expression_attribute_names,
            input.expression_attribute_values,
        )?;
        let update = match (input.update_expression.as_deref(), input.attribute_updates) {
            (Some(_), Some(_)) => {
                return Err(validation(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}",
                ));
            }
            (Some(text), None) => expr::parse::update(text, &mut ph).map_err(validation)?,
            (None, Some(u)) => crate::legacy::attribute_updates(u)?,
            (None, None) => Update::default(),
        };
        let condition = write_condition(
            &mut ph,
            input.condition_expression.as_deref(),
            input.expected,
            input.conditional_operator.as_deref(),
        )?;
        if input.condition_expression.is_some() || input.update_expression.is_some() {
            request::finish(&ph)?;
        } else {
            request::no_expressions(names, values, &["UpdateExpression", "ConditionExpression"])?;
        }
        let paths = updated_paths(&update);
        let spec = WriteSpec {
            table: input.table_name,
            key: Some(key),
            change: Change::Update(update),
            condition,
            old_on_failure: request::old_on_failure(
                input.return_values_on_condition_check_failure.as_deref(),
            ),
        };
        let (old, new, units) = self.write_one(ctx, &spec).await?;
        let attributes = match rv.as_str() {
            "ALL_OLD" => old.map(|o| o.wire()),
            "ALL_NEW" => new.map(|n| item_to_wire(&n)),
            "UPDATED_OLD" => old.and_then(|o| non_empty(expr::project(&o.item(), &paths))),
            "UPDATED_NEW" => new.and_then(|n| non_empty(expr::project(&n, &paths))),
            _ => None,
        };
        Ok(shapes::UpdateItemOutput {
            attributes,
            consumed_capacity: request::consumed(
                input.return_consumed_capacity.as_deref(),
                &spec.table,
                &units,
            ),
            item_collection_metrics: None,
        })
    }

    /// `GetItem`.
    pub async fn get_item_op(
        &self,
        ctx: &RequestContext,
        input: shapes::GetItemInput,
    ) -> Result<shapes::GetItemOutput, DdbError> {
        let key = request::item(input.key)?;
        let names = input.expression_attribute_names.is_some();
        let mut ph = request::placeholders(input.expression_attribute_names, None)?;
        let paths = request::projection(
            input.projection_expression.as_deref(),
            input.attributes_to_get,
            &mut ph,
        )?;
        if input.projection_expression.is_some() {
            request::finish(&ph)?;
        } else {
            request::no_expressions(names, false, &["ProjectionExpression"])?;
        }
        let table = self
            .registry()
            .existing(&ctx.account, &ctx.region, &input.table_name)?;
        let found = {
            let t = state::read(&table);
            let pkey = t.meta.key_param(&key)?;
            t.get_packed(&packed::pkey_bytes(&pkey)).cloned()
        };
        let consistent = input.consistent_read.unwrap_or(false);
        let units = Units::read(request::read_units(
            found.as_ref().map_or(0, Packed::size),
            consistent,
        ));
        let item = found.map(|item| match &paths {
            Some(p) => item_to_wire(&expr::project(&item.item(), p)),
            None => item.wire(),
        });
        Ok(shapes::GetItemOutput {
            item,
            consumed_capacity: request::consumed(
                input.return_consumed_capacity.as_deref(),
                &input.table_name,
                &units,
            ),
        })
    }
}
