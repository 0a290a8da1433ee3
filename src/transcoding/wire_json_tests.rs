//! The direct writer must write exactly what the general path writes, for every value and
//! option, and leave to the general path whatever it does not handle.

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, SerializeOptions, Value};

use super::WireJson;
use super::response::render_response;
use super::test_support::message;

const PLAIN: &str = "test.v1.Plain";

/// A small deterministic generator (xorshift), so failures reproduce.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn f64(&mut self) -> f64 {
        match self.below(8) {
            0 => 0.0,
            1 => -0.0,
            2 => f64::NAN,
            3 => f64::INFINITY,
            4 => f64::NEG_INFINITY,
            5 => f64::from_bits(self.next()),
            6 => (self.below(2000) as f64 - 1000.0) / 8.0,
            _ => 1e300 * (self.below(3) as f64),
        }
    }

    fn string(&mut self) -> String {
        const PIECES: [&str; 9] = ["", "a", "Ada", "é", "\"", "\\", "\n", "\u{1}", "日本"];
        (0..self.below(4))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn int(&mut self) -> u64 {
        match self.below(4) {
            0 => 0,
            1 => self.below(300),
            2 => self.next(),
            _ => u64::MAX - self.below(300),
        }
    }
}

fn scalar(random: &mut Random, field: &prost_reflect::FieldDescriptor) -> Value {
    use prost_reflect::Kind;
    match field.kind() {
        Kind::Double => Value::F64(random.f64()),
        Kind::Float => Value::F32(random.f64() as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(random.int() as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(random.int() as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(random.int() as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(random.int()),
        Kind::Bool => Value::Bool(random.chance(50)),
        Kind::String => Value::String(random.string()),
        Kind::Bytes => Value::Bytes(Bytes::from(random.string().into_bytes())),
        // Unknown numbers too: they are written as numbers.
        Kind::Enum(_) => Value::EnumNumber(random.below(5) as i32 - 1),
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            let mut ts = DynamicMessage::new(m);
            ts.set_field_by_name("seconds", Value::I64(random.below(253_402_300_799) as i64));
            ts.set_field_by_name("nanos", Value::I32(random.below(1_000_000_000) as i32));
            Value::Message(ts)
        }
        Kind::Message(m) => Value::Message(generate(random, &m, 0)),
    }
}

fn map_key(random: &mut Random, field: &prost_reflect::FieldDescriptor) -> MapKey {
    match scalar(random, field) {
        Value::Bool(v) => MapKey::Bool(v),
        Value::I32(v) => MapKey::I32(v),
        Value::I64(v) => MapKey::I64(v),
        Value::U32(v) => MapKey::U32(v),
        Value::U64(v) => MapKey::U64(v),
        Value::String(v) => MapKey::String(v),
        other => panic!("not a map key: {other:?}"),
    }
}

fn generate(random: &mut Random, descriptor: &MessageDescriptor, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if !random.chance(60) || (field.name() == "child" && depth > 2) {
            continue;
        }
        let value = if field.is_map() {
            let prost_reflect::Kind::Message(entry) = field.kind() else {
                unreachable!("a map field's kind is its entry message")
            };
            let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            Value::Map(
                (0..random.below(4))
                    .map(|_| (map_key(random, &key), scalar(random, &value)))
                    .collect(),
            )
        } else if field.is_list() {
            Value::List(
                (0..random.below(4))
                    .map(|_| scalar(random, &field))
                    .collect(),
            )
        } else if let prost_reflect::Kind::Message(m) = field.kind()
            && m.full_name() != "google.protobuf.Timestamp"
        {
            Value::Message(generate(random, &m, depth + 1))
        } else {
            scalar(random, &field)
        };
        message.set_field(&field, value);
    }
    message
}

fn general(descriptor: &MessageDescriptor, bytes: &[u8], emit: bool, proto_names: bool) -> String {
    let options = SerializeOptions::new()
        .skip_default_fields(!emit)
        .use_proto_field_name(proto_names)
        .stringify_64_bit_integers(true);
    let rendered = render_response(descriptor, None, bytes, &options, proto_names)
        .expect("the general path renders it");
    String::from_utf8(rendered.body.to_vec()).expect("UTF-8 JSON")
}

fn direct(
    descriptor: &MessageDescriptor,
    bytes: &[u8],
    emit: bool,
    proto_names: bool,
) -> Option<String> {
    let writers = WireJson::compile([descriptor], proto_names);
    writers
        .write(descriptor, bytes, emit)
        .map(|json| String::from_utf8(json).expect("UTF-8 JSON"))
}

fn assert_same(descriptor: &MessageDescriptor, bytes: &[u8]) {
    for emit in [false, true] {
        for proto_names in [false, true] {
            let direct = direct(descriptor, bytes, emit, proto_names)
                .unwrap_or_else(|| panic!("the direct writer declined {bytes:?}"));
            assert_eq!(
                direct,
                general(descriptor, bytes, emit, proto_names),
                "emit_unpopulated {emit}, use_proto_names {proto_names}, bytes {bytes:?}"
            );
        }
    }
}

#[test]
fn random_plain_messages_render_exactly_like_the_general_path() {
    let descriptor = message(PLAIN);
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    for _ in 0..500 {
        let generated = generate(&mut random, &descriptor, 0);
        assert_same(&descriptor, &generated.encode_to_vec());
    }
}

/// Map entries come out in wire order, the general path's in hash order: same JSON value.
fn assert_same_value(descriptor: &MessageDescriptor, bytes: &[u8]) {
    for emit in [false, true] {
        for proto_names in [false, true] {
            let direct = direct(descriptor, bytes, emit, proto_names)
                .unwrap_or_else(|| panic!("the direct writer declined {bytes:?}"));
            let general = general(descriptor, bytes, emit, proto_names);
            let parse = |text: &str| -> serde_json::Value {
                serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
            };
            assert_eq!(
                parse(&direct),
                parse(&general),
                "emit_unpopulated {emit}, use_proto_names {proto_names}, bytes {bytes:?}\n\
                 direct  {direct}\ngeneral {general}"
            );
        }
    }
}

#[test]
fn random_maps_render_like_the_general_path() {
    let descriptor = message("test.v1.WithMaps");
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    for _ in 0..500 {
        let generated = generate(&mut random, &descriptor, 0);
        assert_same_value(&descriptor, &generated.encode_to_vec());
    }
    // Entries with the key or the value missing on the wire: their defaults.
    let cases: [&[u8]; 4] = [
        &[0x0a, 0x02, 0x10, 0x05],       // counts: value 5, no key → ""
        &[0x0a, 0x03, 0x0a, 0x01, b'k'], // counts: key "k", no value → 0
        &[0x12, 0x02, 0x08, 0x07],       // places: key 7, no value → an empty Address
        &[0x2a, 0x00],                   // moments: an empty entry → key "0", the epoch
    ];
    for bytes in cases {
        assert_same_value(&descriptor, bytes);
    }
}

#[test]
fn a_map_key_sent_twice_is_declined() {
    let descriptor = message("test.v1.WithMaps");
    let twice = [
        0x0a, 0x05, 0x0a, 0x01, b'k', 0x10, 0x01, 0x0a, 0x05, 0x0a, 0x01, b'k', 0x10, 0x02,
    ];
    assert_eq!(direct(&descriptor, &twice, true, false), None);
    // The same bool key in two encodings (1 and 2 both mean true).
    let bools = [0x1a, 0x02, 0x08, 0x01, 0x1a, 0x02, 0x08, 0x02];
    assert_eq!(direct(&descriptor, &bools, true, false), None);
}

#[test]
fn the_empty_message_and_defaults() {
    let descriptor = message(PLAIN);
    assert_same(&descriptor, &[]);
    // Defaults sent explicitly on the wire (an encoder may): still unset without presence.
    assert_same(&descriptor, &[0x10, 0x00, 0x0a, 0x00, 0x70, 0x00]);
}

#[test]
fn wire_variants_render_like_the_general_path() {
    let descriptor = message(PLAIN);
    let cases: [&[u8]; 6] = [
        // A singular scalar sent twice: the last one counts.
        &[0x10, 0x01, 0x10, 0x02],
        // Repeated int64 unpacked, then packed; both add up.
        &[
            0x98, 0x01, 0x05, 0x98, 0x01, 0x06, 0x9a, 0x01, 0x02, 0x07, 0x08,
        ],
        // Packed sint32 on a field declared unpacked (parsers accept both).
        &[0xf2, 0x01, 0x02, 0x03, 0x04],
        // Unknown fields of every wire type are skipped.
        &[
            0xc8, 0x3e, 0x01, 0xd1, 0x3e, 1, 2, 3, 4, 5, 6, 7, 8, 0xda, 0x3e, 0x01, 0x00, 0xdd,
            0x3e, 1, 2, 3, 4,
        ],
        // A oneof member sent twice.
        &[0xd0, 0x01, 0x01, 0xd0, 0x01, 0x02],
        // Ten-byte varint for a negative int32.
        &[
            0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
    ];
    for bytes in cases {
        assert_same(&descriptor, bytes);
    }
}

#[test]
fn what_only_the_general_path_handles_is_declined() {
    let descriptor = message(PLAIN);
    let declined: [(&str, &[u8]); 7] = [
        (
            "a message field sent twice (merged)",
            &[0xaa, 0x01, 0x00, 0xaa, 0x01, 0x00],
        ),
        (
            "two members of one oneof",
            &[0xca, 0x01, 0x00, 0xd0, 0x01, 0x01],
        ),
        ("truncated", &[0x0a, 0x05, b'a']),
        ("invalid UTF-8", &[0x0a, 0x01, 0xff]),
        ("a group", &[0x0b, 0x0c]),
        ("wrong wire type", &[0x0d, 0, 0, 0, 0]),
        (
            "timestamp out of range",
            &[
                0xba, 0x01, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x10,
                0x00,
            ],
        ),
    ];
    for (what, bytes) in declined {
        assert_eq!(direct(&descriptor, bytes, true, false), None, "{what}");
    }
    for name in ["test.v1.Everything", "test.v1.Book", "google.api.HttpBody"] {
        let descriptor = message(name);
        assert_eq!(
            direct(&descriptor, &[], true, false),
            None,
            "{name} has no writer"
        );
    }
    // A type that is fine on its own still gets one.
    let descriptor = message("test.v1.Author");
    assert!(direct(&descriptor, &[], true, false).is_some());
}

#[test]
fn a_key_wider_than_32_bits_is_declined() {
    let descriptor = message(PLAIN);
    // Field number 2^31 + 1 (a u32, but its key is not): no protobuf decoder accepts it.
    let mut bytes = Vec::new();
    prost::encoding::encode_varint(((1u64 << 31) + 1) << 3, &mut bytes);
    bytes.push(0x00);
    let options = SerializeOptions::new();
    assert!(render_response(&descriptor, None, &bytes, &options, false).is_err());
    assert_eq!(direct(&descriptor, &bytes, true, false), None);
}

#[test]
fn a_string_sent_twice_is_declined_when_an_earlier_one_is_not_utf8() {
    let descriptor = message(PLAIN);
    let cases: [&[u8]; 2] = [
        // name: "\xff", then "a".
        &[0x0a, 0x01, 0xff, 0x0a, 0x01, b'a'],
        // choice_text (a oneof member): "\xff", then "b".
        &[0xca, 0x01, 0x01, 0xff, 0xca, 0x01, 0x01, b'b'],
    ];
    let options = SerializeOptions::new();
    for bytes in cases {
        assert!(render_response(&descriptor, None, bytes, &options, false).is_err());
        assert_eq!(direct(&descriptor, bytes, true, false), None, "{bytes:?}");
    }
}

#[test]
fn a_map_entry_with_its_key_or_value_sent_twice_is_declined() {
    let descriptor = message("test.v1.WithMaps");
    // counts (`map<string, int32>`, field 1): the first key is not UTF-8, the second is; the
    // general path refuses the entry, so the direct writer must not write the second.
    let key_twice = [0x0a, 0x08, 0x0a, 0x01, 0xff, 0x0a, 0x01, b'k', 0x10, 0x01];
    let options = SerializeOptions::new();
    assert!(render_response(&descriptor, None, &key_twice, &options, false).is_err());
    assert_eq!(direct(&descriptor, &key_twice, true, false), None);
    // A value sent twice: valid protobuf (the last wins), left to the general path.
    let value_twice = [0x0a, 0x07, 0x0a, 0x01, b'k', 0x10, 0x01, 0x10, 0x02];
    assert_eq!(direct(&descriptor, &value_twice, true, false), None);
    assert!(render_response(&descriptor, None, &value_twice, &options, false).is_ok());
}

/// `counts` entries (`map<string, int32>`, field 1) for keys `k0`, `k1`, ...
fn count_entries(keys: impl Iterator<Item = usize>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in keys {
        let key = format!("k{i}");
        let entry_len = 2 + key.len() + 2;
        bytes.extend_from_slice(&[0x0a, entry_len as u8, 0x0a, key.len() as u8]);
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(&[0x10, 0x01]);
    }
    bytes
}

#[test]
fn large_maps_are_written_and_a_late_duplicate_key_still_declined() {
    let descriptor = message("test.v1.WithMaps");
    let bytes = count_entries(0..50_000);
    let json = direct(&descriptor, &bytes, false, false).expect("a large map is written");
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value["counts"].as_object().map(|m| m.len()), Some(50_000));
    let twice = count_entries((0..50_000).chain([49_999]));
    assert_eq!(direct(&descriptor, &twice, false, false), None);
}

#[test]
fn many_occurrences_of_one_oneof_member_are_the_last_one() {
    let descriptor = message(PLAIN);
    // choice_number (field 26, varint) sent 50,000 times: the last value counts.
    let mut bytes = Vec::new();
    for i in 0..50_000u32 {
        bytes.extend_from_slice(&[0xd0, 0x01, (i % 100) as u8]);
    }
    assert_same(&descriptor, &bytes);
    // A different member after all of them still makes it the general path's case.
    bytes.extend_from_slice(&[0xca, 0x01, 0x00]);
    assert_eq!(direct(&descriptor, &bytes, true, false), None);
}
