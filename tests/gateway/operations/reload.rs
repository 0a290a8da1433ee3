//! Reloading the real binary's configuration (SIGHUP and `POST /reload`) while clients send
//! continuously: not one request fails across 20 reloads, good and bad alternating; a bad
//! configuration is refused with its reasons and the old one keeps serving; a route added by
//! a reload answers; a renewed certificate is what new connections get.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http::Method;
use serde_json::Value;

use super::ADMIN;
use crate::support::{Client, Exposition, GatewayProcess, Setup, config_text, poll_until};

/// A route of the Greeter's that only the `n`th good configuration has.
fn added_rule(n: usize) -> String {
    format!(
        "[[http_rules]]\nselector = \"demo.v1.Greeter.SayHello\"\nget = \"/v1/reloaded/{n}/{{name}}\"\n"
    )
}

/// The binary on the embedded demo with an admin listener, and its configuration's text.
async fn gateway_with_admin() -> (String, GatewayProcess) {
    let setup = Setup {
        extra: ADMIN,
        ..Setup::default()
    };
    let base = config_text(&setup, None);
    let gateway = GatewayProcess::from_text(base.clone(), true).await;
    (base, gateway)
}

async fn admin_post_reload(gateway: &GatewayProcess) -> (u16, Value) {
    let admin = Client::h1_plain(gateway.admin_addr()).await;
    let reply = admin.request(Method::POST, "/reload", &[], "").await;
    (reply.status.as_u16(), reply.json())
}

async fn reloads_counted(gateway: &GatewayProcess, result: &str) -> f64 {
    let admin = Client::h1_plain(gateway.admin_addr()).await;
    let metrics = Exposition::parse(&admin.get("/metrics").await.text());
    metrics.value("h2gate_config_reloads_total", &[("result", result)])
}

#[tokio::test]
async fn twenty_reloads_under_load_lose_no_request() {
    // The Greeter has no HTTP rule at first: each good reload gives it another route.
    let base = config_text(
        &Setup {
            extra: ADMIN,
            no_greeter_rules: true,
            ..Setup::default()
        },
        None,
    );
    let mut gateway = GatewayProcess::from_text(base.clone(), true).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut senders = Vec::new();
    for _ in 0..3 {
        let client = gateway.client().await;
        let (stop, answered, failed) = (stop.clone(), answered.clone(), failed.clone());
        senders.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let result = client
                    .try_request(Method::GET, "/v1/users/42", &[], "")
                    .await;
                match result {
                    Ok(reply) if reply.status == 200 => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        failures.push(format!("{:?}", other.map(|r| (r.status, r.text()))));
                    }
                }
            }
            failures
        }));
    }

    for round in 0..20 {
        let good = round % 2 == 1;
        let text = if good {
            format!("{base}\n{}", added_rule(round))
        } else {
            // Refused: a rule for a method that does not exist.
            format!(
                "{base}\n[[http_rules]]\nselector = \"demo.v1.Greeter.Nope\"\nget = \"/v1/nope\"\n"
            )
        };
        std::fs::write(gateway.config_path(), text).unwrap();
        if round % 4 < 2 {
            let (status, body) = admin_post_reload(&gateway).await;
            if good {
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["result"], "success");
                assert_eq!(body["applied"]["upstreams_kept"], 1, "{body}");
            } else {
                assert_eq!(status, 422, "{body}");
                let problems = body["problems"].to_string();
                assert!(problems.contains("demo.v1.Greeter.Nope"), "{body}");
            }
        } else {
            gateway.hang_up();
            // SIGHUP answers nobody: the reload shows in the metrics.
            let expected = f64::from(u32::try_from(round / 2 + 1).unwrap());
            let result = if good { "success" } else { "failure" };
            poll_until(Duration::from_secs(10), || async {
                (reloads_counted(&gateway, result).await >= expected).then_some(())
            })
            .await
            .unwrap_or_else(|| panic!("reload {round} by SIGHUP never counted"));
        }
        let client = gateway.client().await;
        if good {
            let path = format!("/v1/reloaded/{round}/you");
            let reply = client.get(&path).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        } else {
            // The last good configuration still serves.
            assert_eq!(client.get("/v1/users/42").await.status, 200);
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for sender in senders {
        failures.extend(sender.await.unwrap());
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(
        answered.load(Ordering::Relaxed) > 100,
        "the clients were sending"
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert_eq!(reloads_counted(&gateway, "success").await, 10.0);
    assert_eq!(reloads_counted(&gateway, "failure").await, 10.0);
    let status = {
        gateway.terminate();
        gateway.exit_status(Duration::from_secs(15)).await
    };
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[tokio::test]
async fn a_renewed_certificate_is_served_to_new_connections() {
    let first = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = crate::support::TempFile::new("reload-cert", "pem", &first.cert.pem());
    let key =
        crate::support::TempFile::new("reload-key", "pem", &first.signing_key.serialize_pem());
    let server = format!(
        "tls_cert = {:?}\ntls_key = {:?}",
        cert.path.display().to_string(),
        key.path.display().to_string()
    );
    let text = config_text(
        &Setup {
            server: &server,
            extra: ADMIN,
            ..Setup::default()
        },
        None,
    );
    let gateway = GatewayProcess::from_text(text, true).await;
    let before = gateway.client().await;
    assert_eq!(before.peer_certificate(), Some(first.cert.der().as_ref()));

    let renewed = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&cert.path, renewed.cert.pem()).unwrap();
    std::fs::write(&key.path, renewed.signing_key.serialize_pem()).unwrap();
    let (status, body) = admin_post_reload(&gateway).await;
    assert_eq!(status, 200, "{body}");

    let after = gateway.client().await;
    assert_eq!(after.peer_certificate(), Some(renewed.cert.der().as_ref()));
    assert_eq!(after.get("/v1/users/42").await.status, 200);
    // The connection made before the renewal goes on.
    assert_eq!(before.get("/v1/users/42").await.status, 200);

    // A key that is not the certificate's is refused; the renewed pair keeps serving.
    std::fs::write(&key.path, first.signing_key.serialize_pem()).unwrap();
    let (status, body) = admin_post_reload(&gateway).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["problems"].to_string().contains("tls_key"), "{body}");
    let again = gateway.client().await;
    assert_eq!(again.peer_certificate(), Some(renewed.cert.der().as_ref()));
}

#[tokio::test]
async fn settings_that_need_a_restart_are_named() {
    let (base, gateway) = gateway_with_admin().await;
    let changed = base.replace(
        "[access_log]\nformat = \"off\"",
        "[access_log]\nformat = \"json\"",
    );
    assert_ne!(changed, base);
    std::fs::write(gateway.config_path(), changed).unwrap();
    let (status, body) = admin_post_reload(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["applied"]["restart_needed_for"],
        serde_json::json!(["[access_log]"])
    );
}

#[tokio::test]
async fn an_unchanged_upstream_keeps_its_connection_across_a_reload() {
    let backend = crate::support::CountingBackend::start().await;
    let gateway = GatewayProcess::plaintext_in_front_of_with(backend.addr, "", ADMIN).await;
    let client = gateway.client().await;
    for _ in 0..5 {
        assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
    }
    assert_eq!(backend.counts.request_connections(), 1);

    // The JSON options change, the upstream does not.
    let text = std::fs::read_to_string(gateway.config_path()).unwrap();
    std::fs::write(
        gateway.config_path(),
        format!("{text}\n[json]\nuse_proto_names = true\n"),
    )
    .unwrap();
    let (status, body) = admin_post_reload(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"]["upstreams_kept"], 1, "{body}");
    // The new JSON options apply, on the same upstream connection.
    let user = client.get_ok("/v1/users/42").await;
    assert_eq!(user["user_id"], "42", "{user}");
    assert_eq!(backend.counts.request_connections(), 1);

    // A changed upstream starts afresh: a new connection.
    let text = std::fs::read_to_string(gateway.config_path()).unwrap();
    let changed = text.replace(
        "services = [\"*\"]",
        "services = [\"*\"]\ntimeout_ms = 7000",
    );
    assert_ne!(changed, text);
    std::fs::write(gateway.config_path(), changed).unwrap();
    let (status, body) = admin_post_reload(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"]["upstreams_kept"], 0, "{body}");
    assert_eq!(client.get_ok("/v1/users/42").await["user_id"], "42");
    assert_eq!(backend.counts.request_connections(), 2);
    backend.stop().await;
}

#[tokio::test]
async fn limits_change_with_a_reload() {
    let (base, gateway) = gateway_with_admin().await;
    let big_header = "x".repeat(4096);
    let hello = r#"{"name":"a long enough name to pass sixty-four bytes of body, surely"}"#;
    let client = gateway.client().await;
    let headers = [("x-big", big_header.as_str())];
    assert_eq!(
        client
            .request(Method::GET, "/v1/users/42", &headers, "")
            .await
            .status,
        200
    );
    let json = [("content-type", "application/json")];
    let said = client
        .request(Method::POST, "/v1/greeter:sayHello", &json, hello)
        .await;
    assert_eq!(said.status, 200);

    let lowered = base.replace("[server]\n", "[server]\nmax_body_bytes = 64\n")
        + "\n[limits]\nmax_header_bytes = 2048\n";
    std::fs::write(gateway.config_path(), lowered).unwrap();
    let (status, body) = admin_post_reload(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["applied"]["restart_needed_for"],
        serde_json::json!([]),
        "{body}"
    );

    let fresh = gateway.client().await;
    let reply = fresh
        .request(Method::GET, "/v1/users/42", &headers, "")
        .await;
    assert_eq!(reply.status, 431, "{}", reply.text());
    let said = fresh
        .request(Method::POST, "/v1/greeter:sayHello", &json, hello)
        .await;
    assert_eq!(said.status, 413, "{}", said.text());
}

#[tokio::test]
async fn a_reload_moves_the_listener() {
    let (base, gateway) = gateway_with_admin().await;
    let before = gateway.client().await;
    assert_eq!(before.get("/v1/users/42").await.status, 200);
    // A free port (bound, then released) for the new address.
    let free = crate::support::bind_loopback().await.local_addr().unwrap();
    // The first `listen` is [server]'s; the admin listener stays where it is.
    let moved = base.replacen(
        "listen = \"127.0.0.1:0\"\n",
        &format!("listen = \"{free}\"\n"),
        1,
    );
    assert_ne!(moved, base, "the base listens on port 0");
    std::fs::write(gateway.config_path(), moved).unwrap();
    let (status, body) = admin_post_reload(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"]["listen"], free.to_string(), "{body}");

    let after = Client::tls(free, &[b"h2"]).await;
    assert_eq!(after.get("/v1/users/42").await.status, 200);
    // The connection made on the old address goes on; the old address takes no new ones.
    assert_eq!(before.get("/v1/users/42").await.status, 200);
    let refused = tokio::net::TcpStream::connect(gateway.addr).await;
    assert!(refused.is_err(), "the old address still accepts");
}
