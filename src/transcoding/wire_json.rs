//! Protobuf wire bytes straight to JSON, for reply types made of plain fields.
//!
//! The general path decodes a reply into a `DynamicMessage` (a map of boxed values) and then
//! serializes that; on a small reply that is most of the gateway's transcoding time. For a
//! message type whose fields are all scalars, strings, bytes, enums, `Timestamp`s, maps and
//! messages of such types (repeated or not), a writer compiled once per type reads the wire format and
//! writes the JSON directly, with the same output as the general path (`prost-reflect`'s
//! mapping, through the same `serde_json` primitives; map entries in wire order, where the
//! general path's order is a hash map's). Anything else — `Any`, `Struct`, wrappers, other
//! well-known types, extensions, groups — keeps the general path, and so does any reply the
//! writer does not fully understand (malformed bytes, a message field sent twice, two members
//! of one oneof, a map key sent twice): it answers `None` and the general path decides, errors
//! included.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde::Serializer as _;

const TIMESTAMP: &str = "google.protobuf.Timestamp";
/// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the JSON mapping's range.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// Writers for every message type that can have one, by full name.
#[derive(Debug, Default)]
pub struct WireJson {
    writers: HashMap<String, Arc<[MessageWriter]>>,
}

/// A compiled writer for one message type; `writers[0]` is the type itself, the rest are the
/// message types its fields use (index-linked, so recursive types are fine).
#[derive(Debug)]
struct MessageWriter {
    fields: Vec<FieldWriter>,
    /// Field number to index in `fields`.
    by_number: HashMap<u32, usize>,
}

#[derive(Debug)]
struct FieldWriter {
    /// `"name":`, escaped as serde_json would.
    key: Box<str>,
    kind: ValueKind,
    repeated: bool,
    /// Has explicit presence (message, oneof member, `optional`): written only when sent.
    presence: bool,
    /// The oneof it belongs to, if any (only one member may be set).
    oneof: Option<usize>,
    /// For a map field: the key's kind (`kind` is then the value's).
    map_key: Option<ValueKind>,
}

#[derive(Debug)]
enum ValueKind {
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

impl WireJson {
    /// Compiles writers for `messages` (the reply types of the routes) where possible.
    pub fn compile<'a>(
        messages: impl IntoIterator<Item = &'a MessageDescriptor>,
        use_proto_names: bool,
    ) -> Self {
        let mut writers = HashMap::new();
        for message in messages {
            if writers.contains_key(message.full_name()) {
                continue;
            }
            let mut table = Table::default();
            if table.add(message, use_proto_names).is_some() {
                let compiled: Vec<MessageWriter> = table
                    .writers
                    .into_iter()
                    .map(|w| w.unwrap_or_else(MessageWriter::empty))
                    .collect();
                writers.insert(message.full_name().to_owned(), compiled.into());
            }
        }
        Self { writers }
    }

    /// The JSON of `bytes` as a `message`, or `None` when the general path must decide.
    /// `emit_unpopulated`: write fields without presence even at their default value.
    pub fn write(
        &self,
        message: &MessageDescriptor,
        bytes: &[u8],
        emit_unpopulated: bool,
    ) -> Option<Vec<u8>> {
        let table = self.writers.get(message.full_name())?;
        let mut out = Vec::with_capacity(bytes.len() * 2 + 32);
        write_message(table, 0, bytes, emit_unpopulated, &mut out, 0)?;
        Some(out)
    }
}

impl MessageWriter {
    fn empty() -> Self {
        Self {
            fields: Vec::new(),
            by_number: HashMap::new(),
        }
    }
}

/// Writers under construction; `None` marks one being built (for recursive types).
#[derive(Default)]
struct Table {
    writers: Vec<Option<MessageWriter>>,
    index: HashMap<String, usize>,
}

impl Table {
    /// The writer index for `message`, or `None` if it needs the general path.
    fn add(&mut self, message: &MessageDescriptor, use_proto_names: bool) -> Option<usize> {
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
        self.writers[index] = Some(MessageWriter { fields, by_number });
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
fn map_key_kind(kind: &Kind) -> Option<ValueKind> {
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

/// Replies nest at most this deep on the fast path (the general path has its own limit).
const MAX_DEPTH: usize = 32;

/// One field occurrence on the wire.
#[derive(Clone, Copy)]
struct Occurrence<'a> {
    field: usize,
    value: Raw<'a>,
}

#[derive(Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn write_message(
    table: &[MessageWriter],
    index: usize,
    bytes: &[u8],
    emit_unpopulated: bool,
    out: &mut Vec<u8>,
    depth: usize,
) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let writer = table.get(index)?;
    let mut occurrences = scan(writer, bytes)?;
    // Grouped by field, wire order kept within each: one pass writes them all.
    occurrences.sort_by_key(|o| o.field);
    let mut rest = occurrences.as_slice();
    out.push(b'{');
    let mut first = true;
    for (position, field) in writer.fields.iter().enumerate() {
        let run = rest.iter().take_while(|o| o.field == position).count();
        let (this_field, later) = rest.split_at(run);
        rest = later;
        let mut values = this_field.iter();
        if let Some(key_kind) = &field.map_key {
            if this_field.is_empty() && !emit_unpopulated {
                continue;
            }
            separator(out, &mut first);
            out.extend_from_slice(field.key.as_bytes());
            write_map(
                table,
                key_kind,
                &field.kind,
                this_field,
                emit_unpopulated,
                out,
                depth,
            )?;
            continue;
        }
        if field.repeated {
            let mut items = Vec::new();
            for occurrence in values {
                collect_repeated(field, occurrence.value, &mut items)?;
            }
            if items.is_empty() && !emit_unpopulated {
                continue;
            }
            separator(out, &mut first);
            out.extend_from_slice(field.key.as_bytes());
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(table, &field.kind, *item, emit_unpopulated, out, depth)?;
            }
            out.push(b']');
            continue;
        }
        let last = values.next_back().map(|o| o.value);
        if field.presence {
            let Some(value) = last else { continue };
            separator(out, &mut first);
            out.extend_from_slice(field.key.as_bytes());
            write_value(table, &field.kind, value, emit_unpopulated, out, depth)?;
            continue;
        }
        // Without presence: a value equal to the default counts as unset (-0.0 included),
        // but when unpopulated fields are written, whatever was sent is written as sent.
        let value = match last {
            Some(value) if emit_unpopulated || !is_default(field, value)? => Some(value),
            _ if emit_unpopulated => None,
            _ => continue,
        };
        separator(out, &mut first);
        out.extend_from_slice(field.key.as_bytes());
        match value {
            Some(value) => write_value(table, &field.kind, value, emit_unpopulated, out, depth)?,
            None => write_default(&field.kind, out)?,
        }
    }
    out.push(b'}');
    Some(())
}

fn separator(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

/// Every field occurrence in `bytes`, checked against its field's wire type; `None` for
/// anything the fast path leaves to the general one.
fn scan<'a>(writer: &MessageWriter, mut bytes: &'a [u8]) -> Option<Vec<Occurrence<'a>>> {
    let mut occurrences = Vec::with_capacity(writer.fields.len());
    // What was seen so far, kept so each occurrence is checked in constant time: a reply with
    // many occurrences costs time linear in their number.
    let mut singular_messages = IndexSet::default();
    let mut oneof_members: Vec<(usize, usize)> = Vec::new();
    while !bytes.is_empty() {
        let (number, value) = field_value(&mut bytes)?;
        let Some(&field) = writer.by_number.get(&number) else {
            continue; // unknown fields are not part of the JSON
        };
        let writer_field = writer.fields.get(field)?;
        if !wire_type_fits(writer_field, value) {
            return None;
        }
        if let ValueKind::Message(_) | ValueKind::Timestamp = writer_field.kind
            && !writer_field.repeated
            && !singular_messages.insert(field)
        {
            return None; // a message sent twice is merged: the general path does that
        }
        if let Some(oneof) = writer_field.oneof {
            match oneof_members.iter().find(|(o, _)| *o == oneof) {
                // A later member clears an earlier one: leave it to the general path.
                Some(&(_, member)) if member != field => return None,
                Some(_) => {}
                None => oneof_members.push((oneof, field)),
            }
        }
        occurrences.push(Occurrence { field, value });
    }
    Some(occurrences)
}

/// A set of small indices: one word inline, more only for messages of over 64 fields.
#[derive(Default)]
struct IndexSet {
    low: u64,
    high: Vec<u64>,
}

impl IndexSet {
    /// Adds `index`; false if it was there already.
    fn insert(&mut self, index: usize) -> bool {
        let bit = 1u64 << (index % 64);
        let word = match index / 64 {
            0 => &mut self.low,
            n => {
                if self.high.len() < n {
                    self.high.resize(n, 0);
                }
                match self.high.get_mut(n - 1) {
                    Some(word) => word,
                    None => return false,
                }
            }
        };
        let fresh = *word & bit == 0;
        *word |= bit;
        fresh
    }
}

/// The next field's number (never 0) and value; `None` for groups and malformed bytes.
fn field_value<'a>(bytes: &mut &'a [u8]) -> Option<(u32, Raw<'a>)> {
    let key = varint(bytes)?;
    let number = u32::try_from(key >> 3).ok().filter(|&n| n != 0)?;
    let value = match key & 7 {
        0 => Raw::Varint(varint(bytes)?),
        1 => Raw::Fixed64(u64::from_le_bytes(take(bytes, 8)?.try_into().ok()?)),
        2 => {
            let len = usize::try_from(varint(bytes)?).ok()?;
            Raw::Bytes(take(bytes, len)?)
        }
        5 => Raw::Fixed32(u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?)),
        _ => return None,
    };
    Some((number, value))
}

fn wire_type_fits(field: &FieldWriter, value: Raw<'_>) -> bool {
    use ValueKind as K;
    if field.map_key.is_some() {
        return matches!(value, Raw::Bytes(_));
    }
    match (&field.kind, value) {
        (K::String | K::Bytes | K::Message(_) | K::Timestamp, Raw::Bytes(_)) => true,
        (_, Raw::Bytes(_)) => field.repeated, // packed
        (K::Int32 | K::Int64 | K::Uint32 | K::Uint64, Raw::Varint(_)) => true,
        (K::Sint32 | K::Sint64 | K::Bool | K::Enum(_), Raw::Varint(_)) => true,
        (K::Fixed64 | K::Sfixed64 | K::Double, Raw::Fixed64(_)) => true,
        (K::Fixed32 | K::Sfixed32 | K::Float, Raw::Fixed32(_)) => true,
        _ => false,
    }
}

/// Adds a repeated field's occurrence: one element, or a packed run of them.
fn collect_repeated<'a>(
    field: &FieldWriter,
    value: Raw<'a>,
    items: &mut Vec<Raw<'a>>,
) -> Option<()> {
    use ValueKind as K;
    let Raw::Bytes(mut packed) = value else {
        items.push(value);
        return Some(());
    };
    if matches!(
        field.kind,
        K::String | K::Bytes | K::Message(_) | K::Timestamp
    ) {
        items.push(value);
        return Some(());
    }
    while !packed.is_empty() {
        items.push(match field.kind {
            K::Fixed64 | K::Sfixed64 | K::Double => {
                Raw::Fixed64(u64::from_le_bytes(take(&mut packed, 8)?.try_into().ok()?))
            }
            K::Fixed32 | K::Sfixed32 | K::Float => {
                Raw::Fixed32(u32::from_le_bytes(take(&mut packed, 4)?.try_into().ok()?))
            }
            _ => Raw::Varint(varint(&mut packed)?),
        });
    }
    Some(())
}

/// Whether a field without presence holds its default (then it is written only when
/// unpopulated fields are emitted, as the default).
fn is_default(field: &FieldWriter, value: Raw<'_>) -> Option<bool> {
    use ValueKind as K;
    Some(match (&field.kind, value) {
        (K::Double, Raw::Fixed64(bits)) => f64::from_bits(bits) == 0.0,
        (K::Float, Raw::Fixed32(bits)) => f32::from_bits(bits) == 0.0,
        (K::Fixed64 | K::Sfixed64, Raw::Fixed64(v)) => v == 0,
        (K::Fixed32 | K::Sfixed32, Raw::Fixed32(v)) => v == 0,
        (K::Int32 | K::Sint32 | K::Uint32 | K::Enum(_), Raw::Varint(v)) => v as u32 == 0,
        (K::Bool, Raw::Varint(v)) => v == 0,
        (_, Raw::Varint(v)) => v == 0,
        (K::String | K::Bytes, Raw::Bytes(b)) => b.is_empty(),
        _ => return None,
    })
}

fn write_default(kind: &ValueKind, out: &mut Vec<u8>) -> Option<()> {
    use ValueKind as K;
    let text: &[u8] = match kind {
        K::Double | K::Float => b"0.0",
        K::Int64 | K::Uint64 | K::Sint64 | K::Fixed64 | K::Sfixed64 => b"\"0\"",
        K::Bool => b"false",
        K::String | K::Bytes => b"\"\"",
        K::Enum(e) => {
            return write_enum(e, 0, out);
        }
        K::Int32 | K::Uint32 | K::Sint32 | K::Fixed32 | K::Sfixed32 => b"0",
        K::Timestamp | K::Message(_) => return None,
    };
    out.extend_from_slice(text);
    Some(())
}

fn write_value(
    table: &[MessageWriter],
    kind: &ValueKind,
    value: Raw<'_>,
    emit_unpopulated: bool,
    out: &mut Vec<u8>,
    depth: usize,
) -> Option<()> {
    use ValueKind as K;
    let mut json = serde_json::Serializer::new(&mut *out);
    match (kind, value) {
        (K::Double, Raw::Fixed64(bits)) => write_f64(f64::from_bits(bits), out),
        (K::Float, Raw::Fixed32(bits)) => write_f32(f32::from_bits(bits), out),
        (K::Int32, Raw::Varint(v)) => json.serialize_i32(v as i32).ok()?,
        (K::Uint32, Raw::Varint(v)) => json.serialize_u32(v as u32).ok()?,
        (K::Sint32, Raw::Varint(v)) => json.serialize_i32(zigzag32(v as u32)).ok()?,
        (K::Fixed32, Raw::Fixed32(v)) => json.serialize_u32(v).ok()?,
        (K::Sfixed32, Raw::Fixed32(v)) => json.serialize_i32(v as i32).ok()?,
        (K::Int64, Raw::Varint(v)) => quoted(v as i64, out),
        (K::Uint64, Raw::Varint(v)) => quoted(v, out),
        (K::Sint64, Raw::Varint(v)) => quoted(zigzag64(v), out),
        (K::Fixed64, Raw::Fixed64(v)) => quoted(v, out),
        (K::Sfixed64, Raw::Fixed64(v)) => quoted(v as i64, out),
        (K::Bool, Raw::Varint(v)) => json.serialize_bool(v != 0).ok()?,
        (K::String, Raw::Bytes(b)) => json.serialize_str(std::str::from_utf8(b).ok()?).ok()?,
        (K::Bytes, Raw::Bytes(b)) => {
            out.push(b'"');
            let start = out.len();
            out.resize(start + b.len().div_ceil(3) * 4, 0);
            let written = BASE64_STANDARD.encode_slice(b, &mut out[start..]).ok()?;
            out.truncate(start + written);
            out.push(b'"');
        }
        (K::Enum(e), Raw::Varint(v)) => write_enum(e, v as i32, out)?,
        (K::Timestamp, Raw::Bytes(b)) => write_timestamp(b, out)?,
        (K::Message(index), Raw::Bytes(b)) => {
            write_message(table, *index, b, emit_unpopulated, out, depth + 1)?
        }
        _ => return None,
    }
    Some(())
}

/// A map field's entries as a JSON object. Entries are written in wire order; a key sent
/// twice (the later entry wins) is left to the general path.
fn write_map(
    table: &[MessageWriter],
    key_kind: &ValueKind,
    value_kind: &ValueKind,
    entries: &[Occurrence<'_>],
    emit_unpopulated: bool,
    out: &mut Vec<u8>,
    depth: usize,
) -> Option<()> {
    // Where each written key sits in `out`, to catch a key sent twice (however encoded).
    let mut keys: Vec<(usize, usize)> = Vec::with_capacity(entries.len());
    out.push(b'{');
    for (i, entry) in entries.iter().enumerate() {
        let Raw::Bytes(mut bytes) = entry.value else {
            return None;
        };
        let (mut key, mut value) = (None, None);
        while !bytes.is_empty() {
            match field_value(&mut bytes)? {
                (1, raw) => key = Some(raw),
                (2, raw) => value = Some(raw),
                _ => {}
            }
        }
        let key = key.unwrap_or(match key_kind {
            ValueKind::String => Raw::Bytes(&[]),
            ValueKind::Fixed64 | ValueKind::Sfixed64 => Raw::Fixed64(0),
            ValueKind::Fixed32 | ValueKind::Sfixed32 => Raw::Fixed32(0),
            _ => Raw::Varint(0),
        });
        if i > 0 {
            out.push(b',');
        }
        let start = out.len();
        write_map_key(key_kind, key, out)?;
        keys.push((start, out.len()));
        out.push(b':');
        match value {
            Some(value) => write_value(table, value_kind, value, emit_unpopulated, out, depth)?,
            // A missing value is the value type's default (an empty message included).
            None => match value_kind {
                ValueKind::Message(index) => {
                    write_message(table, *index, &[], emit_unpopulated, out, depth + 1)?
                }
                ValueKind::Timestamp => write_timestamp(&[], out)?,
                kind => write_default(kind, out)?,
            },
        }
    }
    out.push(b'}');
    distinct_keys(out, &keys).then_some(())
}

/// Whether the written keys at `ranges` of `out` are all different (however each was encoded
/// on the wire). Hashed beyond a few entries, so a large map costs linear time.
fn distinct_keys(out: &[u8], ranges: &[(usize, usize)]) -> bool {
    let key = |&(start, end): &(usize, usize)| out.get(start..end);
    if ranges.len() <= 8 {
        return ranges.iter().enumerate().all(|(i, range)| {
            let this = key(range);
            this.is_some() && ranges.iter().take(i).all(|earlier| key(earlier) != this)
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(ranges.len());
    ranges
        .iter()
        .all(|range| key(range).is_some_and(|key| seen.insert(key)))
}

/// A map key as its JSON string: integers in decimal, booleans as `"true"`/`"false"`.
fn write_map_key(kind: &ValueKind, key: Raw<'_>, out: &mut Vec<u8>) -> Option<()> {
    use ValueKind as K;
    match (kind, key) {
        (K::String, Raw::Bytes(b)) => {
            let text = std::str::from_utf8(b).ok()?;
            serde_json::Serializer::new(out).serialize_str(text).ok()?;
        }
        (K::Bool, Raw::Varint(v)) => {
            out.extend_from_slice(if v != 0 { b"\"true\"" } else { b"\"false\"" })
        }
        (K::Int32, Raw::Varint(v)) => quoted(v as i32, out),
        (K::Int64, Raw::Varint(v)) => quoted(v as i64, out),
        (K::Uint32, Raw::Varint(v)) => quoted(v as u32, out),
        (K::Uint64, Raw::Varint(v)) => quoted(v, out),
        (K::Sint32, Raw::Varint(v)) => quoted(zigzag32(v as u32), out),
        (K::Sint64, Raw::Varint(v)) => quoted(zigzag64(v), out),
        (K::Fixed32, Raw::Fixed32(v)) => quoted(v, out),
        (K::Sfixed32, Raw::Fixed32(v)) => quoted(v as i32, out),
        (K::Fixed64, Raw::Fixed64(v)) => quoted(v, out),
        (K::Sfixed64, Raw::Fixed64(v)) => quoted(v as i64, out),
        _ => return None,
    }
    Some(())
}

fn write_enum(descriptor: &EnumDescriptor, number: i32, out: &mut Vec<u8>) -> Option<()> {
    let mut json = serde_json::Serializer::new(out);
    match descriptor.get_value(number) {
        Some(value) => json.serialize_str(value.name()).ok(),
        None => json.serialize_i32(number).ok(),
    }
}

fn write_f64(value: f64, out: &mut Vec<u8>) {
    if value.is_finite() {
        let _ = serde_json::Serializer::new(out).serialize_f64(value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

fn write_f32(value: f32, out: &mut Vec<u8>) {
    if value.is_finite() {
        let _ = serde_json::Serializer::new(out).serialize_f32(value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

fn non_finite(nan: bool, positive: bool) -> &'static [u8] {
    match (nan, positive) {
        (true, _) => b"\"NaN\"",
        (false, true) => b"\"Infinity\"",
        (false, false) => b"\"-Infinity\"",
    }
}

fn quoted(value: impl itoa::Integer, out: &mut Vec<u8>) {
    let mut buffer = itoa::Buffer::new();
    out.push(b'"');
    out.extend_from_slice(buffer.format(value).as_bytes());
    out.push(b'"');
}

/// A `Timestamp` as RFC 3339, as `prost_types` formats it for the general path.
fn write_timestamp(mut bytes: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        match (key >> 3, key & 7) {
            (1, 0) => seconds = varint(&mut bytes)? as i64,
            (2, 0) => nanos = varint(&mut bytes)? as i32,
            _ => return None,
        }
    }
    if !TIMESTAMP_SECONDS.contains(&seconds) || !(0..1_000_000_000).contains(&nanos) {
        return None;
    }
    out.push(b'"');
    rfc3339(seconds, nanos as u32, out);
    out.push(b'"');
    Some(())
}

/// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z` for a time within years 1 to 9999.
fn rfc3339(seconds: i64, nanos: u32, out: &mut Vec<u8>) {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400) as u32;
    // Days to civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (year_of_era + era * 400 + i64::from(month <= 2)) as u32;
    digits(year, 4, out);
    out.push(b'-');
    digits(month, 2, out);
    out.push(b'-');
    digits(day, 2, out);
    out.push(b'T');
    digits(of_day / 3_600, 2, out);
    out.push(b':');
    digits(of_day / 60 % 60, 2, out);
    out.push(b':');
    digits(of_day % 60, 2, out);
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if width > 0 {
        out.push(b'.');
        digits(fraction, width, out);
    }
    out.push(b'Z');
}

/// `value` in exactly `width` decimal digits (it must fit).
fn digits(value: u32, width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + width, b'0');
    let mut rest = value;
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

fn zigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None; // more than 64 bits
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_prost_types() {
        let mut seconds: Vec<i64> = vec![
            *TIMESTAMP_SECONDS.start(),
            *TIMESTAMP_SECONDS.end(),
            0,
            -1,
            951_782_400, // 2000-02-29
            4_107_542_399,
            -2_208_988_800,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let span = (TIMESTAMP_SECONDS.end() - TIMESTAMP_SECONDS.start()) as u64;
            seconds.push(TIMESTAMP_SECONDS.start() + (x % span) as i64);
        }
        for (i, &s) in seconds.iter().enumerate() {
            let nanos = [0, 1_000_000, 123_000, 7, 999_999_999][i % 5];
            let mut ours = Vec::new();
            rfc3339(s, nanos, &mut ours);
            let theirs = prost_types::Timestamp {
                seconds: s,
                nanos: nanos as i32,
            }
            .to_string();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{s} {nanos}");
        }
    }
}
