//! Writing JSON values from wire occurrences, through the same `serde_json` primitives the
//! general path uses: scalars, enums by name, bytes as base64, maps with distinct keys,
//! `Timestamp` as RFC 3339, defaults for unpopulated fields.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use prost_reflect::EnumDescriptor;
use serde::Serializer as _;

use super::compile::{FieldWriter, MessageWriter, ValueKind};
use super::wire::{
    Occurrence, Raw, collect_repeated, field_value, scan, varint, zigzag32, zigzag64,
};

/// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the JSON mapping's range.
pub(super) const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> =
    -62_135_596_800..=253_402_300_799;

/// Replies nest at most this deep on the fast path (the general path has its own limit).
pub(super) const MAX_DEPTH: usize = 32;

pub(super) fn write_message(
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

pub(super) fn separator(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

/// Whether a field without presence holds its default (then it is written only when
/// unpopulated fields are emitted, as the default).
pub(super) fn is_default(field: &FieldWriter, value: Raw<'_>) -> Option<bool> {
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

pub(super) fn write_default(kind: &ValueKind, out: &mut Vec<u8>) -> Option<()> {
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

pub(super) fn write_value(
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
            let written = BASE64_STANDARD
                .encode_slice(b, out.get_mut(start..)?)
                .ok()?;
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
pub(super) fn write_map(
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
            // A key or value sent twice within one entry (the later wins, and the earlier
            // must still be valid; a message value merges) is left to the general path.
            match field_value(&mut bytes)? {
                (1, raw) if key.is_none() => key = Some(raw),
                (2, raw) if value.is_none() => value = Some(raw),
                (1 | 2, _) => return None,
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
pub(super) fn distinct_keys(out: &[u8], ranges: &[(usize, usize)]) -> bool {
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
pub(super) fn write_map_key(kind: &ValueKind, key: Raw<'_>, out: &mut Vec<u8>) -> Option<()> {
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

pub(super) fn write_enum(
    descriptor: &EnumDescriptor,
    number: i32,
    out: &mut Vec<u8>,
) -> Option<()> {
    let mut json = serde_json::Serializer::new(out);
    match descriptor.get_value(number) {
        Some(value) => json.serialize_str(value.name()).ok(),
        None => json.serialize_i32(number).ok(),
    }
}

pub(super) fn write_f64(value: f64, out: &mut Vec<u8>) {
    if value.is_finite() {
        let _ = serde_json::Serializer::new(out).serialize_f64(value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

pub(super) fn write_f32(value: f32, out: &mut Vec<u8>) {
    if value.is_finite() {
        let _ = serde_json::Serializer::new(out).serialize_f32(value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

pub(super) fn non_finite(nan: bool, positive: bool) -> &'static [u8] {
    match (nan, positive) {
        (true, _) => b"\"NaN\"",
        (false, true) => b"\"Infinity\"",
        (false, false) => b"\"-Infinity\"",
    }
}

pub(super) fn quoted(value: impl itoa::Integer, out: &mut Vec<u8>) {
    let mut buffer = itoa::Buffer::new();
    out.push(b'"');
    out.extend_from_slice(buffer.format(value).as_bytes());
    out.push(b'"');
}

/// A `Timestamp` as RFC 3339, as `prost_types` formats it for the general path.
pub(super) fn write_timestamp(mut bytes: &[u8], out: &mut Vec<u8>) -> Option<()> {
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
pub(super) fn rfc3339(seconds: i64, nanos: u32, out: &mut Vec<u8>) {
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
pub(super) fn digits(value: u32, width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + width, b'0');
    let mut rest = value;
    for slot in out.iter_mut().skip(start).rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
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
