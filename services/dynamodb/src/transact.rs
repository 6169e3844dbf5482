//! TransactGetItems and TransactWriteItems: all-or-nothing over up to 100 items in any tables of the
//! account and region.
//!
//! A write transaction locks its tables (in one global order, so transactions never deadlock),
//! checks every action against the current items, and either applies all of them or none, answering
//! `TransactionCanceledException` with one `CancellationReasons` entry per action. With persistence,
//! its items stay marked as "in a transaction" until the commit is on disk: another transaction
//! touching one of them is cancelled with `TransactionConflict`, a single-item write gets
//! `TransactionConflictException`, and a transactional read is cancelled too, so nobody observes or
//! overwrites a transaction that is not yet durable. `ClientRequestToken` makes a retried transaction
//! (same token, same parameters, within 10 minutes) succeed without being applied twice.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use skyport_core::RequestContext;

use crate::api::{DynamoDb, Remembered};
use crate::attr::{Item, PKey, item_size, item_to_wire};
use crate::error::{DdbError, Reason, table_not_found, validation};
use crate::expr::{self, Kind};
use crate::items::{Change, Refusal, WriteSpec};
use crate::packed;
use crate::request::{self, Units};
use crate::shapes;
use crate::state::{self, TableRef};
use crate::streams::log::Origin;

/// How long a `ClientRequestToken` is remembered.
const TOKEN_TTL: Duration = Duration::from_secs(600);

fn same_item() -> DdbError {
    validation("Transaction request cannot include multiple operations on one item")
}

/// Reads one action of `TransactWriteItems`.
fn write_spec(action: shapes::TransactWriteItem) -> Result<WriteSpec, DdbError> {
    let count = usize::from(action.condition_check.is_some())
        + usize::from(action.put.is_some())
        + usize::from(action.delete.is_some())
        + usize::from(action.update.is_some());
    if count != 1 {
        return Err(validation(
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ));
    }
    fn parse(
        names: Option<BTreeMap<String, String>>,
        values: Option<BTreeMap<String, shapes::AttributeValue>>,
        condition: Option<&str>,
        update: Option<&str>,
    ) -> Result<(Option<expr::Cond>, Option<expr::Update>), DdbError> {
        let (has_names, has_values) = (names.is_some(), values.is_some());
        let mut ph = request::placeholders(names, values)?;
        let update = update
            .map(|u| expr::parse::update(u, &mut ph).map_err(validation))
            .transpose()?;
        let cond = request::condition(Kind::Condition, condition, &mut ph)?;
        if condition.is_some() || update.is_some() {
            request::finish(&ph)?;
        } else {
            request::no_expressions(has_names, has_values, &["ConditionExpression"])?;
        }
        Ok((cond, update))
    }
    Ok(if let Some(c) = action.condition_check {
        let (condition, _) = parse(
            c.expression_attribute_names,
            c.expression_attribute_values,
            Some(&c.condition_expression),
            None,
        )?;
        WriteSpec {
            table: c.table_name,
            key: Some(request::item(c.key)?),
            change: Change::Check,
            condition,
            old_on_failure: request::old_on_failure(
                c.return_values_on_condition_check_failure.as_deref(),
            ),
        }
    } else if let Some(p) = action.put {
        let (condition, _) = parse(
            p.expression_attribute_names,
            p.expression_attribute_values,
            p.condition_expression.as_deref(),
            None,
        )?;
        WriteSpec {
            table: p.table_name,
            key: None,
            change: Change::Put(request::item(p.item)?),
            condition,
            old_on_failure: request::old_on_failure(
                p.return_values_on_condition_check_failure.as_deref(),
            ),
        }
    } else if let Some(d) = action.delete {
        let (condition, _) = parse(
            d.expression_attribute_names,
            d.expression_attribute_values,
            d.condition_expression.as_deref(),
            None,
        )?;
        WriteSpec {
            table: d.table_name,
            key: Some(request::item(d.key)?),
            change: Change::Delete,
            condition,
            old_on_failure: request::old_on_failure(
                d.return_values_on_condition_check_failure.as_deref(),
            ),
        }
    } else if let Some(u) = action.update {
        let (condition, update) = parse(
            u.expression_attribute_names,
            u.expression_attribute_values,
            u.condition_expression.as_deref(),
            Some(&u.update_expression),
        )?;
        WriteSpec {
            table: u.table_name,
            key: Some(request::item(u.key)?),
            change: Change::Update(update.unwrap_or_default()),
            condition,
            old_on_failure: request::old_on_failure(
                u.return_values_on_condition_check_failure.as_deref(),
            ),
        }
    } else {
        return Err(validation(
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ));
    })
}

/// The tables of `names`, once each, in lock order; and the position of each name among them.
fn resolve(
    db: &DynamoDb,
    ctx: &RequestContext,
    names: &[&str],
) -> Result<(Vec<TableRef>, Vec<usize>), DdbError> {
    let mut tables: Vec<(u64, String, TableRef)> = Vec::new();
    for name in names {
        if tables.iter().any(|(_, n, _)| n == name) {
            continue;
        }
        let t = db.registry().existing(&ctx.account, &ctx.region, name)?;
        let uid = state::read(&t).meta.uid;
        tables.push((uid, (*name).to_owned(), t));
    }
    tables.sort_by_key(|(uid, _, _)| *uid);
    let positions = names
        .iter()
        .map(|n| tables.iter().position(|(_, t, _)| t == n).unwrap_or(0))
        .collect();
    Ok((tables.into_iter().map(|(_, _, t)| t).collect(), positions))
}

fn fingerprint(input: &shapes::TransactWriteItemsInput) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}", input.transact_items).hash(&mut h);
    h.finish()
}

impl DynamoDb {
    /// `TransactWriteItems`.
    pub async fn transact_write_op(
        &self,
        ctx: &RequestContext,
        input: shapes::TransactWriteItemsInput,
    ) -> Result<shapes::TransactWriteItemsOutput, DdbError> {
        let print = fingerprint(&input);
        let mode = input.return_consumed_capacity.clone();
        let token = input.client_request_token.clone();
        let specs = input
            .transact_items
            .into_iter()
            .map(write_spec)
            .collect::<Result<Vec<_>, _>>()?;
        let consumed = self
            .transact_specs(ctx, token.as_deref(), print, specs, mode.as_deref())
            .await?;
        Ok(shapes::TransactWriteItemsOutput {
            consumed_capacity: consumed,
            item_collection_metrics: None,
        })
    }

    /// Applies `specs` all or nothing (`TransactWriteItems`, PartiQL's `ExecuteTransaction`), with
    /// `token` (`ClientRequestToken`) remembered against `print`, the request's fingerprint.
    pub(crate) async fn transact_specs(
        &self,
        ctx: &RequestContext,
        token: Option<&str>,
        print: u64,
        specs: Vec<WriteSpec>,
        mode: Option<&str>,
    ) -> Result<Option<Vec<shapes::ConsumedCapacity>>, DdbError> {
        let token = token.map(|t| format!("{}/{}/{t}", ctx.account, ctx.region));
        if let Some(token) = &token {
            let mut tokens = self.inner.tokens.lock().unwrap_or_else(|e| e.into_inner());
            tokens.retain(|_, r| r.at.elapsed() < TOKEN_TTL);
            if let Some(r) = tokens.get(token) {
                if r.fingerprint != print {
                    return Err(DdbError::IdempotentMismatch(
                        "Specified idempotency token is used with different parameters".to_owned(),
                    ));
                }
                return Ok(None);
            }
        }
        let names: Vec<&str> = specs.iter().map(|s| s.table.as_str()).collect();
        let (tables, positions) = resolve(self, ctx, &names)?;
        let durable = self.registry().durable();
        let mut units: BTreeMap<String, Units> = BTreeMap::new();
        let (pending, marked) = {
            let mut guards: Vec<_> = tables.iter().map(state::write).collect();
            if guards.iter().any(|g| g.deleted) {
                return Err(table_not_found());
            }
            // Keys first: schema errors fail the whole request.
            let mut pkeys: Vec<PKey> = Vec::with_capacity(specs.len());
            let mut seen = HashSet::new();
            for (spec, &at) in specs.iter().zip(&positions) {
                let pkey = spec.validate(&guards[at].meta)?;
                if !seen.insert((at, pkey.clone())) {
                    return Err(same_item());
                }
                pkeys.push(pkey);
            }
            let mut reasons = Vec::with_capacity(specs.len());
            let mut outcomes: Vec<Option<Item>> = Vec::with_capacity(specs.len());
            let mut failed = false;
            for ((spec, &at), pkey) in specs.iter().zip(&positions).zip(&pkeys) {
                let t = &guards[at];
                if t.in_flight.contains_key(pkey) {
                    failed = true;
                    reasons.push(Reason {
                        code: "TransactionConflict".to_owned(),
                        message: Some("Transaction is ongoing for the item".to_owned()),
                        item: None,
                    });
                    outcomes.push(None);
                    continue;
                }
                let current = t.get(pkey);
                match spec.outcome(&t.meta, current.as_ref()) {
                    Ok(new) => {
                        reasons.push(Reason::none());
                        outcomes.push(new);
                    }
                    Err(Refusal::Condition(item)) => {
                        failed = true;
                        reasons.push(Reason {
                            code: "ConditionalCheckFailed".to_owned(),
                            message: Some("The conditional request failed".to_owned()),
                            item: item
                                .filter(|_| spec.old_on_failure)
                                .map(|i| i.as_ref().clone()),
                        });
                        outcomes.push(None);
                    }
                    Err(Refusal::Invalid(e)) => {
                        failed = true;
                        reasons.push(Reason {
                            code: "ValidationError".to_owned(),
                            message: Some(e.to_string()),
                            item: None,
                        });
                        outcomes.push(None);
                    }
                }
            }
            if failed {
                return Err(DdbError::TransactionCanceled(reasons));
            }
            let mut ops = Vec::new();
            let mut marked = Vec::new();
            for (((spec, &at), pkey), new) in specs.iter().zip(&positions).zip(pkeys).zip(outcomes)
            {
                let t = &mut guards[at];
                let old = t.get_packed(&packed::pkey_bytes(&pkey));
                let mut cost = request::write_cost(&t.meta, old, new.as_ref());
                cost.table *= 2.0;
                units.entry(spec.table.clone()).or_default().add(&cost);
                if matches!(spec.change, Change::Check) {
                    continue;
                }
                if durable {
                    *t.in_flight.entry(pkey.clone()).or_default() += 1;
                    marked.push((at, pkey.clone()));
                }
                t.apply(pkey, new, Origin::Request, durable.then_some(&mut ops));
            }
            let pending = if ops.is_empty() {
                None
            } else {
                self.registry().commit(ops)
            };
            (pending, marked)
        };
        let committed = self.wait(pending).await;
        for (at, pkey) in marked {
            let mut t = state::write(&tables[at]);
            if let Some(n) = t.in_flight.get_mut(&pkey) {
                *n -= 1;
                if *n == 0 {
                    t.in_flight.remove(&pkey);
                }
            }
        }
        committed?;
        if let Some(token) = token {
            let mut tokens = self.inner.tokens.lock().unwrap_or_else(|e| e.into_inner());
            tokens.insert(
                token,
                Remembered {
                    at: Instant::now(),
                    fingerprint: print,
                },
            );
        }
        let consumed: Vec<shapes::ConsumedCapacity> = units
            .iter()
            .filter_map(|(name, u)| {
                let mut u = u.clone();
                u.read = false;
                request::consumed(mode, name, &u)
            })
            .collect();
        Ok((!consumed.is_empty()).then_some(consumed))
    }

    /// `TransactGetItems`.
    pub async fn transact_get_op(
        &self,
        ctx: &RequestContext,
        input: shapes::TransactGetItemsInput,
    ) -> Result<shapes::TransactGetItemsOutput, DdbError> {
        let mut gets = Vec::new();
        for item in input.transact_items {
            let g = item.get;
            let names = g.expression_attribute_names.is_some();
            let mut ph = request::placeholders(g.expression_attribute_names, None)?;
            let paths = request::projection(g.projection_expression.as_deref(), None, &mut ph)?;
            if g.projection_expression.is_some() {
                request::finish(&ph)?;
            } else {
                request::no_expressions(names, false, &["ProjectionExpression"])?;
            }
            gets.push((g.table_name, request::item(g.key)?, paths));
        }
        let keys: Vec<(String, Item)> = gets
            .iter()
            .map(|(t, k, _)| (t.clone(), k.clone()))
            .collect();
        let (found, units) = self.transact_read(ctx, &keys)?;
        let mut responses = Vec::new();
        for ((_, _, paths), item) in gets.iter().zip(found) {
            responses.push(shapes::ItemResponse {
                item: item.map(|i| match paths {
                    Some(p) => item_to_wire(&expr::project(&i, p)),
                    None => item_to_wire(&i),
                }),
            });
        }
        let consumed: Vec<shapes::ConsumedCapacity> = units
            .iter()
            .filter_map(|(name, u)| {
                request::consumed(
                    input.return_consumed_capacity.as_deref(),
                    name,
                    &Units::read(*u),
                )
            })
            .collect();
        Ok(shapes::TransactGetItemsOutput {
            consumed_capacity: (!consumed.is_empty()).then_some(consumed),
            responses: Some(responses),
        })
    }

    /// Reads items by key all at once (`TransactGetItems`, PartiQL's read transactions): the items,
    /// and the read units per table.
    #[allow(clippy::type_complexity)]
    pub(crate) fn transact_read(
        &self,
        ctx: &RequestContext,
        gets: &[(String, Item)],
    ) -> Result<(Vec<Option<std::sync::Arc<Item>>>, BTreeMap<String, f64>), DdbError> {
        let names: Vec<&str> = gets.iter().map(|(t, _)| t.as_str()).collect();
        let (tables, positions) = resolve(self, ctx, &names)?;
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        let found = {
            let guards: Vec<_> = tables.iter().map(state::read).collect();
            let mut pkeys = Vec::new();
            let mut seen = HashSet::new();
            for ((_, key), &at) in gets.iter().zip(&positions) {
                let pkey = guards[at].meta.key_param(key)?;
                if !seen.insert((at, pkey.clone())) {
                    return Err(same_item());
                }
                pkeys.push(pkey);
            }
            let conflicts: Vec<bool> = pkeys
                .iter()
                .zip(&positions)
                .map(|(p, &at)| guards[at].in_flight.contains_key(p))
                .collect();
            if conflicts.iter().any(|c| *c) {
                let reasons = conflicts
                    .into_iter()
                    .map(|c| {
                        if c {
                            Reason {
                                code: "TransactionConflict".to_owned(),
                                message: Some("Transaction is ongoing for the item".to_owned()),
                                item: None,
                            }
                        } else {
                            Reason::none()
                        }
                    })
                    .collect();
                return Err(DdbError::TransactionCanceled(reasons));
            }
            pkeys
                .iter()
                .zip(&positions)
                .map(|(p, &at)| guards[at].get(p))
                .collect::<Vec<_>>()
        };
        for ((table, _), item) in gets.iter().zip(&found) {
            *units.entry(table.clone()).or_default() +=
                2.0 * request::read_units(item.as_deref().map_or(0, item_size), true);
        }
        Ok((found, units))
    }
}
