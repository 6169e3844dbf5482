//! The query protocol: `Action=...&Member.Sub=...` forms into canonical values, and the XML responses
//! `<OpResponse><OpResult>...</OpResult><ResponseMetadata>...</ResponseMetadata></OpResponse>`.
//!
//! Form keys follow botocore's serialiser: structure members by wire name, lists as
//! `Name.member.N` (or `Name.N` when flattened, under the list member's own name if it has one), maps as
//! `Name.entry.N.key`/`.value` (`Name.N.key` when flattened), empty lists as `Name=`.

use crate::WireError;
use crate::model::{Kind, Member, Model, Operation, ShapeId, TimestampFormat};
use crate::scalar;
use crate::value::{Struct, Value};
use crate::xml::{self, Writer};

/// Form parameters arranged as a tree of their dotted key segments.
#[derive(Debug, Default)]
pub struct Node {
    value: Option<String>,
    children: Vec<(String, Node)>,
}

impl Node {
    /// Arranges `pairs` (decoded form pairs, in order) into a tree.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Node {
        let mut root = Node::default();
        for (key, value) in pairs {
            let mut node = &mut root;
            for segment in key.split('.') {
                let i = match node.children.iter().position(|(k, _)| k == segment) {
                    Some(i) => i,
                    None => {
                        node.children.push((segment.to_owned(), Node::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[i].1;
            }
            if node.value.is_none() {
                node.value = Some(value.to_owned());
            }
        }
        root
    }

    /// The child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, n)| n)
    }

    /// The value at this node.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Children with numeric names, ordered by number.
    fn indexed(&self) -> Vec<&Node> {
        let mut items: Vec<(u64, &Node)> = self
            .children
            .iter()
            .filter_map(|(k, n)| k.parse::<u64>().ok().map(|i| (i, n)))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, n)| n).collect()
    }
}

fn flattened(model: &Model, member: &Member) -> bool {
    member.flattened
        || match &model.shape(member.target).kind {
            Kind::List { flattened, .. } | Kind::Map { flattened, .. } => *flattened,
            _ => false,
        }
}

/// Reads the input structure `shape` from the form tree.
pub fn read_input(model: &Model, shape: ShapeId, root: &Node) -> Result<Value, WireError> {
    read_struct(model, shape, root)
}

fn read_struct(model: &Model, shape_id: ShapeId, node: &Node) -> Result<Value, WireError> {
    let Kind::Structure(st) = &model.shape(shape_id).kind else {
        return Ok(Value::Struct(Struct::new()));
    };
    let mut fields = Struct::new();
    for member in &st.members {
        // A flattened list's elements take the structure member's name (Smithy's rule).
        if let Some(child) = node.child(member.wire()) {
            fields.insert(member.name.clone(), read_member(model, member, child)?);
        }
    }
    Ok(Value::Struct(fields))
}

fn read_member(model: &Model, member: &Member, node: &Node) -> Result<Value, WireError> {
    match &model.shape(member.target).kind {
        Kind::Structure(_) => read_struct(model, member.target, node),
        Kind::List { member: item, .. } => {
            let items_node = if flattened(model, member) {
                Some(node)
            } else {
                node.child(item.wire_name.as_deref().unwrap_or("member"))
            };
            let Some(items_node) = items_node else {
                // `Name=` is the empty list.
                return Ok(Value::List(Vec::new()));
            };
            Ok(Value::List(
                items_node
                    .indexed()
                    .into_iter()
                    .map(|n| read_member(model, item, n))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Kind::Map { key, value, .. } => {
            let entries_node = if flattened(model, member) {
                Some(node)
            } else {
                node.child("entry")
            };
            let Some(entries_node) = entries_node else {
                return Ok(Value::Map(Vec::new()));
            };
            let key_name = key.wire_name.as_deref().unwrap_or("key");
            let value_name = value.wire_name.as_deref().unwrap_or("value");
            let mut entries = Vec::new();
            for entry in entries_node.indexed() {
                let Some(k) = entry.child(key_name).and_then(Node::value) else {
                    continue;
                };
                let v = match entry.child(value_name) {
                    Some(n) => read_member(model, value, n)?,
                    None => Value::Null,
                };
                entries.push((k.to_owned(), v));
            }
            Ok(Value::Map(entries))
        }
        _ => scalar::from_text(
            model,
            member,
            node.value().unwrap_or_default(),
            TimestampFormat::Iso8601,
        ),
    }
}

/// The XML response of a successful query-protocol operation.
pub fn write_output(model: &Model, op: &Operation, output: &Value, request_id: &str) -> String {
    let mut w = Writer::new();
    let response = format!("{}Response", op.name);
    let ns = model
        .metadata
        .xml_namespace
        .as_ref()
        .map(|uri| crate::model::XmlNamespace {
            prefix: None,
            uri: uri.clone(),
        });
    w.open(&response, ns.as_ref(), &[]);
    if let Some(shape) = op.output {
        let wrapper = op
            .result_wrapper
            .clone()
            .unwrap_or_else(|| format!("{}Result", op.name));
        if let Value::Struct(fields) = output {
            w.open(&wrapper, None, &[]);
            xml::write_members(model, shape, fields, &mut w);
            w.close(&wrapper);
        }
    }
    w.open("ResponseMetadata", None, &[]);
    w.leaf("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&response);
    w.finish()
}
