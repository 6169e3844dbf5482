//! BatchGetItem (up to 100 keys, 16 MB per response, the rest in `UnprocessedKeys`) and
//! BatchWriteItem (up to 25 puts and deletes; items locked by a transaction being committed come back
//! in `UnprocessedItems`).

use std::collections::{BTreeMap, HashSet};

use skyport_core::RequestContext;

use crate::api::DynamoDb;
use crate::attr::{Item, item_to_wire};
use crate::error::{DdbError, table_not_found, validation};
use crate::expr;
use crate::items::{Change, WriteSpec};
use crate::packed::{self, Packed};
use crate::request::{self, Units};
use crate::shapes;
use crate::state;
use crate::streams::log::Origin;

/// The most keys one BatchGetItem reads.
const MAX_GET: usize = 100;
/// The most requests of one BatchWriteItem.
const MAX_WRITE: usize = 25;
/// The largest BatchGetItem response.
const MAX_GET_BYTES: usize = 16 << 20;

fn duplicates() -> DdbError {
    validation("Provided list of item keys contains duplicates")
}

impl DynamoDb {
    /// `BatchGetItem`.
    pub async fn batch_get_op(
        &self,
        ctx: &RequestContext,
        input: shapes::BatchGetItemInput,
    ) -> Result<shapes::BatchGetItemOutput, DdbError> {
        let total: usize = input.request_items.values().map(|k| k.keys.len()).sum();
        if total > MAX_GET {
            return Err(validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        // Read every request first: all validation errors come before any read.
        struct Read {
            name: String,
            table: state::TableRef,
            keys: Vec<Item>,
            paths: Option<Vec<expr::Path>>,
            consistent: bool,
            spec: shapes::KeysAndAttributes,
        }
        let mut reads = Vec::new();
        for (name, ka) in input.request_items {
            let names = ka.expression_attribute_names.is_some();
            let mut ph = request::placeholders(ka.expression_attribute_names.clone(), None)?;
            let paths = request::projection(
                ka.projection_expression.as_deref(),
                ka.attributes_to_get.clone(),
                &mut ph,
            )?;
            if ka.projection_expression.is_some() {
                request::finish(&ph)?;
            } else {
                request::no_expressions(names, false, &["ProjectionExpression"])?;
            }
            let keys = ka
                .keys
                .iter()
                .cloned()
                .map(request::item)
                .collect::<Result<Vec<_>, _>>()?;
            let table = self.registry().existing(&ctx.account, &ctx.region, &name)?;
            {
                let t = state::read(&table);
                let mut seen = HashSet::new();
                for k in &keys {
                    if !seen.insert(t.meta.key_param(k)?) {
                        return Err(duplicates());
                    }
                }
            }
            reads.push(Read {
                name,
                table,
                keys,
                paths,
                consistent: ka.consistent_read.unwrap_or(false),
                spec: ka,
            });
        }
        let mut responses = BTreeMap::new();
        let mut unprocessed: BTreeMap<String, shapes::KeysAndAttributes> = BTreeMap::new();
        let mut consumed = Vec::new();
        let mut bytes = 0usize;
        for read in reads {
            let mut found = Vec::new();
            let mut left = Vec::new();
            let mut units = 0.0;
            {
                let t = state::read(&read.table);
                for key in &read.keys {
                    if bytes >= MAX_GET_BYTES {
                        left.push(item_to_wire(key));
                        continue;
                    }
                    let pkey = t.meta.key_param(key)?;
                    let item = t.get_packed(&packed::pkey_bytes(&pkey));
                    let size = item.map_or(0, Packed::size);
                    units += request::read_units(size, read.consistent);
                    bytes += size;
                    if let Some(item) = item {
                        found.push(match &read.paths {
                            Some(p) => item_to_wire(&expr::project(&item.item(), p)),
                            None => item.wire(),
                        });
                    }
                }
            }
            if let Some(c) = request::consumed(
                input.return_consumed_capacity.as_deref(),
                &read.name,
                &Units::read(units),
            ) {
                consumed.push(c);
            }
            if !left.is_empty() {
                unprocessed.insert(
                    read.name.clone(),
                    shapes::KeysAndAttributes {
                        keys: left,
                        ..read.spec
                    },
                );
            }
            responses.insert(read.name, found);
        }
        Ok(shapes::BatchGetItemOutput {
            responses: Some(responses),
            unprocessed_keys: Some(unprocessed),
            consumed_capacity: (!consumed.is_empty()).then_some(consumed),
        })
    }

    /// `BatchWriteItem`.
    pub async fn batch_write_op(
        &self,
        ctx: &RequestContext,
        input: shapes::BatchWriteItemInput,
    ) -> Result<shapes::BatchWriteItemOutput, DdbError> {
        let total: usize = input.request_items.values().map(Vec::len).sum();
        if total > MAX_WRITE {
            return Err(validation(
                "Too many items requested for the BatchWriteItem call",
            ));
        }
        let mut batches = Vec::new();
        for (name, requests) in input.request_items {
            let table = self.registry().existing(&ctx.account, &ctx.region, &name)?;
            let mut specs = Vec::new();
            for r in &requests {
                let spec = match (&r.put_request, &r.delete_request) {
                    (Some(p), None) => WriteSpec {
                        table: name.clone(),
                        key: None,
                        change: Change::Put(request::item(p.item.clone())?),
                        condition: None,
                        old_on_failure: false,
                    },
                    (None, Some(d)) => WriteSpec {
                        table: name.clone(),
                        key: Some(request::item(d.key.clone())?),
                        change: Change::Delete,
                        condition: None,
                        old_on_failure: false,
                    },
                    _ => {
                        return Err(validation(
                            "Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest",
                        ));
                    }
                };
                specs.push(spec);
            }
            let pkeys = {
                let t = state::read(&table);
                let mut seen = HashSet::new();
                let mut pkeys = Vec::new();
                for spec in &specs {
                    let pkey = spec.validate(&t.meta)?;
                    if !seen.insert(pkey.clone()) {
                        return Err(duplicates());
                    }
                    pkeys.push(pkey);
                }
                pkeys
            };
            batches.push((name, table, requests, specs, pkeys));
        }
        let mut pendings = Vec::new();
        let mut unprocessed = BTreeMap::new();
        let mut consumed = Vec::new();
        for (name, table, requests, specs, pkeys) in batches {
            let mut units = Units::write(0.0);
            let mut left = Vec::new();
            {
                let mut t = state::write(&table);
                if t.deleted {
                    return Err(table_not_found());
                }
                let mut ops = Vec::new();
                for ((request, spec), pkey) in requests.into_iter().zip(&specs).zip(pkeys) {
                    if t.in_flight.contains_key(&pkey) {
                        left.push(request);
                        continue;
                    }
                    let new = match &spec.change {
                        Change::Put(item) => Some(item.clone()),
                        _ => None,
                    };
                    let old = t.get_packed(&packed::pkey_bytes(&pkey));
                    units.add(&request::write_cost(&t.meta, old, new.as_ref()));
                    let durable = self.registry().durable();
                    t.apply(pkey, new, Origin::Request, durable.then_some(&mut ops));
                }
                if !ops.is_empty() {
                    pendings.push(self.registry().commit(ops));
                }
            }
            if let Some(c) =
                request::consumed(input.return_consumed_capacity.as_deref(), &name, &units)
            {
                consumed.push(c);
            }
            if !left.is_empty() {
                unprocessed.insert(name, left);
            }
        }
        for p in pendings {
            self.wait(p).await?;
        }
        Ok(shapes::BatchWriteItemOutput {
            unprocessed_items: Some(unprocessed),
            item_collection_metrics: None,
            consumed_capacity: (!consumed.is_empty()).then_some(consumed),
        })
    }
}
