//! Happy paths: every UserService route, the Greeter's two bindings, HttpBody in both
//! directions, and the `[json]` output options.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestGateway, encode_query_value};

const SEED_TIME: &str = "2024-01-01T00:00:00Z";

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

fn user_ids(list: &Value) -> Vec<String> {
    list["users"]
        .as_array()
        .unwrap_or_else(|| panic!("users array in {list}"))
        .iter()
        .map(|u| u["userId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn get_user_returns_seeded_fields_in_proto3_json() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client.get("/v1/users/42").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
    let user = reply.json();
    assert_eq!(
        user,
        json!({
            "userId": "42",
            "name": "Ada Lovelace",
            "age": 36,
            "email": "ada@example.com",
            "tags": ["math", "poetry"],
            "role": "ROLE_MEMBER",
            "createdAt": SEED_TIME,
            "updatedAt": SEED_TIME,
            "padding": "",
        })
    );
    // Enum by name; user "1" is the admin.
    let alan = client.get_ok("/v1/users/1").await;
    assert_eq!(alan["role"], "ROLE_ADMIN");
    assert_eq!(alan["name"], "Alan Turing");
    gateway.shutdown().await;
}

#[tokio::test]
async fn create_user_then_get_it() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"name": "Katherine Johnson", "age": 101, "email": "kj@example.com",
                    "tags": ["nasa"], "role": "ROLE_ADMIN"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let created = reply.json();
    let id = created["userId"].as_str().expect("server-picked userId");
    assert!(!id.is_empty());
    assert_eq!(created["name"], "Katherine Johnson");
    assert_eq!(created["age"], 101);
    assert_eq!(created["email"], "kj@example.com");
    assert_eq!(created["tags"], json!(["nasa"]));
    assert_eq!(created["role"], "ROLE_ADMIN");
    let created_at = created["createdAt"].as_str().expect("createdAt timestamp");
    assert!(
        created_at.ends_with('Z') && created_at.contains('T'),
        "RFC 3339 UTC: {created_at}"
    );

    let fetched = client.get_ok(&format!("/v1/users/{id}")).await;
    assert_eq!(fetched, created);

    // A client-chosen id, given with its proto name (input accepts both forms).
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"user_id": "marie", "name": "Marie Curie"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["userId"], "marie");
    assert_eq!(
        client.get_ok("/v1/users/marie").await["name"],
        "Marie Curie"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn default_values_are_emitted() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .json(Method::POST, "/v1/users", &json!({"name": "Minimal"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let user = reply.json();
    assert_eq!(user["age"], 0);
    assert_eq!(user["email"], "");
    assert_eq!(user["tags"], json!([]));
    assert!(user.get("role").is_some(), "role emitted: {user}");
    // The last page's empty token is emitted too.
    let list = client.get_ok("/v1/users?pageSize=100").await;
    assert_eq!(list["nextPageToken"], "");
    gateway.shutdown().await;
}

#[tokio::test]
async fn patch_with_partial_json_changes_only_those_fields() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let before = client.get_ok("/v1/users/42").await;

    // Only `age` is given: the update_mask is derived as ["age"]. Were the mask left empty, the
    // demo would replace every writable field and reject the empty name.
    let reply = client
        .json(Method::PATCH, "/v1/users/42", &json!({"age": 37}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let after = reply.json();
    assert_eq!(after["age"], 37);
    for field in ["userId", "name", "email", "tags", "role", "createdAt"] {
        assert_eq!(after[field], before[field], "{field} unchanged");
    }

    let reply = client
        .json(
            Method::PATCH,
            "/v1/users/42",
            &json!({"email": "ada@analytical.engine", "tags": ["engines"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let fetched = client.get_ok("/v1/users/42").await;
    assert_eq!(fetched["email"], "ada@analytical.engine");
    assert_eq!(fetched["tags"], json!(["engines"]));
    assert_eq!(fetched["age"], 37, "earlier patch kept");
    assert_eq!(fetched["name"], "Ada Lovelace");
    gateway.shutdown().await;
}

#[tokio::test]
async fn delete_then_not_found() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client.delete("/v1/users/2").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), json!({}), "google.protobuf.Empty is {{}}");
    let reply = client.get("/v1/users/2").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    let reply = client.delete("/v1/users/2").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    gateway.shutdown().await;
}

#[tokio::test]
async fn list_users_pages_with_tokens() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let first = client.get_ok("/v1/users?pageSize=2").await;
    assert_eq!(user_ids(&first), ["1", "2"]);
    assert_eq!(first["totalSize"], 3);
    let token = first["nextPageToken"].as_str().expect("token").to_owned();
    assert!(!token.is_empty(), "more pages follow: {first}");

    let second = client
        .get_ok(&format!(
            "/v1/users?pageSize=2&pageToken={}",
            encode_query_value(&token)
        ))
        .await;
    assert_eq!(user_ids(&second), ["42"]);
    assert_eq!(second["nextPageToken"], "");
    assert_eq!(second["totalSize"], 3);

    // Proto field names work as query parameters too.
    let by_proto_name = client
        .get_ok(&format!(
            "/v1/users?page_size=1&page_token={}",
            encode_query_value(&token)
        ))
        .await;
    assert_eq!(user_ids(&by_proto_name), ["42"]);
    let one = client.get_ok("/v1/users?page_size=1").await;
    assert_eq!(user_ids(&one), ["1"]);

    // Enums in the query by name and by number.
    let admins = client.get_ok("/v1/users?role=ROLE_ADMIN").await;
    assert_eq!(user_ids(&admins), ["1"]);
    let members = client.get_ok("/v1/users?role=1").await;
    assert_eq!(user_ids(&members), ["2", "42"]);
    gateway.shutdown().await;
}

#[tokio::test]
async fn greeter_through_both_bindings() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client.say_hello(&[], &json!({"name": "world"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let hello = reply.json();
    assert_eq!(hello["message"], "Hello, world!");
    assert!(hello["metadata"].is_object(), "metadata map: {hello}");

    let hello = client.get_ok("/v1/greeter/Ada").await;
    assert_eq!(hello["message"], "Hello, Ada!");
    // A single-segment variable is fully percent-decoded.
    let hello = client.get_ok("/v1/greeter/Grace%20Hopper").await;
    assert_eq!(hello["message"], "Hello, Grace Hopper!");
    // One trailing slash is ignored.
    let hello = client.get_ok("/v1/greeter/Alan/").await;
    assert_eq!(hello["message"], "Hello, Alan!");
    gateway.shutdown().await;
}

#[tokio::test]
async fn avatar_upload_and_download_as_raw_bytes() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;

    // Before any upload: a generated SVG, served raw with its content type.
    let reply = client.get("/v1/users/1/avatar").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("image/svg+xml"));
    assert!(reply.text().starts_with("<svg"), "{}", reply.text());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..=255u8).cycle().take(3000));
    let reply = client
        .request(
            Method::POST,
            "/v1/users/1/avatar",
            &[("content-type", "image/png")],
            png.clone(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let uploaded = reply.json();
    assert_eq!(uploaded["userId"], "1");
    // int64 is a JSON string.
    assert_eq!(uploaded["sizeBytes"], json!(png.len().to_string()));
    assert_eq!(uploaded["contentType"], "image/png");

    let reply = client.get("/v1/users/1/avatar").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("image/png"));
    assert_eq!(
        reply.body.as_ref(),
        png.as_slice(),
        "the same bytes come back"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn use_proto_names_changes_output_names() {
    let gateway = TestGateway::start("[json]\nuse_proto_names = true\n").await;
    let client = gateway.client().await;
    let user = client.get_ok("/v1/users/42").await;
    assert_eq!(
        keys(&user),
        [
            "age",
            "created_at",
            "email",
            "name",
            "padding",
            "role",
            "tags",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(user["user_id"], "42");
    assert_eq!(user["created_at"], SEED_TIME);
    let list = client.get_ok("/v1/users?pageSize=1").await;
    assert!(list.get("next_page_token").is_some(), "{list}");
    assert!(list.get("total_size").is_some(), "{list}");
    assert!(list.get("nextPageToken").is_none(), "{list}");
    // Input still accepts both forms.
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"userId": "camel", "name": "C"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["user_id"], "camel");
    gateway.shutdown().await;
}

#[tokio::test]
async fn emit_unpopulated_false_omits_defaults() {
    let gateway = TestGateway::start("[json]\nemit_unpopulated = false\n").await;
    let client = gateway.client().await;
    let reply = client
        .json(Method::POST, "/v1/users", &json!({"name": "Sparse"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let user = reply.json();
    assert_eq!(user["name"], "Sparse");
    for absent in ["age", "email", "tags"] {
        assert!(user.get(absent).is_none(), "{absent} omitted: {user}");
    }
    let list = client.get_ok("/v1/users?pageSize=100").await;
    assert!(list.get("nextPageToken").is_none(), "{list}");
    assert!(list.get("totalSize").is_some(), "non-default kept: {list}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn separate_backend_through_upstreams() {
    let gateway = TestGateway::with_separate_backend("").await;
    let client = gateway.client().await;
    let user = client.get_ok("/v1/users/42").await;
    assert_eq!(user["name"], "Ada Lovelace");
    let reply = client.say_hello(&[], &json!({"name": "backend"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["message"], "Hello, backend!");
    assert_eq!(
        reply.header("grpc-metadata-x-served-by"),
        Some("h2gate-demo")
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn many_requests_multiplex_on_one_connection() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    assert!(client.is_h2());
    let client = &client;
    // A slow call does not hold up the fast ones sharing its connection.
    let slow = async {
        let started = std::time::Instant::now();
        let reply = client
            .say_hello(&[], &json!({"name": "slow", "delayMs": 800}))
            .await;
        (reply, started.elapsed())
    };
    let fast = async {
        let started = std::time::Instant::now();
        let mut replies = Vec::new();
        for i in 0..10 {
            replies.push(client.get_ok(&format!("/v1/greeter/n{i}")).await);
        }
        (replies, started.elapsed())
    };
    let ((slow_reply, slow_took), (fast_replies, fast_took)) = tokio::join!(slow, fast);
    assert_eq!(slow_reply.status, StatusCode::OK, "{}", slow_reply.text());
    assert!(slow_took >= std::time::Duration::from_millis(800));
    assert!(
        fast_took < slow_took,
        "fast requests ({fast_took:?}) finished before the slow one ({slow_took:?})"
    );
    for (i, reply) in fast_replies.iter().enumerate() {
        assert_eq!(reply["message"], format!("Hello, n{i}!"));
    }
    // And concurrently: twenty streams in flight on the same connection.
    let replies = futures_util::future::join_all((0..20).map(|i| async move {
        let reply = client.get(&format!("/v1/greeter/c{i}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["message"], format!("Hello, c{i}!"));
    }))
    .await;
    assert_eq!(replies.len(), 20);
    gateway.shutdown().await;
}

#[tokio::test]
async fn explicit_update_mask_in_query_wins_over_derived() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    // The body names two fields, the query's FieldMask only one: only that one changes.
    let reply = client
        .json(
            Method::PATCH,
            "/v1/users/1?updateMask=name",
            &json!({"name": "Alan M. Turing", "age": 99}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let user = reply.json();
    assert_eq!(user["name"], "Alan M. Turing");
    assert_eq!(user["age"], 41, "age not in the mask: {user}");
    // Comma-separated FieldMask, proto name.
    let reply = client
        .json(
            Method::PATCH,
            "/v1/users/1?update_mask=age,email",
            &json!({"age": 42, "email": "turing@example.com", "name": "ignored"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let user = reply.json();
    assert_eq!(user["age"], 42);
    assert_eq!(user["email"], "turing@example.com");
    assert_eq!(user["name"], "Alan M. Turing");
    gateway.shutdown().await;
}

#[tokio::test]
async fn colon_is_data_where_no_verb_is_registered() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    // `a:b` binds as the user id: the backend is asked for it and says NOT_FOUND.
    let reply = client.get("/v1/users/a:b").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    assert_eq!(reply.json()["message"], "user a:b not found");
    // The greeter binding too.
    let hello = client.get_ok("/v1/greeter/x:y").await;
    assert_eq!(hello["message"], "Hello, x:y!");
    // One trailing slash is ignored on any route.
    let user = client.get_ok("/v1/users/42/").await;
    assert_eq!(user["userId"], "42");
    gateway.shutdown().await;
}

#[tokio::test]
async fn http_rule_files_give_routes() {
    let rules = crate::support::TempFile::new(
        "rules",
        "yaml",
        concat!(
            "http:\n  rules:\n",
            "    - selector: demo.v1.Greeter.SayHello\n",
            "      get: /v1/hi/{name}\n",
            "      additional_bindings:\n",
            "        - post: /v1/hi\n",
            "          body: \"*\"\n",
        ),
    );
    let extra = format!(
        "[descriptors]\nhttp_rule_files = [{:?}]\n",
        rules.path.display().to_string()
    );
    let gateway = TestGateway::start_with(crate::support::Setup {
        extra: &extra,
        no_greeter_rules: true,
        ..crate::support::Setup::default()
    })
    .await;
    let client = gateway.client().await;
    assert_eq!(client.get_ok("/v1/hi/Ann").await["message"], "Hello, Ann!");
    let reply = client
        .json(Method::POST, "/v1/hi", &json!({"name": "Bo"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["message"], "Hello, Bo!");
    // The config's greeter routes are not there.
    assert_eq!(
        client.get("/v1/greeter/Ann").await.status,
        StatusCode::NOT_FOUND
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn descriptor_set_files_serve_routes_without_protos() {
    let backend = crate::support::DemoBackend::start().await;
    let set = crate::support::TempFile::new("demo-set", "pb", "");
    std::fs::write(&set.path, h2gate_demo::DESCRIPTOR_SET).expect("write descriptor set");
    let text = format!(
        concat!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[demo]\nembedded = false\n\n",
            "[descriptors]\ndescriptor_sets = [{set:?}]\n\n",
            "[[upstreams]]\nname = \"from-set\"\nendpoints = [\"http://{addr}\"]\nservices = [\"*\"]\n"
        ),
        set = set.path.display().to_string(),
        addr = backend.addr
    );
    let gateway = TestGateway::from_text(text).await;
    let client = gateway.client().await;
    let user = client.get_ok("/v1/users/42").await;
    assert_eq!(user["name"], "Ada Lovelace");
    gateway.shutdown().await;
    backend.stop().await;
}
