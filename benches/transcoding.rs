//! JSON ⇄ protobuf transcoding cost, through the library API the gateway uses per request.
//!
//! - `json_to_proto`: `build_request` with `body: "*"` on `demo.v1.User` (small, ~100 KiB
//!   through many `tags`), and the GetUser shape (`GET /v1/users/{user_id}`: a path binding, no
//!   body).
//! - `proto_to_json`: `render_response` (the general path: `DynamicMessage` then serde) of
//!   `demo.v1.User` (small, ~100 KiB) and of a ~100 KiB `demo.v1.ListUsersResponse` (nested
//!   messages, enums, Timestamps), and `*_direct`: the wire-to-JSON writer the gateway uses
//!   for these types; `hello_reply_map_*_direct`: a `demo.v1.HelloReply` whose map has 5,000
//!   and 50,000 entries (the writer's cost per entry must not grow with the map).
//!
//! Descriptors come from the demo's embedded descriptor set (`h2gate_demo::DESCRIPTOR_SET`),
//! loaded with `h2gate::descriptors::load` as the gateway does.
//! `cargo bench --bench transcoding` (add `-- --quick` for a short run).

// Test and benchmark code: a failure should panic loudly (the workspace denies these lints
// for library code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use h2gate::config::DescriptorsConfig;
use h2gate::internals::{
    BodyRule, FieldPath, JsonOptions, RequestParts, WireJson, build_request, render_response,
};
use prost::Message;
use prost_reflect::{DescriptorPool, MessageDescriptor};

fn pool() -> DescriptorPool {
    let loaded = h2gate::internals::load_descriptors(
        &DescriptorsConfig::default(),
        &[("demo", h2gate_demo::DESCRIPTOR_SET)],
    )
    .expect("demo descriptors load");
    // The same set decoded directly must agree (it is what the gateway merges in).
    let direct = DescriptorPool::decode(h2gate_demo::DESCRIPTOR_SET).expect("valid set");
    assert!(direct.get_message_by_name("demo.v1.User").is_some());
    loaded
}

fn message(pool: &DescriptorPool, name: &str) -> MessageDescriptor {
    pool.get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} in the demo descriptors"))
}

fn user_json(id: usize, tags: usize) -> String {
    let tags: Vec<String> = (0..tags)
        .map(|t| format!("\"tag-{t:05}-abcdefgh\""))
        .collect();
    format!(
        r#"{{"userId":"{id}","name":"Ada Lovelace","age":36,"email":"ada{id}@example.com","tags":[{}],"role":"ROLE_ADMIN","createdAt":"1843-07-01T12:00:00Z","updatedAt":"2024-05-06T07:08:09.123Z"}}"#,
        tags.join(",")
    )
}

fn bench_json_to_proto(c: &mut Criterion) {
    let pool = pool();
    let json = JsonOptions::default();
    let user = message(&pool, "demo.v1.User");
    let whole = BodyRule::resolve(&user, "*").expect("body *");

    let mut group = c.benchmark_group("json_to_proto");
    for (label, body) in [
        ("user_small", user_json(42, 2)),
        ("user_100KiB", user_json(42, 4700)),
    ] {
        let parts = RequestParts {
            path: &[],
            query: None,
            body: body.as_bytes(),
            content_type: Some("application/json"),
            is_patch: false,
        };
        build_request(&user, &whole, &parts, &json).expect("body decodes");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new(label, body.len()), &parts, |b, parts| {
            b.iter(|| build_request(&user, &whole, black_box(parts), &json).expect("decodes"))
        });
    }

    // GET /v1/users/{user_id}: the per-request build of the GetUser input.
    let get = message(&pool, "demo.v1.GetUserRequest");
    let none = BodyRule::resolve(&get, "").expect("no body");
    let user_id = FieldPath::resolve_path_variable(&get, &["user_id"]).expect("user_id");
    let path = [(&user_id, "42")];
    let parts = RequestParts {
        path: &path,
        query: None,
        body: b"",
        content_type: None,
        is_patch: false,
    };
    build_request(&get, &none, &parts, &json).expect("path binds");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_user_path", |b| {
        b.iter(|| build_request(&get, &none, black_box(&parts), &json).expect("binds"))
    });
    group.finish();
}

fn encode(pool: &DescriptorPool, name: &str, json: &str) -> Vec<u8> {
    let desc = message(pool, name);
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = prost_reflect::DynamicMessage::deserialize(desc, &mut de).expect("valid JSON");
    msg.encode_to_vec()
}

fn bench_proto_to_json(c: &mut Criterion) {
    let pool = pool();
    let json = JsonOptions::default();
    let options = json.serialize_options();
    let user = message(&pool, "demo.v1.User");
    let list = message(&pool, "demo.v1.ListUsersResponse");

    let users: Vec<String> = (0..400).map(|i| user_json(i, 3)).collect();
    let list_json = format!(
        r#"{{"users":[{}],"nextPageToken":"bmV4dC1wYWdl","totalSize":400}}"#,
        users.join(",")
    );
    let cases = [
        (
            "user_small",
            &user,
            encode(&pool, "demo.v1.User", &user_json(42, 2)),
        ),
        (
            "user_100KiB",
            &user,
            encode(&pool, "demo.v1.User", &user_json(42, 4700)),
        ),
        (
            "list_users_100KiB",
            &list,
            encode(&pool, "demo.v1.ListUsersResponse", &list_json),
        ),
    ];

    // The direct writer the gateway uses for these plain types, against the same bytes.
    let writers = WireJson::compile([&user, &list], json.use_proto_names);

    let mut group = c.benchmark_group("proto_to_json");
    for (label, desc, bytes) in &cases {
        let direct = writers
            .write(desc, bytes, json.emit_unpopulated)
            .expect("a direct writer");
        assert_eq!(
            direct,
            render_response(desc, None, bytes, &options, json.use_proto_names)
                .expect("renders")
                .body,
            "both paths write the same JSON"
        );
        group.throughput(Throughput::Bytes(direct.len() as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("{label}_direct"), direct.len()),
            bytes,
            |b, bytes| {
                b.iter(|| {
                    writers
                        .write(desc, black_box(bytes), json.emit_unpopulated)
                        .expect("writes")
                })
            },
        );
        let rendered =
            render_response(desc, None, bytes, &options, json.use_proto_names).expect("renders");
        // Throughput in JSON bytes produced (the protobuf input is a bit smaller).
        group.throughput(Throughput::Bytes(rendered.body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new(*label, rendered.body.len()),
            bytes,
            |b, bytes| {
                b.iter(|| {
                    render_response(desc, None, black_box(bytes), &options, json.use_proto_names)
                        .expect("renders")
                })
            },
        );
    }
    group.finish();
}

fn bench_large_maps(c: &mut Criterion) {
    let pool = pool();
    let json = JsonOptions::default();
    let reply = message(&pool, "demo.v1.HelloReply");
    let writers = WireJson::compile([&reply], json.use_proto_names);
    let mut group = c.benchmark_group("proto_to_json");
    for entries in [5_000, 50_000] {
        let metadata: Vec<String> = (0..entries)
            .map(|i| format!(r#""key-{i:06}":"value-{i}""#))
            .collect();
        let text = format!(
            r#"{{"message":"Hello","metadata":{{{}}}}}"#,
            metadata.join(",")
        );
        let bytes = encode(&pool, "demo.v1.HelloReply", &text);
        let written = writers
            .write(&reply, &bytes, json.emit_unpopulated)
            .expect("a direct writer for the map");
        let parsed: serde_json::Value = serde_json::from_slice(&written).expect("JSON");
        assert_eq!(
            parsed["metadata"].as_object().map(|m| m.len()),
            Some(entries)
        );
        group.throughput(Throughput::Elements(entries as u64));
        group.bench_with_input(
            BenchmarkId::new("hello_reply_map_direct", entries),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    writers
                        .write(&reply, black_box(bytes), json.emit_unpopulated)
                        .expect("writes")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_json_to_proto,
    bench_proto_to_json,
    bench_large_maps
);
criterion_main!(benches);
