//! Reading the protobuf wire format for the direct writer: a message's field occurrences,
//! checked against their fields' wire types, and the varint, length and zigzag primitives.
//! Anything unusual (groups, malformed bytes, a singular message sent twice) answers `None`:
//! the general path decides.

use super::compile::{FieldWriter, MessageWriter, ValueKind};

/// One field occurrence on the wire.
#[derive(Clone, Copy)]
pub(super) struct Occurrence<'a> {
    pub(super) field: usize,
    pub(super) value: Raw<'a>,
}

#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// Every field occurrence in `bytes`, checked against its field's wire type; `None` for
/// anything the fast path leaves to the general one.
pub(super) fn scan<'a>(writer: &MessageWriter, mut bytes: &'a [u8]) -> Option<Vec<Occurrence<'a>>> {
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
        // Every string sent is checked, not only the last one (the one written): the general
        // path refuses the reply if any is not UTF-8.
        if let (ValueKind::String, None, Raw::Bytes(text)) =
            (&writer_field.kind, &writer_field.map_key, value)
            && std::str::from_utf8(text).is_err()
        {
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
pub(super) struct IndexSet {
    pub(super) low: u64,
    pub(super) high: Vec<u64>,
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
pub(super) fn field_value<'a>(bytes: &mut &'a [u8]) -> Option<(u32, Raw<'a>)> {
    let key = varint(bytes)?;
    // A key is 32 bits on the wire (prost refuses a larger one), so field numbers end at 2^29.
    let number = u32::try_from(key)
        .ok()
        .map(|key| key >> 3)
        .filter(|&n| n != 0)?;
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

pub(super) fn wire_type_fits(field: &FieldWriter, value: Raw<'_>) -> bool {
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
pub(super) fn collect_repeated<'a>(
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

pub(super) fn zigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

pub(super) fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(super) fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

pub(super) fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None; // more than 64 bits
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *bytes = bytes.get(i + 1..)?;
            return Some(value);
        }
    }
    None
}
