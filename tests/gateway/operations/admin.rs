//! The admin listener: its own plaintext address, the effective configuration, the route
//! table, the upstreams' endpoints, health; and nothing of it on the public listener.

use serde_json::Value;

use super::ADMIN;
use crate::support::{Setup, TempFile, TestGateway};

#[tokio::test]
async fn the_admin_listener_shows_config_routes_and_upstreams() {
    let gateway = TestGateway::with_separate_backend(ADMIN).await;
    let admin = gateway.admin_client().await;

    let config = admin.get("/config").await;
    assert_eq!(config.status, 200, "{}", config.text());
    let config = config.json();
    // Defaults filled in, the file's values as written.
    assert_eq!(config["server"]["listen"], "127.0.0.1:0");
    assert_eq!(config["server"]["max_body_bytes"], 4 * 1024 * 1024);
    assert_eq!(config["admin"]["listen"], "127.0.0.1:0");
    let upstream = &config["upstreams"][0];
    assert_eq!(upstream["name"], "demo-backend");
    assert_eq!(upstream["balance"], "latency");

    let routes = admin.get("/routes").await.json();
    let routes = routes["routes"].as_array().expect("routes array");
    let get_user = routes
        .iter()
        .find(|r| r["grpc_method"] == "demo.v1.UserService/GetUser" && r["method"] == "GET")
        .unwrap_or_else(|| panic!("GetUser's GET route in {routes:?}"));
    assert_eq!(get_user["path"], "/v1/users/{user_id}");
    assert_eq!(get_user["kind"], "unary");
    assert_eq!(get_user["upstream"], "demo-backend");
    assert!(
        routes.iter().any(|r| r["kind"] == "server_streaming"),
        "{routes:?}"
    );

    // One call, so the endpoint is connected and ready.
    let client = gateway.client().await;
    assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
    let upstreams = admin.get("/upstreams").await.json();
    let endpoints = &upstreams["upstreams"][0]["endpoints"];
    assert_eq!(upstreams["upstreams"][0]["name"], "demo-backend");
    assert_eq!(endpoints[0]["state"], "ready", "{upstreams}");
    assert_eq!(endpoints[0]["in_flight"], 0, "{upstreams}");

    for path in ["/healthz", "/readyz"] {
        let reply = admin.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    // The public listener serves health, never the admin endpoints.
    assert_eq!(client.get("/healthz").await.status, 200);
    for path in ["/metrics", "/config", "/routes", "/upstreams"] {
        let reply = client.get(path).await;
        assert_eq!(reply.status, 404, "{path} on the public listener");
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn config_shows_key_paths_never_key_material() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key_pem = certified.signing_key.serialize_pem();
    let cert = TempFile::new("admin-cert", "pem", &certified.cert.pem());
    let key = TempFile::new("admin-key", "pem", &key_pem);
    let key_path = key.path.display().to_string();
    let server = format!(
        "tls_cert = {:?}\ntls_key = {key_path:?}",
        cert.path.display().to_string()
    );
    let gateway = TestGateway::start_with(Setup {
        server: &server,
        extra: ADMIN,
        ..Setup::default()
    })
    .await;
    let reply = gateway.admin_client().await.get("/config").await;
    let config: Value = reply.json();
    assert_eq!(config["server"]["tls_key"], key_path);
    let body = reply.text();
    let key_line = key_pem.lines().nth(1).expect("a line of key material");
    assert!(
        !body.contains("PRIVATE KEY") && !body.contains(key_line),
        "{body}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn no_admin_section_means_no_admin_listener() {
    let gateway = TestGateway::start("").await;
    assert!(gateway.admin.is_none());
    gateway.shutdown().await;
}
