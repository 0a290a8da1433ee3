//! Test-only descriptor pool built from in-memory `.proto` text with protox, covering nested
//! messages, enums, repeated fields, maps, oneofs, wrappers, Timestamp, Duration, FieldMask,
//! bytes, 64-bit integers and `google.api.HttpBody`.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, MessageDescriptor};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

const HTTP_BODY_PROTO: &str = r#"
syntax = "proto3";
package google.api;
import "google/protobuf/any.proto";
message HttpBody {
  string content_type = 1;
  bytes data = 2;
  repeated google.protobuf.Any extensions = 3;
}
"#;

const TEST_PROTO: &str = r#"
syntax = "proto3";
package test.v1;
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/api/httpbody.proto";

enum Color {
  COLOR_UNSPECIFIED = 0;
  RED = 1;
  GREEN = 2;
}

message Address {
  string city = 1;
  string zip_code = 2;
}

message Author {
  string display_name = 1;
  int32 age = 2;
  Address address = 3;
}

message Book {
  string name = 1;
  string title = 2;
  Author author = 3;
  repeated string tags = 4;
  map<string, int32> ratings = 5;
  google.protobuf.Struct metadata = 6;
  google.protobuf.Timestamp publish_time = 7;
  Color color = 8;
  int64 page_count = 9;
  bytes cover = 10;
  repeated Author editors = 11;
  google.protobuf.StringValue subtitle = 12;
}

message Everything {
  string name = 1;
  int32 i32 = 2;
  int64 i64 = 3;
  uint32 u32 = 4;
  uint64 u64 = 5;
  sint32 s32 = 6;
  fixed64 fx64 = 7;
  double dbl = 8;
  float flt = 9;
  bool flag = 10;
  bytes data = 11;
  Color color = 12;
  repeated string tags = 13;
  repeated Color colors = 14;
  repeated int64 numbers = 15;
  map<string, string> labels = 16;
  Book book = 17;
  repeated Book books = 18;
  google.protobuf.StringValue nickname = 19;
  google.protobuf.Int64Value big = 20;
  google.protobuf.BoolValue maybe = 21;
  google.protobuf.Timestamp when = 22;
  google.protobuf.Duration timeout = 23;
  google.protobuf.FieldMask update_mask = 24;
  oneof choice {
    string choice_text = 25;
    int32 choice_number = 26;
    Author choice_author = 27;
  }
  google.api.HttpBody upload = 28;
  google.protobuf.Struct extra = 29;
  google.protobuf.Any any = 30;
  google.protobuf.DoubleValue ratio = 31;
  google.protobuf.BytesValue blob = 32;
  optional int32 opt = 33;
  repeated google.protobuf.Timestamp times = 34;
}

// Only plain fields: replies of this shape take the direct wire-to-JSON writer.
message Plain {
  string name = 1;
  int32 i32 = 2;
  int64 i64 = 3;
  uint32 u32 = 4;
  uint64 u64 = 5;
  sint32 s32 = 6;
  sint64 s64 = 7;
  fixed32 fx32 = 8;
  fixed64 fx64 = 9;
  sfixed32 sfx32 = 10;
  sfixed64 sfx64 = 11;
  double dbl = 12;
  float flt = 13;
  bool flag = 14;
  bytes data = 15;
  Color color = 16;
  repeated string tags = 17;
  repeated Color colors = 18;
  repeated int64 numbers = 19;
  repeated double ratios = 20;
  Address address = 21;
  repeated Address addresses = 22;
  google.protobuf.Timestamp when = 23;
  repeated google.protobuf.Timestamp times = 24;
  oneof choice {
    string choice_text = 25;
    int32 choice_number = 26;
    Address choice_address = 27;
  }
  optional int32 opt = 28;
  Plain child = 29;
  repeated sint32 deltas = 30 [packed = false];
  string renamed = 31 [json_name = "customName"];
  repeated bool flags = 32;
  repeated fixed32 fixeds = 33;
  repeated float floats = 34;
}

// Maps of every key kind, written directly too (entries in wire order).
message WithMaps {
  map<string, int32> counts = 1;
  map<int64, Address> places = 2;
  map<bool, Color> switches = 3;
  map<sint32, string> names = 4;
  map<fixed64, google.protobuf.Timestamp> moments = 5;
  map<uint32, bytes> blobs = 6;
  map<string, double> ratios = 7;
  string label = 8;
}

message UpdateBookRequest {
  Book book = 1;
  google.protobuf.FieldMask update_mask = 2;
  string request_id = 3;
}

message TwoMasksRequest {
  Book book = 1;
  google.protobuf.FieldMask mask_a = 2;
  google.protobuf.FieldMask mask_b = 3;
}
"#;

struct InMemory;

impl FileResolver for InMemory {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match name {
            "google/api/httpbody.proto" => File::from_source(name, HTTP_BODY_PROTO),
            "test/v1/test.proto" => File::from_source(name, TEST_PROTO),
            _ => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The shared test pool (compiled once per test binary).
pub(crate) fn pool() -> DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut resolver = ChainFileResolver::new();
        resolver.add(InMemory);
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler
            .open_file("test/v1/test.proto")
            .expect("test proto compiles");
        compiler.descriptor_pool()
    })
    .clone()
}

pub(crate) fn message(name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("test message {name}"))
}

pub(crate) fn everything() -> MessageDescriptor {
    message("test.v1.Everything")
}
