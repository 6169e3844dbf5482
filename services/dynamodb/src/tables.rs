//! Table operations: CreateTable, DescribeTable, UpdateTable (throughput, billing, GSIs with backfill,
//! streams, class, deletion protection), DeleteTable, ListTables, tags, DescribeLimits and
//! DescribeEndpoints.
//!
//! Tables are usable as soon as `CreateTable` returns: its response says `CREATING` (as AWS's does),
//! every later `DescribeTable` says `ACTIVE`, so the SDKs' `TableExists` waiters finish on their first
//! poll. Likewise a GSI added by `UpdateTable` is backfilled before the response, which reports it
//! `CREATING`.

use std::collections::{BTreeMap, BTreeSet};

use skyport_core::RequestContext;

use crate::api::DynamoDb;
use crate::attr::ScalarType;
use crate::error::{DdbError, table_not_found_named, validation};
use crate::schema::{IndexMeta, TableMeta, read_key_schema, read_projection};
use crate::shapes;
use crate::state::{self, Table, table_key, table_op};

/// The most tags a table has.
const MAX_TAGS: usize = 50;
/// The most GSIs and LSIs a table has.
const MAX_GSIS: usize = 20;
const MAX_LSIS: usize = 5;

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn definitions(
    defs: &[shapes::AttributeDefinition],
) -> Result<BTreeMap<String, ScalarType>, DdbError> {
    let mut out = BTreeMap::new();
    for d in defs {
        let ty = ScalarType::parse(&d.attribute_type).ok_or_else(|| {
            validation(format!(
                "1 validation error detected: Value '{}' at 'attributeDefinitions.{}.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
                d.attribute_type,
                out.len() + 1
            ))
        })?;
        if out.insert(d.attribute_name.clone(), ty).is_some() {
            return Err(validation(format!(
                "Cannot have two attributes with the same name. Attribute name: {}",
                d.attribute_name
            )));
        }
    }
    Ok(out)
}

fn throughput(
    billing: &str,
    given: Option<&shapes::ProvisionedThroughput>,
    what: Option<&str>,
) -> Result<(i64, i64), DdbError> {
    match (billing, given) {
        ("PAY_PER_REQUEST", None) => Ok((0, 0)),
        ("PAY_PER_REQUEST", Some(_)) => Err(validation(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        (_, Some(t)) => {
            if t.read_capacity_units < 1 || t.write_capacity_units < 1 {
                return Err(validation(
                    "One or more parameter values were invalid: Provisioned throughput must be greater than or equal to 1",
                ));
            }
            Ok((t.read_capacity_units, t.write_capacity_units))
        }
        (_, None) => Err(validation(match what {
            Some(index) => format!(
                "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {index}"
            ),
            None => "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED".to_owned(),
        })),
    }
}

fn table_arn(ctx: &RequestContext, name: &str) -> String {
    format!(
        "arn:{}:dynamodb:{}:{}:table/{name}",
        skyport_core::arn::partition_for_region(&ctx.region),
        ctx.region,
        ctx.account
    )
}

/// `(region, account, table name)` of a table ARN.
fn parse_table_arn(arn: &str) -> Option<(String, String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("dynamodb"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("table/")?;
    let name = name.split('/').next()?;
    Some((region.to_owned(), account.to_owned(), name.to_owned()))
}

fn stream_label() -> String {
    skyport_core::timefmt::iso8601_millis(std::time::SystemTime::now())
        .trim_end_matches('Z')
        .to_owned()
}

fn read_stream(spec: Option<&shapes::StreamSpecification>) -> Result<Option<String>, DdbError> {
    match spec {
        Some(s) if s.stream_enabled => match s.stream_view_type.as_deref() {
            Some(v @ ("KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES")) => {
                Ok(Some(v.to_owned()))
            }
            _ => Err(validation(
                "One or more parameter values were invalid: StreamViewType is required when StreamEnabled is true",
            )),
        },
        _ => Ok(None),
    }
}

impl DynamoDb {
    fn table_for(&self, ctx: &RequestContext, name: &str) -> Result<state::TableRef, DdbError> {
        self.registry()
            .get(&ctx.account, &ctx.region, name)
            .ok_or_else(|| table_not_found_named(name))
    }

    /// Queues the table's definition, with the description of its stream when `new_stream` (the
    /// stream was just started).
    fn persist_meta(
        &self,
        ctx: &RequestContext,
        t: &Table,
        new_stream: bool,
    ) -> Option<crate::persist::Pending> {
        if !self.registry().durable() {
            return None;
        }
        let mut ops = vec![table_op(&ctx.account, &ctx.region, &t.meta)];
        if let Some(stream) = t.stream.as_ref().filter(|_| new_stream) {
            ops.push(stream.meta_op());
        }
        self.registry().commit(ops)
    }

    /// `CreateTable`.
    pub async fn create_table_op(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateTableInput,
    ) -> Result<shapes::CreateTableOutput, DdbError> {
        let schema = input.key_schema.ok_or_else(|| {
            validation(
                "1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must not be null",
            )
        })?;
        let defs_given = input.attribute_definitions.ok_or_else(|| {
            validation(
                "1 validation error detected: Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null",
            )
        })?;
        let defs = definitions(&defs_given)?;
        let mut used = BTreeSet::new();
        let (hash, range) = read_key_schema(&schema, &defs, &mut used)?;
        let billing = input
            .billing_mode
            .clone()
            .unwrap_or_else(|| "PROVISIONED".to_owned());
        if billing == "PROVISIONED" && input.provisioned_throughput.is_none() {
            return Err(validation(
                "No provisioned throughput specified for the table",
            ));
        }
        let (rcu, wcu) = throughput(&billing, input.provisioned_throughput.as_ref(), None)?;
        let mut indexes: Vec<IndexMeta> = Vec::new();
        let mut names = BTreeSet::new();
        let gsis = input.global_secondary_indexes.unwrap_or_default();
        let lsis = input.local_secondary_indexes.unwrap_or_default();
        if gsis.len() > MAX_GSIS {
            return Err(DdbError::LimitExceeded(format!(
                "Subscriber limit exceeded: The number of global secondary indexes per table exceeds the limit of {MAX_GSIS}"
            )));
        }
        if lsis.len() > MAX_LSIS {
            return Err(validation(
                "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5",
            ));
        }
        for g in &gsis {
            if !names.insert(g.index_name.clone()) {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Duplicate index name: {}",
                    g.index_name
                )));
            }
            let (ih, ir) = read_key_schema(&g.key_schema, &defs, &mut used)?;
            let (projection, non_key) = read_projection(&g.projection)?;
            let (rcu, wcu) = throughput(
                &billing,
                g.provisioned_throughput.as_ref(),
                Some(&g.index_name),
            )?;
            indexes.push(IndexMeta {
                name: g.index_name.clone(),
                global: true,
                hash: ih,
                range: ir,
                projection,
                non_key,
                rcu,
                wcu,
                creating: false,
            });
        }
        for l in &lsis {
            if !names.insert(l.index_name.clone()) {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Duplicate index name: {}",
                    l.index_name
                )));
            }
            if range.is_none() {
                return Err(validation(
                    "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
                ));
            }
            let (ih, ir) = read_key_schema(&l.key_schema, &defs, &mut used)?;
            if ih.name != hash.name {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                    l.index_name, ih.name, hash.name
                )));
            }
            let Some(ir) = ir else {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Index KeySchema does not have a range key for index: {}",
                    l.index_name
                )));
            };
            let (projection, non_key) = read_projection(&l.projection)?;
            indexes.push(IndexMeta {
                name: l.index_name.clone(),
                global: false,
                hash: ih,
                range: Some(ir),
                projection,
                non_key,
                rcu: 0,
                wcu: 0,
                creating: false,
            });
        }
        if used.len() != defs.len() {
            return Err(validation(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        let stream = read_stream(input.stream_specification.as_ref())?;
        let mut tags = BTreeMap::new();
        for t in input.tags.unwrap_or_default() {
            tags.insert(t.key, t.value);
        }
        if tags.len() > MAX_TAGS {
            return Err(validation(
                "One or more parameter values were invalid: Too many tags",
            ));
        }
        let created = now_millis();
        let meta = TableMeta {
            name: input.table_name.clone(),
            uid: self.registry().next_uid(),
            id: skyport_core::ids::uuid(),
            arn: table_arn(ctx, &input.table_name),
            created,
            hash,
            range,
            attributes: defs_given
                .iter()
                .map(|d| (d.attribute_name.clone(), d.attribute_type.clone()))
                .collect(),
            pay_per_request_since: (billing == "PAY_PER_REQUEST").then_some(created),
            billing,
            rcu,
            wcu,
            indexes,
            stream_label: stream.as_ref().map(|_| stream_label()),
            stream,
            class: input.table_class,
            tags,
            deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
            ttl: None,
            sse: input
                .sse_specification
                .as_ref()
                .is_some_and(|s| s.enabled == Some(true)),
        };
        let table = Table::new(meta);
        let description = table.describe("CREATING");
        let Some(pending) = self
            .registry()
            .insert(&ctx.account, &ctx.region, table, |t| {
                self.persist_meta(ctx, t, true)
            })
        else {
            return Err(DdbError::InUse(format!(
                "Table already exists: {}",
                input.table_name
            )));
        };
        self.wait(pending).await?;
        tracing::debug!(table = %input.table_name, "created DynamoDB table");
        Ok(shapes::CreateTableOutput {
            table_description: Some(description),
        })
    }

    /// `DescribeTable`.
    pub async fn describe_table_op(
        &self,
        ctx: &RequestContext,
        input: shapes::DescribeTableInput,
    ) -> Result<shapes::DescribeTableOutput, DdbError> {
        let table = self.table_for(ctx, &input.table_name)?;
        let t = state::read(&table);
        Ok(shapes::DescribeTableOutput {
            table: Some(t.describe("ACTIVE")),
        })
    }

    /// `DeleteTable`.
    pub async fn delete_table_op(
        &self,
        ctx: &RequestContext,
        input: shapes::DeleteTableInput,
    ) -> Result<shapes::DeleteTableOutput, DdbError> {
        let table = self.table_for(ctx, &input.table_name)?;
        let (description, pending) = {
            let mut t = state::write(&table);
            if t.deleted {
                return Err(table_not_found_named(&input.table_name));
            }
            if t.meta.deletion_protection {
                return Err(validation(
                    "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
                ));
            }
            t.deleted = true;
            if let Some(stream) = t.stream.take() {
                stream.close();
            }
            let description = t.describe("DELETING");
            let pending = if self.registry().durable() {
                let mut ops = vec![crate::persist::Op::DeleteTable(table_key(
                    &ctx.account,
                    &ctx.region,
                    &t.meta.name,
                ))];
                ops.extend(t.store_keys().map(crate::persist::Op::DeleteItem));
                self.registry().commit(ops)
            } else {
                None
            };
            self.registry()
                .remove(&ctx.account, &ctx.region, &input.table_name);
            (description, pending)
        };
        self.wait(pending).await?;
        Ok(shapes::DeleteTableOutput {
            table_description: Some(description),
        })
    }

    /// `ListTables`.
    pub async fn list_tables_op(
        &self,
        ctx: &RequestContext,
        input: shapes::ListTablesInput,
    ) -> Result<shapes::ListTablesOutput, DdbError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let names = self.registry().names(
            &ctx.account,
            &ctx.region,
            input.exclusive_start_table_name.as_deref(),
        );
        let more = names.len() > limit;
        let page: Vec<String> = names.into_iter().take(limit).collect();
        Ok(shapes::ListTablesOutput {
            last_evaluated_table_name: if more { page.last().cloned() } else { None },
            table_names: Some(page),
        })
    }

    /// `UpdateTable`.
    pub async fn update_table_op(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateTableInput,
    ) -> Result<shapes::UpdateTableOutput, DdbError> {
        let table = self.table_for(ctx, &input.table_name)?;
        let new_defs = definitions(&input.attribute_definitions.clone().unwrap_or_default())?;
        let (description, pending) = {
            let mut t = state::write(&table);
            if t.deleted {
                return Err(table_not_found_named(&input.table_name));
            }
            let mut meta = t.meta.clone();
            let mut changed = false;
            let mut stream_changed = false;
            for index in &mut meta.indexes {
                index.creating = false;
            }
            if let Some(billing) = &input.billing_mode
                && *billing != meta.billing
            {
                changed = true;
                meta.billing = billing.clone();
                if billing == "PAY_PER_REQUEST" {
                    meta.pay_per_request_since = Some(now_millis());
                    meta.rcu = 0;
                    meta.wcu = 0;
                    for i in &mut meta.indexes {
                        i.rcu = 0;
                        i.wcu = 0;
                    }
                } else if input.provisioned_throughput.is_none() {
                    return Err(validation(
                        "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                    ));
                }
            }
            if let Some(tp) = &input.provisioned_throughput {
                let (rcu, wcu) = throughput(&meta.billing, Some(tp), None)?;
                if rcu == meta.rcu && wcu == meta.wcu && !changed {
                    return Err(validation(format!(
                        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {}. Requested ReadCapacityUnits: {rcu}. Current WriteCapacityUnits provisioned for the table: {}. Requested WriteCapacityUnits: {wcu}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
                        meta.rcu, meta.wcu
                    )));
                }
                meta.rcu = rcu;
                meta.wcu = wcu;
                changed = true;
            }
            if let Some(class) = &input.table_class {
                meta.class = Some(class.clone());
                changed = true;
            }
            if let Some(protect) = input.deletion_protection_enabled {
                meta.deletion_protection = protect;
                changed = true;
            }
            if let Some(spec) = &input.stream_specification {
                match (read_stream(Some(spec))?, &meta.stream) {
                    (Some(_), Some(_)) => {
                        return Err(validation(format!(
                            "Table already has an enabled stream: {}",
                            meta.arn
                        )));
                    }
                    (None, None) if !spec.stream_enabled => {
                        return Err(validation("Table already has stream disabled"));
                    }
                    (view, _) => {
                        // A disabled stream stays the table's latest (readable for 24 hours).
                        if view.is_some() {
                            meta.stream_label = Some(stream_label());
                        }
                        meta.stream = view;
                        stream_changed = true;
                    }
                }
                changed = true;
            }
            if let Some(sse) = &input.sse_specification {
                meta.sse = sse.enabled == Some(true);
                changed = true;
            }
            let mut create: Option<IndexMeta> = None;
            let mut drop: Option<String> = None;
            for u in input.global_secondary_index_updates.unwrap_or_default() {
                changed = true;
                if let Some(c) = u.create {
                    if meta.index(&c.index_name).is_some() {
                        return Err(validation(format!(
                            "One or more parameter values were invalid: Index with name: {} already exists.",
                            c.index_name
                        )));
                    }
                    let mut defs: BTreeMap<String, ScalarType> = meta
                        .attributes
                        .iter()
                        .filter_map(|(n, t)| Some((n.clone(), ScalarType::parse(t)?)))
                        .collect();
                    defs.extend(new_defs.clone());
                    let (ih, ir) = read_key_schema(&c.key_schema, &defs, &mut BTreeSet::new())?;
                    let (projection, non_key) = read_projection(&c.projection)?;
                    let (rcu, wcu) = throughput(
                        &meta.billing,
                        c.provisioned_throughput.as_ref(),
                        Some(&c.index_name),
                    )?;
                    if meta.indexes.iter().filter(|i| i.global).count() >= MAX_GSIS {
                        return Err(DdbError::LimitExceeded(format!(
                            "Subscriber limit exceeded: The number of global secondary indexes per table exceeds the limit of {MAX_GSIS}"
                        )));
                    }
                    for attr in std::iter::once(&ih).chain(ir.as_ref()) {
                        if !meta.attributes.iter().any(|(n, _)| *n == attr.name) {
                            meta.attributes
                                .push((attr.name.clone(), attr.ty.name().to_owned()));
                        }
                    }
                    create = Some(IndexMeta {
                        name: c.index_name,
                        global: true,
                        hash: ih,
                        range: ir,
                        projection,
                        non_key,
                        rcu,
                        wcu,
                        creating: true,
                    });
                } else if let Some(d) = u.delete {
                    if !meta
                        .indexes
                        .iter()
                        .any(|i| i.global && i.name == d.index_name)
                    {
                        return Err(DdbError::NotFound(format!(
                            "Requested resource not found: Index: {} not found",
                            d.index_name
                        )));
                    }
                    drop = Some(d.index_name);
                } else if let Some(up) = u.update {
                    let Some(index) = meta
                        .indexes
                        .iter_mut()
                        .find(|i| i.global && i.name == up.index_name)
                    else {
                        return Err(DdbError::NotFound(format!(
                            "Requested resource not found: Index: {} not found",
                            up.index_name
                        )));
                    };
                    if let Some(tp) = &up.provisioned_throughput {
                        index.rcu = tp.read_capacity_units;
                        index.wcu = tp.write_capacity_units;
                    }
                }
            }
            if !changed {
                return Err(validation(
                    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
                ));
            }
            // Keep only definitions some key still uses.
            let keep: BTreeSet<String> = meta
                .key_names()
                .into_iter()
                .chain(
                    meta.indexes
                        .iter()
                        .filter(|i| Some(&i.name) != drop.as_ref())
                        .chain(create.as_ref())
                        .flat_map(|i| {
                            std::iter::once(i.hash.name.clone())
                                .chain(i.range.as_ref().map(|r| r.name.clone()))
                        }),
                )
                .collect();
            meta.attributes.retain(|(n, _)| keep.contains(n));
            let new_index = create.clone();
            meta.indexes.retain(|i| Some(&i.name) != drop.as_ref());
            let indexes_before: Vec<String> =
                t.meta.indexes.iter().map(|i| i.name.clone()).collect();
            for name in indexes_before {
                if meta.index(&name).is_none() {
                    t.drop_index(&name);
                }
            }
            // Same indexes in the same order now: the data stays aligned with the definition.
            t.meta = meta;
            if let Some(index) = new_index {
                t.add_index(index);
            }
            if stream_changed && let Some(stream) = t.restart_stream() {
                self.registry().add_stream(stream);
            }
            let description = t.describe("UPDATING");
            for index in &mut t.meta.indexes {
                index.creating = false;
            }
            (description, self.persist_meta(ctx, &t, stream_changed))
        };
        self.wait(pending).await?;
        Ok(shapes::UpdateTableOutput {
            table_description: Some(description),
        })
    }

    /// `TagResource`.
    pub async fn tag_resource_op(
        &self,
        ctx: &RequestContext,
        input: shapes::TagResourceInput,
    ) -> Result<(), DdbError> {
        let table = self.table_by_arn(ctx, &input.resource_arn)?;
        let pending = {
            let mut t = state::write(&table);
            let mut tags = t.meta.tags.clone();
            for tag in input.tags {
                tags.insert(tag.key, tag.value);
            }
            if tags.len() > MAX_TAGS {
                return Err(validation(
                    "One or more parameter values were invalid: The number of tags exceeds the limit of 50",
                ));
            }
            t.meta.tags = tags;
            self.persist_meta(ctx, &t, false)
        };
        self.wait(pending).await
    }

    /// `UntagResource`.
    pub async fn untag_resource_op(
        &self,
        ctx: &RequestContext,
        input: shapes::UntagResourceInput,
    ) -> Result<(), DdbError> {
        let table = self.table_by_arn(ctx, &input.resource_arn)?;
        let pending = {
            let mut t = state::write(&table);
            for key in &input.tag_keys {
                t.meta.tags.remove(key);
            }
            self.persist_meta(ctx, &t, false)
        };
        self.wait(pending).await
    }

    /// `ListTagsOfResource`.
    pub async fn list_tags_op(
        &self,
        ctx: &RequestContext,
        input: shapes::ListTagsOfResourceInput,
    ) -> Result<shapes::ListTagsOfResourceOutput, DdbError> {
        let table = self.table_by_arn(ctx, &input.resource_arn)?;
        let t = state::read(&table);
        Ok(shapes::ListTagsOfResourceOutput {
            tags: Some(
                t.meta
                    .tags
                    .iter()
                    .map(|(k, v)| shapes::Tag {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            ),
            next_token: None,
        })
    }

    fn table_by_arn(&self, ctx: &RequestContext, arn: &str) -> Result<state::TableRef, DdbError> {
        let not_found = || {
            DdbError::NotFound(format!(
                "Requested resource not found: ResourcArn: {arn} not found"
            ))
        };
        if !arn.starts_with("arn:") {
            return Err(validation(format!("Invalid TableArn: {arn}")));
        }
        let (region, account, name) = parse_table_arn(arn).ok_or_else(not_found)?;
        if account != ctx.account {
            return Err(not_found());
        }
        self.registry()
            .get(&account, &region, &name)
            .ok_or_else(not_found)
    }

    /// `DescribeLimits`.
    pub async fn describe_limits_op(
        &self,
        _ctx: &RequestContext,
        _input: shapes::DescribeLimitsInput,
    ) -> Result<shapes::DescribeLimitsOutput, DdbError> {
        Ok(shapes::DescribeLimitsOutput {
            account_max_read_capacity_units: Some(80_000),
            account_max_write_capacity_units: Some(80_000),
            table_max_read_capacity_units: Some(40_000),
            table_max_write_capacity_units: Some(40_000),
        })
    }

    /// `DescribeEndpoints`.
    pub async fn describe_endpoints_op(
        &self,
        ctx: &RequestContext,
        _input: shapes::DescribeEndpointsRequest,
    ) -> Result<shapes::DescribeEndpointsResponse, DdbError> {
        Ok(shapes::DescribeEndpointsResponse {
            endpoints: vec![shapes::Endpoint {
                address: format!("dynamodb.{}.amazonaws.com", ctx.region),
                cache_period_in_minutes: 1440,
            }],
        })
    }
}
