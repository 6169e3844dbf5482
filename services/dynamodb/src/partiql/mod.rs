//! PartiQL for DynamoDB: `ExecuteStatement`, `BatchExecuteStatement` and `ExecuteTransaction`.
//!
//! [`parse`] turns a statement into the expression language's own forms; this module then runs each
//! statement as the item operation it stands for, through the same code as that operation:
//!
//! - `SELECT` is a Query when its WHERE clause fixes the partition key by equality (the sort-key
//!   condition, if one can serve, narrows the range; the whole WHERE clause is the filter), a Scan
//!   otherwise; `Limit` and `NextToken` (the `LastEvaluatedKey`, encoded) page it;
//! - `INSERT` is a PutItem on condition that the key is new (`DuplicateItemException` otherwise);
//! - `UPDATE` is an UpdateItem of an item that must exist; `DELETE` a DeleteItem. Both need an
//!   equality on every key attribute in WHERE; the rest of the clause is the condition;
//! - a batch runs each statement on its own (errors per statement); a transaction becomes one
//!   TransactWriteItems (`EXISTS(SELECT ...)` a ConditionCheck) or TransactGetItems.

pub mod parse;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use skyport_core::RequestContext;

use crate::api::DynamoDb;
use crate::attr::{Av, Item, KeyVal, item_from_json, item_to_json, item_to_wire};
use crate::error::{DdbError, validation};
use crate::expr::{self, CmpOp, Cond, Elem, Operand, Update};
use crate::items::{Change, WriteSpec, updated_paths};
use crate::request::{self, Units};
use crate::scan::ReadSpec;
use crate::schema::KeyAttr;
use crate::shapes;
use crate::state;

pub use parse::{Returning, Statement};

/// AWS's message when UPDATE or DELETE does not name the whole primary key.
const INCOMPLETE_KEY: &str =
    "Where clause does not contain a mandatory equality on all key attributes";
/// AWS's message for a batch `SELECT` without the whole primary key.
const BATCH_NEEDS_KEY: &str = "Select statements within BatchExecuteStatement must specify the primary key in the where clause.";

fn parsed(text: &str, params: Option<Vec<shapes::AttributeValue>>) -> Result<Statement, DdbError> {
    parse::parse(text, params.unwrap_or_default()).map_err(validation)
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

fn join(parts: Vec<Cond>) -> Option<Cond> {
    parts
        .into_iter()
        .reduce(|a, b| Cond::And(Box::new(a), Box::new(b)))
}

/// `name = value` (either way round) where `name` is a top-level attribute.
fn equality(c: &Cond) -> Option<(&str, &Av)> {
    let Cond::Cmp(CmpOp::Eq, a, b) = c else {
        return None;
    };
    match (a, b) {
        (Operand::Path(p), Operand::Value(v)) | (Operand::Value(v), Operand::Path(p)) => {
            match p.as_slice() {
                [Elem::Name(n)] => Some((n.as_str(), v)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Splits a WHERE clause into the item's key (an equality on each of `keys`) and the rest.
fn split_key(filter: Option<Cond>, keys: &[String]) -> Result<(Item, Option<Cond>), String> {
    let mut parts = Vec::new();
    if let Some(f) = filter {
        flatten(f, &mut parts);
    }
    let mut key = Item::new();
    let mut rest = Vec::new();
    for part in parts {
        match equality(&part) {
            Some((name, v)) if keys.iter().any(|k| k == name) && !key.contains_key(name) => {
                key.insert(name.to_owned(), v.clone());
            }
            _ => rest.push(part),
        }
    }
    if key.len() != keys.len() {
        return Err(INCOMPLETE_KEY.to_owned());
    }
    Ok((key, join(rest)))
}

fn top(name: &str) -> expr::Path {
    vec![Elem::Name(name.to_owned())]
}

/// The key attribute names of a table.
fn key_names(db: &DynamoDb, ctx: &RequestContext, table: &str) -> Result<Vec<String>, DdbError> {
    let t = db.registry().existing(&ctx.account, &ctx.region, table)?;
    let g = state::read(&t);
    Ok(g.meta.key_names())
}

/// What a write statement does, and what it returns.
struct Write {
    spec: WriteSpec,
    returning: Option<Returning>,
    insert: bool,
}

/// Turns INSERT, UPDATE, DELETE (and, in transactions, EXISTS) into the write request it stands for.
fn write_of(
    db: &DynamoDb,
    ctx: &RequestContext,
    st: Statement,
    old_on_failure: bool,
) -> Result<Write, DdbError> {
    let keys = key_names(db, ctx, st.table())?;
    let hash = keys.first().cloned().unwrap_or_default();
    let (table, key, change, condition, returning, insert) = match st {
        Statement::Insert { table, item } => (
            table,
            None,
            Change::Put(item),
            Some(Cond::NotExists(top(&hash))),
            None,
            true,
        ),
        Statement::Update {
            table,
            actions,
            filter,
            returning,
        } => {
            let (key, rest) = split_key(filter, &keys).map_err(validation)?;
            let paths: Vec<expr::Path> = actions.iter().map(|a| a.path().clone()).collect();
            expr::check_overlap(&paths)
                .map_err(|m| validation(format!("Invalid UpdateExpression: {m}")))?;
            let exists = Cond::Exists(top(&hash));
            let condition = match rest {
                Some(r) => Cond::And(Box::new(exists), Box::new(r)),
                None => exists,
            };
            (
                table,
                Some(key),
                Change::Update(Update { actions }),
                Some(condition),
                returning,
                false,
            )
        }
        Statement::Delete {
            table,
            filter,
            returning,
        } => {
            let (key, rest) = split_key(filter, &keys).map_err(validation)?;
            // A missing item is deleted "successfully"; an existing one must meet the condition.
            let condition =
                rest.map(|r| Cond::Or(Box::new(Cond::NotExists(top(&hash))), Box::new(r)));
            (
                table,
                Some(key),
                Change::Delete,
                condition,
                returning,
                false,
            )
        }
        Statement::Exists(inner) => {
            let Statement::Select {
                table,
                index,
                filter,
                ..
            } = *inner
            else {
                return Err(validation(parse::malformed("Expected a SELECT in EXISTS")));
            };
            if index.is_some() {
                return Err(validation("This operation is not supported on an index"));
            }
            let (key, rest) = split_key(filter, &keys).map_err(validation)?;
            let exists = Cond::Exists(top(&hash));
            let condition = match rest {
                Some(r) => Cond::And(Box::new(exists), Box::new(r)),
                None => exists,
            };
            (
                table,
                Some(key),
                Change::Check,
                Some(condition),
                None,
                false,
            )
        }
        Statement::Select { .. } => {
            return Err(validation("Expected a write statement"));
        }
    };
    Ok(Write {
        spec: WriteSpec {
            table,
            key,
            change,
            condition,
            old_on_failure,
        },
        returning,
        insert,
    })
}

/// The `NextToken` for a `LastEvaluatedKey`.
fn encode_token(key: &Item) -> String {
    base64::engine::general_purpose::STANDARD.encode(item_to_json(key).to_string())
}

fn decode_token(token: &str) -> Result<Item, DdbError> {
    let bad = || validation("Invalid NextToken");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    item_from_json(&json).ok_or_else(bad)
}

fn matches_type(attr: &KeyAttr, v: &Av) -> bool {
    KeyVal::of(v).is_some()
        && matches!(
            (attr.ty, v),
            (crate::attr::ScalarType::S, Av::S(_))
                | (crate::attr::ScalarType::N, Av::N(_))
                | (crate::attr::ScalarType::B, Av::B(_))
        )
}

/// The key condition a SELECT's WHERE clause gives for a table or index keyed by `hash`/`range`:
/// an equality on the partition key, and the first condition on the sort key that a Query can use.
fn key_condition(filter: Option<&Cond>, hash: &KeyAttr, range: Option<&KeyAttr>) -> Option<Cond> {
    let mut parts = Vec::new();
    flatten(filter?.clone(), &mut parts);
    let hash_eq = parts
        .iter()
        .find(|c| equality(c).is_some_and(|(n, v)| n == hash.name && matches_type(hash, v)))?;
    let is_range = |o: &Operand, v: &Av| match (o, range) {
        (Operand::Path(p), Some(r)) => p == &top(&r.name) && matches_type(r, v),
        _ => false,
    };
    let sort = parts.iter().find(|c| match c {
        Cond::Cmp(op, a, Operand::Value(v)) => *op != CmpOp::Ne && is_range(a, v),
        Cond::Cmp(op, Operand::Value(v), b) => *op != CmpOp::Ne && is_range(b, v),
        Cond::Between(a, Operand::Value(lo), Operand::Value(hi)) => {
            is_range(a, lo) && is_range(a, hi)
        }
        Cond::BeginsWith(a, Operand::Value(v)) => is_range(a, v) && !matches!(v, Av::N(_)),
        _ => false,
    });
    let hash_eq = hash_eq.clone();
    Some(match sort {
        Some(s) => Cond::And(Box::new(hash_eq), Box::new(s.clone())),
        None => hash_eq,
    })
}

/// A batch entry's error.
fn batch_error(e: DdbError, table: Option<String>) -> shapes::BatchStatementResponse {
    let message = e.to_string();
    let (code, item) = match e {
        DdbError::Validation(_) => ("ValidationError", None),
        DdbError::NotFound(_) => ("ResourceNotFound", None),
        DdbError::ConditionFailed(item) => ("ConditionalCheckFailed", item),
        DdbError::DuplicateItem => ("DuplicateItem", None),
        DdbError::TransactionConflict => ("TransactionConflict", None),
        _ => ("InternalServerError", None),
    };
    shapes::BatchStatementResponse {
        error: Some(shapes::BatchStatementError {
            code: Some(code.to_owned()),
            message: Some(message),
            item: item.as_ref().map(item_to_wire),
        }),
        table_name: table,
        item: None,
    }
}

impl DynamoDb {
    /// Runs a write statement: the item operation it stands for. Returns what `RETURNING` asked for
    /// and the units consumed.
    async fn run_write(
        &self,
        ctx: &RequestContext,
        st: Statement,
        old_on_failure: bool,
    ) -> Result<(Option<Item>, Units, String), DdbError> {
        let w = write_of(self, ctx, st, old_on_failure)?;
        let paths = match &w.spec.change {
            Change::Update(u) => updated_paths(u),
            _ => Vec::new(),
        };
        let (old, new, units) = match self.write_one(ctx, &w.spec).await {
            Err(DdbError::ConditionFailed(_)) if w.insert => return Err(DdbError::DuplicateItem),
            other => other?,
        };
        let out = match w.returning {
            None => None,
            Some(Returning::AllOld) => old.map(|o| o.item()),
            Some(Returning::AllNew) => new,
            Some(Returning::ModifiedOld) => old
                .map(|o| expr::project(&o.item(), &paths))
                .filter(|i| !i.is_empty()),
            Some(Returning::ModifiedNew) => new
                .map(|n| expr::project(&n, &paths))
                .filter(|i| !i.is_empty()),
        };
        Ok((out, units, w.spec.table))
    }

    /// `ExecuteStatement`.
    pub async fn execute_statement_op(
        &self,
        ctx: &RequestContext,
        input: shapes::ExecuteStatementInput,
    ) -> Result<shapes::ExecuteStatementOutput, DdbError> {
        let st = parsed(&input.statement, input.parameters)?;
        let Statement::Select {
            table,
            index,
            paths,
            filter,
            order,
        } = st
        else {
            let old_on_failure =
                request::old_on_failure(input.return_values_on_condition_check_failure.as_deref());
            if matches!(st, Statement::Exists(_)) {
                return Err(validation("EXISTS can only be used in ExecuteTransaction"));
            }
            let (item, units, table) = self.run_write(ctx, st, old_on_failure).await?;
            return Ok(shapes::ExecuteStatementOutput {
                items: Some(item.iter().map(item_to_wire).collect()),
                next_token: None,
                consumed_capacity: request::consumed(
                    input.return_consumed_capacity.as_deref(),
                    &table,
                    &units,
                ),
                last_evaluated_key: None,
            });
        };
        let (hash, range) = {
            let t = self
                .registry()
                .existing(&ctx.account, &ctx.region, &table)?;
            let g = state::read(&t);
            match &index {
                Some(name) => {
                    let i = g.meta.index(name).ok_or_else(|| {
                        validation(format!(
                            "The table does not have the specified index: {name}"
                        ))
                    })?;
                    (i.hash.clone(), i.range.clone())
                }
                None => (g.meta.hash.clone(), g.meta.range.clone()),
            }
        };
        let key_cond = key_condition(filter.as_ref(), &hash, range.as_ref());
        let forward = match &order {
            None => true,
            Some((key, asc)) => {
                if key_cond.is_none() {
                    return Err(validation(
                        "Must have WHERE clause in the statement when using ORDER BY clause.",
                    ));
                }
                if *key != hash.name && range.as_ref().is_none_or(|r| r.name != *key) {
                    return Err(validation(format!(
                        "Order by is only supported on key attributes; {key} is not one"
                    )));
                }
                *asc
            }
        };
        let page = self.read_page(
            ctx,
            ReadSpec {
                table_name: table,
                index_name: index,
                key_cond,
                filter,
                paths,
                select: None,
                limit: input.limit,
                start: input.next_token.as_deref().map(decode_token).transpose()?,
                consistent: input.consistent_read.unwrap_or(false),
                forward,
                segment: None,
                return_consumed: input.return_consumed_capacity,
            },
        )?;
        Ok(shapes::ExecuteStatementOutput {
            items: Some(page.items.unwrap_or_default()),
            next_token: page.last.as_ref().map(encode_token),
            consumed_capacity: page.consumed,
            last_evaluated_key: page.last.as_ref().map(item_to_wire),
        })
    }

    /// One `SELECT` of a batch: a GetItem by the full key in its WHERE clause, the rest of the clause
    /// filtering the item.
    fn batch_read(
        &self,
        ctx: &RequestContext,
        st: Statement,
    ) -> Result<(String, Option<Item>), DdbError> {
        let Statement::Select {
            table,
            index,
            paths,
            filter,
            ..
        } = st
        else {
            return Err(validation("Expected a SELECT"));
        };
        if index.is_some() {
            return Err(validation(BATCH_NEEDS_KEY));
        }
        let keys = key_names(self, ctx, &table)?;
        let (key, rest) = split_key(filter, &keys).map_err(|_| validation(BATCH_NEEDS_KEY))?;
        let t = self
            .registry()
            .existing(&ctx.account, &ctx.region, &table)?;
        let found: Option<Arc<Item>> = {
            let g = state::read(&t);
            let pkey = g.meta.key_param(&key)?;
            g.get(&pkey)
        };
        let item = found
            .filter(|i| rest.as_ref().is_none_or(|c| expr::eval(c, i)))
            .map(|i| match &paths {
                Some(p) => expr::project(&i, p),
                None => i.as_ref().clone(),
            });
        Ok((table, item))
    }

    /// `BatchExecuteStatement`.
    pub async fn batch_execute_statement_op(
        &self,
        ctx: &RequestContext,
        input: shapes::BatchExecuteStatementInput,
    ) -> Result<shapes::BatchExecuteStatementOutput, DdbError> {
        let statements: Vec<(Result<Statement, DdbError>, bool)> = input
            .statements
            .into_iter()
            .map(|s| {
                let old =
                    request::old_on_failure(s.return_values_on_condition_check_failure.as_deref());
                (parsed(&s.statement, s.parameters), old)
            })
            .collect();
        let reads = statements
            .iter()
            .filter(|(s, _)| s.as_ref().is_ok_and(Statement::is_read))
            .count();
        let writes = statements
            .iter()
            .filter(|(s, _)| s.as_ref().is_ok_and(|s| !s.is_read()))
            .count();
        if reads > 0 && writes > 0 {
            return Err(validation(
                "Batch statements must be either all reads or all writes",
            ));
        }
        let mut responses = Vec::with_capacity(statements.len());
        let mut units: BTreeMap<String, Units> = BTreeMap::new();
        for (st, old_on_failure) in statements {
            let st = match st {
                Ok(st) => st,
                Err(e) => {
                    responses.push(batch_error(e, None));
                    continue;
                }
            };
            let table = st.table().to_owned();
            if matches!(st, Statement::Exists(_)) {
                responses.push(batch_error(
                    validation("EXISTS can only be used in ExecuteTransaction"),
                    Some(table),
                ));
                continue;
            }
            if st.is_read() {
                match self.batch_read(ctx, st) {
                    Ok((table, item)) => {
                        let size = item.as_ref().map_or(0, crate::attr::item_size);
                        units
                            .entry(table.clone())
                            .or_insert_with(|| Units::read(0.0))
                            .add(&Units::read(request::read_units(size, false)));
                        responses.push(shapes::BatchStatementResponse {
                            error: None,
                            table_name: Some(table),
                            item: item.as_ref().map(item_to_wire),
                        });
                    }
                    Err(e) => responses.push(batch_error(e, Some(table))),
                }
            } else {
                match self.run_write(ctx, st, old_on_failure).await {
                    Ok((_, u, table)) => {
                        units.entry(table.clone()).or_default().add(&u);
                        responses.push(shapes::BatchStatementResponse {
                            error: None,
                            table_name: Some(table),
                            item: None,
                        });
                    }
                    Err(e) => responses.push(batch_error(e, Some(table))),
                }
            }
        }
        let consumed: Vec<shapes::ConsumedCapacity> = units
            .iter()
            .filter_map(|(name, u)| {
                request::consumed(input.return_consumed_capacity.as_deref(), name, u)
            })
            .collect();
        Ok(shapes::BatchExecuteStatementOutput {
            responses: Some(responses),
            consumed_capacity: (!consumed.is_empty()).then_some(consumed),
        })
    }

    /// `ExecuteTransaction`.
    pub async fn execute_transaction_op(
        &self,
        ctx: &RequestContext,
        input: shapes::ExecuteTransactionInput,
    ) -> Result<shapes::ExecuteTransactionOutput, DdbError> {
        let print = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            format!("{:?}", input.transact_statements).hash(&mut h);
            h.finish()
        };
        let mut statements = Vec::with_capacity(input.transact_statements.len());
        for s in input.transact_statements {
            let old =
                request::old_on_failure(s.return_values_on_condition_check_failure.as_deref());
            statements.push((parsed(&s.statement, s.parameters)?, old));
        }
        let reads = statements.iter().filter(|(s, _)| s.is_read()).count();
        if reads > 0 && reads < statements.len() {
            return Err(validation(
                "Transactions must be either all reads or all writes",
            ));
        }
        let mode = input.return_consumed_capacity;
        if reads > 0 {
            return self.read_transaction(ctx, statements, mode.as_deref());
        }
        let mut specs = Vec::with_capacity(statements.len());
        let mut inserts = Vec::with_capacity(statements.len());
        for (st, old) in statements {
            let w = write_of(self, ctx, st, old)?;
            inserts.push(w.insert);
            specs.push(w.spec);
        }
        let consumed = match self
            .transact_specs(
                ctx,
                input.client_request_token.as_deref(),
                print,
                specs,
                mode.as_deref(),
            )
            .await
        {
            Ok(c) => c,
            Err(DdbError::TransactionCanceled(mut reasons)) => {
                for (r, insert) in reasons.iter_mut().zip(&inserts) {
                    if *insert && r.code == "ConditionalCheckFailed" {
                        r.code = "DuplicateItem".to_owned();
                        r.message = Some(DdbError::DuplicateItem.to_string());
                        r.item = None;
                    }
                }
                return Err(DdbError::TransactionCanceled(reasons));
            }
            Err(e) => return Err(e),
        };
        Ok(shapes::ExecuteTransactionOutput {
            responses: None,
            consumed_capacity: consumed,
        })
    }

    /// A transaction of SELECTs: one TransactGetItems by the full keys of their WHERE clauses.
    fn read_transaction(
        &self,
        ctx: &RequestContext,
        statements: Vec<(Statement, bool)>,
        mode: Option<&str>,
    ) -> Result<shapes::ExecuteTransactionOutput, DdbError> {
        let mut gets = Vec::with_capacity(statements.len());
        let mut rests = Vec::with_capacity(statements.len());
        for (st, _) in statements {
            let Statement::Select {
                table,
                index,
                paths,
                filter,
                ..
            } = st
            else {
                return Err(validation("Expected a SELECT"));
            };
            if index.is_some() {
                return Err(validation(INCOMPLETE_KEY));
            }
            let keys = key_names(self, ctx, &table)?;
            let (key, rest) = split_key(filter, &keys).map_err(validation)?;
            gets.push((table, key));
            rests.push((rest, paths));
        }
        let (found, units) = self.transact_read(ctx, &gets)?;
        let responses = found
            .into_iter()
            .zip(rests)
            .map(|(item, (rest, paths))| shapes::ItemResponse {
                item: item
                    .filter(|i| rest.as_ref().is_none_or(|c| expr::eval(c, i)))
                    .map(|i| match &paths {
                        Some(p) => item_to_wire(&expr::project(&i, p)),
                        None => item_to_wire(&i),
                    }),
            })
            .collect();
        let consumed: Vec<shapes::ConsumedCapacity> = units
            .iter()
            .filter_map(|(name, u)| request::consumed(mode, name, &Units::read(*u)))
            .collect();
        Ok(shapes::ExecuteTransactionOutput {
            responses: Some(responses),
            consumed_capacity: (!consumed.is_empty()).then_some(consumed),
        })
    }
}
