//! XML bodies (REST-XML requests and responses, query-protocol responses): canonical values from and to
//! XML, shape by shape, with AWS's rules for wrapped and flattened lists and maps, attributes,
//! namespaces and timestamp formats (ISO 8601 unless the member says otherwise).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quick_xml::events::{BytesStart, Event};

use crate::WireError;
use crate::model::{Kind, Location, Member, Model, ShapeId, TimestampFormat, XmlNamespace};
use crate::scalar;
use crate::value::{Struct, Value};

/// One element of a parsed document (local names; namespaces are not needed to read AWS documents).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Element {
    /// The local name.
    pub name: String,
    /// Attributes (local names).
    pub attributes: Vec<(String, String)>,
    /// Child elements, in order.
    pub children: Vec<Element>,
    /// The text directly inside (cleared for elements that have children).
    pub text: String,
}

impl Element {
    /// The children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name || k.rsplit(':').next() == Some(name))
            .map(|(_, v)| v.as_str())
    }
}

fn malformed() -> WireError {
    WireError::Serialization(
        "The XML you provided was not well-formed or did not validate against our published schema"
            .to_owned(),
    )
}

fn start_element(e: &BytesStart<'_>) -> Result<Element, WireError> {
    let name = e.local_name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|_| malformed())?;
        let key = attr.key.as_ref().to_owned();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|_| malformed())?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

/// Parses a document into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element, WireError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(e) => stack.push(start_element(&e)?),
            Event::Empty(e) => {
                let node = start_element(&e)?;
                stack.last_mut().ok_or_else(malformed)?.children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(malformed)?;
                stack.last_mut().ok_or_else(malformed)?.children.push(node);
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::unescape(&format!("&{name};"))
                        .map_err(|_| malformed())?
                        .into_owned(),
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(malformed());
    }
    let mut doc = stack.pop().unwrap_or_default();
    if doc.children.len() != 1 {
        return Err(malformed());
    }
    let mut root = doc.children.remove(0);
    clear_mixed_text(&mut root);
    Ok(root)
}

fn clear_mixed_text(node: &mut Element) {
    if !node.children.is_empty() {
        node.text.clear();
    }
    for c in &mut node.children {
        clear_mixed_text(c);
    }
}

/// Whether a list or map reference is flattened (on the member or on its shape).
fn flattened(model: &Model, member: &Member) -> bool {
    member.flattened
        || match &model.shape(member.target).kind {
            Kind::List { flattened, .. } | Kind::Map { flattened, .. } => *flattened,
            _ => false,
        }
}

/// Whether a member travels in the body: for outputs, members bound to the URI or query string do too
/// (a structure shared by input and output); headers and the status code never do.
pub(crate) fn in_body(member: &Member) -> bool {
    !matches!(
        member.location,
        Location::Header | Location::Headers | Location::StatusCode
    )
}

/// Reads the members of structure `shape` from the children (and attributes) of `element`.
pub fn read_struct(
    model: &Model,
    shape_id: ShapeId,
    element: &Element,
) -> Result<Value, WireError> {
    let Kind::Structure(st) = &model.shape(shape_id).kind else {
        return read(model, shape_id, None, element);
    };
    let mut fields = Struct::new();
    for member in &st.members {
        if !matches!(member.location, Location::Body) {
            continue;
        }
        if member.xml_attribute {
            if let Some(text) = element.attribute(member.wire()) {
                fields.insert(
                    member.name.clone(),
                    scalar::from_text(model, member, text, TimestampFormat::Iso8601)?,
                );
            }
            continue;
        }
        // A flattened list's elements take the structure member's name (Smithy's rule; the list
        // member's own name applies only inside a wrapped list).
        let name = member.wire();
        if flattened(model, member) {
            let items: Vec<&Element> = element.all(name).collect();
            if items.is_empty() {
                continue;
            }
            fields.insert(member.name.clone(), read_flattened(model, member, &items)?);
        } else if let Some(child) = element.child(name) {
            fields.insert(
                member.name.clone(),
                read(model, member.target, Some(member), child)?,
            );
        }
    }
    Ok(Value::Struct(fields))
}

fn read_flattened(model: &Model, member: &Member, items: &[&Element]) -> Result<Value, WireError> {
    match &model.shape(member.target).kind {
        Kind::List { member: item, .. } => Ok(Value::List(
            items
                .iter()
                .map(|e| read(model, item.target, Some(item), e))
                .collect::<Result<_, _>>()?,
        )),
        Kind::Map { key, value, .. } => {
            let mut entries = Vec::new();
            for e in items {
                entries.push(read_entry(model, key, value, e)?);
            }
            Ok(Value::Map(entries))
        }
        _ => read(model, member.target, Some(member), items[0]),
    }
}

fn read_entry(
    model: &Model,
    key: &Member,
    value: &Member,
    entry: &Element,
) -> Result<(String, Value), WireError> {
    let k = entry
        .child(key.wire_name.as_deref().unwrap_or("key"))
        .map(|e| e.text.clone())
        .unwrap_or_default();
    let v = match entry.child(value.wire_name.as_deref().unwrap_or("value")) {
        Some(e) => read(model, value.target, Some(value), e)?,
        None => Value::Null,
    };
    Ok((k, v))
}

/// Reads a value of `shape` from `element`.
pub fn read(
    model: &Model,
    shape_id: ShapeId,
    member: Option<&Member>,
    element: &Element,
) -> Result<Value, WireError> {
    let shape = model.shape(shape_id);
    match &shape.kind {
        Kind::Structure(_) => read_struct(model, shape_id, element),
        Kind::List { member: item, .. } => {
            let name = item.wire_name.as_deref().unwrap_or("member");
            Ok(Value::List(
                element
                    .all(name)
                    .map(|e| read(model, item.target, Some(item), e))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Kind::Map { key, value, .. } => Ok(Value::Map(
            element
                .all("entry")
                .map(|e| read_entry(model, key, value, e))
                .collect::<Result<_, _>>()?,
        )),
        _ => {
            let fallback;
            let member = match member {
                Some(m) => m,
                None => {
                    fallback = synthetic_member(shape_id);
                    &fallback
                }
            };
            scalar::from_text(model, member, &element.text, TimestampFormat::Iso8601)
        }
    }
}

/// A member reference with no traits of its own, for values read or written outside a structure.
pub(crate) fn synthetic_member(target: ShapeId) -> Member {
    Member {
        name: String::new(),
        target,
        location: Location::Body,
        wire_name: None,
        query_name: None,
        flattened: false,
        xml_attribute: false,
        xml_namespace: None,
        timestamp_format: None,
        json_value: false,
        idempotency_token: false,
        required: false,
        host_label: false,
        streaming: false,
    }
}

/// Builds an XML document.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// An empty document without a declaration.
    pub fn new() -> Writer {
        Writer {
            out: String::with_capacity(512),
        }
    }

    /// A document starting with the XML declaration.
    pub fn with_declaration() -> Writer {
        let mut w = Writer::new();
        w.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        w
    }

    /// Opens `<name ...attributes>`.
    pub fn open(
        &mut self,
        name: &str,
        namespace: Option<&XmlNamespace>,
        attributes: &[(String, String)],
    ) {
        self.out.push('<');
        self.out.push_str(name);
        if let Some(ns) = namespace {
            match &ns.prefix {
                Some(p) => {
                    self.out.push_str(" xmlns:");
                    self.out.push_str(p);
                }
                None => self.out.push_str(" xmlns"),
            }
            self.out.push_str("=\"");
            escape_into(&mut self.out, &ns.uri);
            self.out.push('"');
        }
        for (k, v) in attributes {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('>');
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Writes `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.open(name, None, &[]);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// Appends escaped text.
    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.out, text);
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes XML text and attribute values (`&`, `<`, `>`, quotes, and the control characters AWS escapes).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\n' => out.push_str("&#xA;"),
            '\u{85}' => out.push_str("&#x85;"),
            '\u{2028}' => out.push_str("&#x2028;"),
            c => out.push(c),
        }
    }
}

/// Writes the members of `fields` (a structure of `shape`) as child elements, in model order.
pub fn write_members(model: &Model, shape_id: ShapeId, fields: &Struct, w: &mut Writer) {
    let Kind::Structure(st) = &model.shape(shape_id).kind else {
        return;
    };
    for member in &st.members {
        if !in_body(member) || member.xml_attribute {
            continue;
        }
        if let Some(value) = fields.get(&member.name) {
            write_member(model, member, value, w);
        }
    }
}

/// The attributes of a structure value (members with `xmlAttribute`).
fn attributes_of(model: &Model, shape_id: ShapeId, value: &Value) -> Vec<(String, String)> {
    let (Kind::Structure(st), Value::Struct(fields)) = (&model.shape(shape_id).kind, value) else {
        return Vec::new();
    };
    st.members
        .iter()
        .filter(|m| m.xml_attribute)
        .filter_map(|m| {
            let v = fields.get(&m.name)?;
            let text = scalar::to_text(model, m, v, TimestampFormat::Iso8601)?;
            Some((m.wire().to_owned(), text))
        })
        .collect()
}

/// Writes one member's element(s).
pub fn write_member(model: &Model, member: &Member, value: &Value, w: &mut Writer) {
    let shape = model.shape(member.target);
    let name = member.wire();
    match (&shape.kind, value) {
        (Kind::List { member: item, .. }, Value::List(items)) => {
            if flattened(model, member) {
                let element = Member {
                    wire_name: Some(name.to_owned()),
                    xml_namespace: member
                        .xml_namespace
                        .clone()
                        .or_else(|| item.xml_namespace.clone()),
                    ..item.as_ref().clone()
                };
                for v in items {
                    write_member(model, &element, v, w);
                }
            } else {
                w.open(name, member.xml_namespace.as_ref(), &[]);
                let element = Member {
                    wire_name: Some(item.wire_name.clone().unwrap_or_else(|| "member".into())),
                    ..item.as_ref().clone()
                };
                for v in items {
                    write_member(model, &element, v, w);
                }
                w.close(name);
            }
        }
        (Kind::Map { key, value: v, .. }, Value::Map(entries)) => {
            let key_name = key.wire_name.as_deref().unwrap_or("key");
            let value_member = Member {
                wire_name: Some(v.wire_name.clone().unwrap_or_else(|| "value".into())),
                ..v.as_ref().clone()
            };
            let flat = flattened(model, member);
            if !flat {
                w.open(name, member.xml_namespace.as_ref(), &[]);
            }
            for (k, item) in entries {
                if flat {
                    w.open(name, member.xml_namespace.as_ref(), &[]);
                } else {
                    w.open("entry", None, &[]);
                }
                w.open(key_name, key.xml_namespace.as_ref(), &[]);
                w.text(k);
                w.close(key_name);
                write_member(model, &value_member, item, w);
                w.close(if flat { name } else { "entry" });
            }
            if !flat {
                w.close(name);
            }
        }
        (Kind::Structure(st), Value::Struct(fields)) => {
            let attributes = attributes_of(model, member.target, value);
            let ns = member.xml_namespace.as_ref().or(st.xml_namespace.as_ref());
            w.open(name, ns, &attributes);
            write_members(model, member.target, fields, w);
            w.close(name);
        }
        _ => {
            if let Some(text) = scalar::to_text(model, member, value, TimestampFormat::Iso8601) {
                w.open(name, member.xml_namespace.as_ref(), &[]);
                w.text(&text);
                w.close(name);
            }
        }
    }
}

/// Writes a structure value as the document root named `root`.
pub fn write_root(
    model: &Model,
    shape_id: ShapeId,
    root: &str,
    namespace: Option<&XmlNamespace>,
    value: &Value,
    w: &mut Writer,
) {
    let attributes = attributes_of(model, shape_id, value);
    w.open(root, namespace, &attributes);
    if let Value::Struct(fields) = value {
        write_members(model, shape_id, fields, w);
    } else if let Some(text) = scalar::to_text(
        model,
        &synthetic_member(shape_id),
        value,
        TimestampFormat::Iso8601,
    ) {
        w.text(&text);
    }
    w.close(root);
}

/// Base64 for blobs in XML.
pub fn blob_text(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
