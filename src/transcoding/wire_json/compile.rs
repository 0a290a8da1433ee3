//! Compiling a writer for a reply type, once at start-up: every field's JSON key, value kind,
//! presence and oneof, index-linked so recursive types work. A type the fast path cannot write
//! exactly as the general path would gets no writer.

use std::collections::HashMap;

use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

pub(super) const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// A compiled writer for one message type; `writers[0]` is the type itself, the rest are the
/// message types its fields use (index-linked, so recursive types are fine).
#[derive(Debug)]
pub(super) struct MessageWriter {
    pub(super) fields: Vec<FieldWriter>,
    /// Field number to index in `fields`.
    pub(super) by_number: HashMap<u32, usize>,
}

#[derive(Debug)]
pub(super) struct FieldWriter {
    /// `"name":`, escaped as serde_json would.
    pub(super) key: Box<str>,
    pub(super) kind: ValueKind,
    pub(super) repeated: bool,
    /// Has explicit presence (message, oneof member, `optional`): written only when sent.
    pub(super) presence: bool,
    /// The oneof it belongs to, if any (only one member may be set).
    pub(super) oneof: Option<usize>,
    /// For a map field: the key's kind (`kind` is then the value's).
    pub(super) map_key: Option<ValueKind>,
}

#[derive(Debug)]
pub(super) enum ValueKind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Enum(EnumDescriptor),
    Timestamp,
    /// Index of the message's writer in the same table.
    Message(usize),
}

impl MessageWriter {
    pub(super) fn empty() -> Self {
        Self {
            fields: Vec::new(),
            by_number: HashMap::new(),
        }
    }
}

/// Writers under construction; `None` marks one being built (for recursive types).
#[derive(Default)]
pub(super) struct Table {
    pub(super) writers: Vec<Option<MessageWriter>>,
    pub(super) index: HashMap<String, usize>,
}

impl Table {
    /// The writer index for `message`, or `None` if it needs the general path.
    pub(super) fn add(
        &mut self,
        message: &MessageDescriptor,
        use_proto_names: bool,
    ) -> Option<usize> {
        if let Some(&index) = self.index.get(message.full_name()) {
            return Some(index);
        }
        if message.full_name().starts_with("google.protobuf.")
            || message.full_name() == "google.api.HttpBody"
            || message.is_map_entry()
            || message.extensions().next().is_some()
        {
            return None;
        }
        let index = self.writers.len();
        self.writers.push(None);
        self.index.insert(message.full_name().to_owned(), index);
        let oneofs: Vec<String> = message.oneofs().map(|o| o.full_name().to_owned()).collect();
        let mut fields = Vec::new();
        let mut by_number = HashMap::new();
        for field in message.fields() {
            let (kind, map_key) = match field.kind() {
                Kind::Message(entry) if field.is_map() => {
                    let key = map_key_kind(&entry.map_entry_key_field().kind())?;
                    let value = self.kind(&entry.map_entry_value_field(), use_proto_names)?;
                    (value, Some(key))
                }
                _ => (self.kind(&field, use_proto_names)?, None),
            };
            let name = if use_proto_names {
                field.name()
            } else {
                field.json_name()
            };
            let key = format!("{}:", serde_json::to_string(name).ok()?);
            by_number.insert(field.number(), fields.len());
            fields.push(FieldWriter {
                key: key.into(),
                kind,
                repeated: field.cardinality() == Cardinality::Repeated,
                presence: field.supports_presence(),
                oneof: field
                    .containing_oneof()
                    .and_then(|o| oneofs.iter().position(|name| name == o.full_name())),
                map_key,
            });
        }
        *self.writers.get_mut(index)? = Some(MessageWriter { fields, by_number });
        Some(index)
    }

    fn kind(&mut self, field: &FieldDescriptor, use_proto_names: bool) -> Option<ValueKind> {
        if field.is_group() {
            return None;
        }
        Some(match field.kind() {
            Kind::Double => ValueKind::Double,
            Kind::Float => ValueKind::Float,
            Kind::Bytes => ValueKind::Bytes,
            Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => return None,
            Kind::Enum(e) => ValueKind::Enum(e),
            Kind::Message(m) if m.full_name() == TIMESTAMP => ValueKind::Timestamp,
            Kind::Message(m) => ValueKind::Message(self.add(&m, use_proto_names)?),
            key_kind => map_key_kind(&key_kind)?,
        })
    }
}

/// The kinds a map key may have, by the protobuf spec (written as JSON strings): the integers,
/// bool and string.
pub(super) fn map_key_kind(kind: &Kind) -> Option<ValueKind> {
    Some(match kind {
        Kind::Int32 => ValueKind::Int32,
        Kind::Int64 => ValueKind::Int64,
        Kind::Uint32 => ValueKind::Uint32,
        Kind::Uint64 => ValueKind::Uint64,
        Kind::Sint32 => ValueKind::Sint32,
        Kind::Sint64 => ValueKind::Sint64,
        Kind::Fixed32 => ValueKind::Fixed32,
        Kind::Fixed64 => ValueKind::Fixed64,
        Kind::Sfixed32 => ValueKind::Sfixed32,
        Kind::Sfixed64 => ValueKind::Sfixed64,
        Kind::Bool => ValueKind::Bool,
        Kind::String => ValueKind::String,
        _ => return None,
    })
}
