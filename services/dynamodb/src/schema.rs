//! A table's definition as stored ([`TableMeta`]: key schema, billing, indexes, stream, TTL, tags),
//! built from `CreateTable` with AWS's validation, and described back as the model's
//! `TableDescription`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use skyport_wire::Timestamp;

use crate::attr::{Av, Item, KeyVal, PKey, ScalarType, SortPart};
use crate::error::{DdbError, validation};
use crate::shapes;

/// A key attribute: its name and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttr {
    /// The attribute name.
    pub name: String,
    /// `S`, `N` or `B`.
    pub ty: ScalarType,
}

/// A secondary index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// The index name.
    pub name: String,
    /// Global (true) or local.
    pub global: bool,
    /// The partition key.
    pub hash: KeyAttr,
    /// The sort key.
    pub range: Option<KeyAttr>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
    /// `NonKeyAttributes` of an `INCLUDE` projection.
    #[serde(default)]
    pub non_key: Vec<String>,
    /// Provisioned read capacity (GSIs of provisioned tables).
    #[serde(default)]
    pub rcu: i64,
    /// Provisioned write capacity.
    #[serde(default)]
    pub wcu: i64,
    /// Reported as `CREATING` in the response that created it (`UpdateTable`).
    #[serde(default, skip)]
    pub creating: bool,
}

impl IndexMeta {
    /// The attributes an item keeps in this index (`None`: all of them).
    pub fn projected(&self, table: &TableMeta) -> Option<BTreeSet<String>> {
        if self.projection == "ALL" {
            return None;
        }
        let mut names: BTreeSet<String> = table.key_names().into_iter().collect();
        names.insert(self.hash.name.clone());
        if let Some(r) = &self.range {
            names.insert(r.name.clone());
        }
        if self.projection == "INCLUDE" {
            names.extend(self.non_key.iter().cloned());
        }
        Some(names)
    }

    /// The key schema elements.
    pub fn key_schema(&self) -> Vec<shapes::KeySchemaElement> {
        key_schema(&self.hash, self.range.as_ref())
    }
}

/// A table's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    /// The table name.
    pub name: String,
    /// Unique number (stored items hang off it).
    pub uid: u64,
    /// `TableId` (a UUID).
    pub id: String,
    /// The ARN.
    pub arn: String,
    /// Milliseconds since the epoch.
    pub created: i64,
    /// The partition key.
    pub hash: KeyAttr,
    /// The sort key.
    pub range: Option<KeyAttr>,
    /// `AttributeDefinitions` as given (name, type).
    pub attributes: Vec<(String, String)>,
    /// `PROVISIONED` or `PAY_PER_REQUEST`.
    pub billing: String,
    /// When the table last moved to `PAY_PER_REQUEST`.
    #[serde(default)]
    pub pay_per_request_since: Option<i64>,
    /// Provisioned read capacity (0 for on-demand).
    pub rcu: i64,
    /// Provisioned write capacity.
    pub wcu: i64,
    /// Secondary indexes: global ones, then local ones.
    #[serde(default)]
    pub indexes: Vec<IndexMeta>,
    /// `StreamViewType` when a stream is enabled.
    #[serde(default)]
    pub stream: Option<String>,
    /// The stream's label (its creation time).
    #[serde(default)]
    pub stream_label: Option<String>,
    /// `STANDARD` or `STANDARD_INFREQUENT_ACCESS`, when given.
    #[serde(default)]
    pub class: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `DeletionProtectionEnabled`.
    #[serde(default)]
    pub deletion_protection: bool,
    /// The TTL attribute, when TTL is enabled.
    #[serde(default)]
    pub ttl: Option<String>,
    /// `SSEDescription` status when SSE was asked for.
    #[serde(default)]
    pub sse: bool,
}

fn key_schema(hash: &KeyAttr, range: Option<&KeyAttr>) -> Vec<shapes::KeySchemaElement> {
    let mut out = vec![shapes::KeySchemaElement {
        attribute_name: hash.name.clone(),
        key_type: "HASH".to_owned(),
    }];
    if let Some(r) = range {
        out.push(shapes::KeySchemaElement {
            attribute_name: r.name.clone(),
            key_type: "RANGE".to_owned(),
        });
    }
    out
}

fn empty_key_message(name: &str, binary: bool) -> String {
    format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {} value. Key: {name}",
        if binary { "binary" } else { "string" }
    )
}

fn key_value(attr: &KeyAttr, v: &Av) -> Result<KeyVal, DdbError> {
    match (attr.ty, v) {
        (ScalarType::S, Av::S(s)) if s.is_empty() => {
            Err(validation(empty_key_message(&attr.name, false)))
        }
        (ScalarType::B, Av::B(b)) if b.is_empty() => {
            Err(validation(empty_key_message(&attr.name, true)))
        }
        (ScalarType::S, Av::S(_)) | (ScalarType::N, Av::N(_)) | (ScalarType::B, Av::B(_)) => {
            KeyVal::of(v)
                .ok_or_else(|| validation("The provided key element does not match the schema"))
        }
        _ => Err(validation(format!(
            "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
            attr.name,
            attr.ty.name(),
            v.type_name()
        ))),
    }
}

impl TableMeta {
    /// The key attribute names.
    pub fn key_names(&self) -> Vec<String> {
        let mut v = vec![self.hash.name.clone()];
        if let Some(r) = &self.range {
            v.push(r.name.clone());
        }
        v
    }

    /// The names of the key attributes, as packed items refer to them.
    pub fn key_attr_names(&self) -> crate::packed::KeyNames<'_> {
        crate::packed::KeyNames {
            hash: &self.hash.name,
            range: self.range.as_ref().map(|r| r.name.as_str()),
        }
    }

    /// True when `name` is one of the table's key attributes.
    pub fn is_key(&self, name: &str) -> bool {
        self.hash.name == name || self.range.as_ref().is_some_and(|r| r.name == name)
    }

    /// The index `name`.
    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// The primary key of an item to write, with AWS's messages for missing or mistyped keys.
    pub fn item_key(&self, item: &Item) -> Result<PKey, DdbError> {
        let part = |attr: &KeyAttr| match item.get(&attr.name) {
            Some(v) => key_value(attr, v),
            None => Err(validation(format!(
                "One or more parameter values were invalid: Missing the key {} in the item",
                attr.name
            ))),
        };
        let hash = part(&self.hash)?;
        let range = match &self.range {
            Some(r) => SortPart::Val(part(r)?),
            None => SortPart::None,
        };
        Ok(PKey { hash, range })
    }

    /// The primary key given as a `Key` parameter: exactly the key attributes, of their types.
    pub fn key_param(&self, key: &Item) -> Result<PKey, DdbError> {
        let mismatch = || validation("The provided key element does not match the schema");
        let want = if self.range.is_some() { 2 } else { 1 };
        if key.len() != want {
            return Err(mismatch());
        }
        let part = |attr: &KeyAttr| {
            let v = key.get(&attr.name).ok_or_else(mismatch)?;
            match (attr.ty, v) {
                (ScalarType::S, Av::S(_))
                | (ScalarType::N, Av::N(_))
                | (ScalarType::B, Av::B(_)) => key_value(attr, v),
                _ => Err(mismatch()),
            }
        };
        let hash = part(&self.hash)?;
        let range = match &self.range {
            Some(r) => SortPart::Val(part(r)?),
            None => SortPart::None,
        };
        Ok(PKey { hash, range })
    }

    /// The key attributes of `pkey` as an item (for `LastEvaluatedKey`, `UnprocessedKeys`).
    pub fn key_item(&self, pkey: &PKey) -> Item {
        let mut out = Item::new();
        out.insert(self.hash.name.clone(), pkey.hash.to_av());
        if let (Some(r), SortPart::Val(v)) = (&self.range, &pkey.range) {
            out.insert(r.name.clone(), v.to_av());
        }
        out
    }

    /// Checks the index key attributes an item carries (types, empty values).
    pub fn check_index_keys(&self, item: &Item) -> Result<(), DdbError> {
        for index in &self.indexes {
            for attr in std::iter::once(&index.hash).chain(index.range.as_ref()) {
                let Some(v) = item.get(&attr.name) else {
                    continue;
                };
                let ok = matches!(
                    (attr.ty, v),
                    (ScalarType::S, Av::S(_))
                        | (ScalarType::N, Av::N(_))
                        | (ScalarType::B, Av::B(_))
                );
                if !ok {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                        attr.name,
                        attr.ty.name(),
                        v.type_name(),
                        index.name
                    )));
                }
                let empty =
                    matches!(v, Av::S(s) if s.is_empty()) || matches!(v, Av::B(b) if b.is_empty());
                if empty {
                    return Err(validation(format!(
                        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
                        if matches!(v, Av::B(_)) {
                            "binary"
                        } else {
                            "string"
                        },
                        index.name,
                        attr.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The model's description of the table, with its current size and status.
    pub fn describe(
        &self,
        status: &str,
        item_count: i64,
        size: i64,
        index_stats: &[(i64, i64)],
    ) -> shapes::TableDescription {
        let throughput = |rcu: i64, wcu: i64| shapes::ProvisionedThroughputDescription {
            number_of_decreases_today: Some(0),
            read_capacity_units: Some(rcu),
            write_capacity_units: Some(wcu),
            ..Default::default()
        };
        let projection = |i: &IndexMeta| shapes::Projection {
            projection_type: Some(i.projection.clone()),
            non_key_attributes: (!i.non_key.is_empty()).then(|| i.non_key.clone()),
        };
        let mut gsis = Vec::new();
        let mut lsis = Vec::new();
        for (n, index) in self.indexes.iter().enumerate() {
            let (count, bytes) = index_stats.get(n).copied().unwrap_or((0, 0));
            let arn = format!("{}/index/{}", self.arn, index.name);
            if index.global {
                gsis.push(shapes::GlobalSecondaryIndexDescription {
                    index_name: Some(index.name.clone()),
                    key_schema: Some(index.key_schema()),
                    projection: Some(projection(index)),
                    index_status: Some(
                        if index.creating { "CREATING" } else { "ACTIVE" }.to_owned(),
                    ),
                    backfilling: index.creating.then_some(false),
                    provisioned_throughput: Some(throughput(index.rcu, index.wcu)),
                    index_size_bytes: Some(bytes),
                    item_count: Some(count),
                    index_arn: Some(arn),
                    ..Default::default()
                });
            } else {
                lsis.push(shapes::LocalSecondaryIndexDescription {
                    index_name: Some(index.name.clone()),
                    key_schema: Some(index.key_schema()),
                    projection: Some(projection(index)),
                    index_size_bytes: Some(bytes),
                    item_count: Some(count),
                    index_arn: Some(arn),
                });
            }
        }
        let on_demand = self.billing == "PAY_PER_REQUEST";
        shapes::TableDescription {
            attribute_definitions: Some(
                self.attributes
                    .iter()
                    .map(|(n, t)| shapes::AttributeDefinition {
                        attribute_name: n.clone(),
                        attribute_type: t.clone(),
                    })
                    .collect(),
            ),
            table_name: Some(self.name.clone()),
            key_schema: Some(key_schema(&self.hash, self.range.as_ref())),
            table_status: Some(status.to_owned()),
            creation_date_time: Some(Timestamp::from_millis(self.created)),
            provisioned_throughput: Some(throughput(self.rcu, self.wcu)),
            table_size_bytes: Some(size),
            item_count: Some(item_count),
            table_arn: Some(self.arn.clone()),
            table_id: Some(self.id.clone()),
            billing_mode_summary: on_demand.then(|| shapes::BillingModeSummary {
                billing_mode: Some(self.billing.clone()),
                last_update_to_pay_per_request_date_time: Some(Timestamp::from_millis(
                    self.pay_per_request_since.unwrap_or(self.created),
                )),
            }),
            local_secondary_indexes: (!lsis.is_empty()).then_some(lsis),
            global_secondary_indexes: (!gsis.is_empty()).then_some(gsis),
            stream_specification: self
                .stream
                .as_ref()
                .map(|view| shapes::StreamSpecification {
                    stream_enabled: true,
                    stream_view_type: Some(view.clone()),
                }),
            latest_stream_label: self.stream_label.clone(),
            latest_stream_arn: self
                .stream_label
                .as_ref()
                .map(|label| format!("{}/stream/{label}", self.arn)),
            sse_description: self.sse.then(|| shapes::SSEDescription {
                status: Some("ENABLED".to_owned()),
                sse_type: Some("KMS".to_owned()),
                ..Default::default()
            }),
            table_class_summary: self.class.as_ref().map(|c| shapes::TableClassSummary {
                table_class: Some(c.clone()),
                ..Default::default()
            }),
            deletion_protection_enabled: Some(self.deletion_protection),
            ..Default::default()
        }
    }
}

/// Reads a `KeySchema` against `AttributeDefinitions`.
pub fn read_key_schema(
    schema: &[shapes::KeySchemaElement],
    defs: &BTreeMap<String, ScalarType>,
    used: &mut BTreeSet<String>,
) -> Result<(KeyAttr, Option<KeyAttr>), DdbError> {
    let first = schema.first().ok_or_else(|| {
        validation("Invalid KeySchema: Some index key attribute have no definition")
    })?;
    if first.key_type != "HASH" {
        return Err(validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if schema.len() > 2 {
        return Err(validation(
            "Invalid KeySchema: Too many key schema elements",
        ));
    }
    if let Some(second) = schema.get(1) {
        if second.key_type != "RANGE" {
            return Err(validation(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
            ));
        }
        if second.attribute_name == first.attribute_name {
            return Err(validation(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ));
        }
    }
    let missing: Vec<&str> = schema
        .iter()
        .map(|e| e.attribute_name.as_str())
        .filter(|n| !defs.contains_key(*n))
        .collect();
    if !missing.is_empty() {
        let defined: Vec<&str> = defs.keys().map(String::as_str).collect();
        return Err(validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            missing.join(", "),
            defined.join(", ")
        )));
    }
    let attr = |e: &shapes::KeySchemaElement| KeyAttr {
        name: e.attribute_name.clone(),
        ty: defs[&e.attribute_name],
    };
    for e in schema {
        used.insert(e.attribute_name.clone());
    }
    Ok((attr(first), schema.get(1).map(attr)))
}

/// Reads a `Projection`.
pub fn read_projection(p: &shapes::Projection) -> Result<(String, Vec<String>), DdbError> {
    let ty = p
        .projection_type
        .clone()
        .unwrap_or_else(|| "INCLUDE".to_owned());
    let non_key = p.non_key_attributes.clone().unwrap_or_default();
    match ty.as_str() {
        "ALL" | "KEYS_ONLY" if !non_key.is_empty() => Err(validation(format!(
            "One or more parameter values were invalid: ProjectionType is {ty}, but NonKeyAttributes is specified"
        ))),
        "INCLUDE" if non_key.is_empty() => Err(validation(
            "One or more parameter values were invalid: NonKeyAttributes must not be empty",
        )),
        _ => Ok((ty, non_key)),
    }
}
