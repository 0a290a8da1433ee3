//! The front door: ALPN under TLS, HTTP/1.1 keep-alive, plaintext h2c and HTTP/1.1.

use http::{StatusCode, Version};

use crate::support::{Client, Setup, TestGateway};

#[tokio::test]
async fn alpn_picks_h2_for_an_h2_capable_client() {
    let gateway = TestGateway::start("").await;
    let client = Client::tls(gateway.addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(client.alpn(), Some(&b"h2"[..]), "ALPN negotiated h2");
    let reply = client.get("/v1/users/42").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.json()["userId"], "42");
    // Built-in endpoints are served over HTTP/2 as well.
    let reply = client.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.version, Version::HTTP_2);
    gateway.shutdown().await;
}

#[tokio::test]
async fn http11_only_client_gets_http11_with_keep_alive() {
    let gateway = TestGateway::start("").await;
    let client = Client::tls(gateway.addr, &[b"http/1.1"]).await;
    assert_eq!(client.alpn(), Some(&b"http/1.1"[..]));
    for id in ["42", "1", "2"] {
        // Every request goes over the same connection (the client holds exactly one).
        let reply = client.get(&format!("/v1/users/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.version, Version::HTTP_11);
        assert_eq!(reply.json()["userId"], id);
        assert_ne!(
            reply.header("connection"),
            Some("close"),
            "the server keeps the connection open"
        );
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn tls_client_without_alpn_gets_http11() {
    let gateway = TestGateway::start("").await;
    let client = Client::tls(gateway.addr, &[]).await;
    assert_eq!(client.alpn(), None);
    let reply = client.get("/v1/users/1").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.version, Version::HTTP_11);
    let reply = client.get("/v1/greeter/again").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    gateway.shutdown().await;
}

#[tokio::test]
async fn plaintext_serves_h2c_prior_knowledge_and_http11() {
    let gateway = TestGateway::plaintext("").await;
    assert!(!gateway.tls);

    let h2 = Client::h2c(gateway.addr).await;
    for _ in 0..2 {
        let reply = h2.get("/v1/users/42").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.version, Version::HTTP_2);
        assert_eq!(reply.json()["name"], "Ada Lovelace");
    }

    let h1 = Client::h1_plain(gateway.addr).await;
    for _ in 0..2 {
        let reply = h1.get("/v1/users/42").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.version, Version::HTTP_11);
        assert_eq!(reply.json()["name"], "Ada Lovelace");
    }

    // x-forwarded-proto tells the backend the hop was plain http.
    let reply = h2
        .say_hello(&[], &serde_json::json!({"name": "plain"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["metadata"]["x-forwarded-proto"], "http");
    gateway.shutdown().await;
}

#[tokio::test]
async fn plaintext_gateway_does_not_speak_tls() {
    let gateway = TestGateway::plaintext("").await;
    let tcp = tokio::net::TcpStream::connect(gateway.addr)
        .await
        .expect("connect");
    // A TLS handshake against a plaintext listener must fail (not hang).
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let attempt = tokio::time::timeout(
        std::time::Duration::from_secs(12),
        connector.connect(name, tcp),
    )
    .await
    .expect("the handshake attempt ends");
    assert!(attempt.is_err(), "no TLS on a plaintext listener");
    // The listener is still healthy afterwards.
    let h2 = Client::h2c(gateway.addr).await;
    assert_eq!(h2.get("/healthz").await.status, StatusCode::OK);
    gateway.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let gateway = TestGateway::start("").await;
    let addr = gateway.addr;
    {
        let client = gateway.client().await;
        assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    }
    gateway.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn in_flight_request_finishes_during_graceful_shutdown() {
    let gateway = TestGateway::start("").await;
    let addr = gateway.addr;
    let client = gateway.client().await;
    let body = serde_json::json!({"name": "late", "delayMs": 600});
    let slow = client.say_hello(&[], &body);
    let stop = async {
        // Let the slow request reach the backend first.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        gateway.shutdown().await;
    };
    let (reply, ()) = tokio::join!(slow, stop);
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["message"], "Hello, late!");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn configured_certificate_files_are_served() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate a certificate");
    let cert = crate::support::TempFile::new("cert", "pem", &certified.cert.pem());
    let key = crate::support::TempFile::new("key", "pem", &certified.signing_key.serialize_pem());
    let server = format!(
        "tls_cert = {:?}\ntls_key = {:?}",
        cert.path.display().to_string(),
        key.path.display().to_string()
    );
    let gateway = TestGateway::start_with(crate::support::Setup {
        server: &server,
        ..crate::support::Setup::default()
    })
    .await;
    let client = gateway.client().await;
    assert_eq!(
        client.peer_certificate(),
        Some(certified.cert.der().as_ref()),
        "the gateway presents the configured certificate"
    );
    assert_eq!(client.alpn(), Some(&b"h2"[..]));
    assert_eq!(client.get("/v1/users/42").await.status, StatusCode::OK);
    gateway.shutdown().await;
}

#[tokio::test]
async fn generated_certificate_covers_localhost() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let der = client.peer_certificate().expect("a certificate").to_vec();
    // The DER carries the DNS name as an IA5String.
    assert!(
        der.windows(b"localhost".len()).any(|w| w == b"localhost"),
        "self-signed development certificate names localhost"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn connections_are_served_by_every_worker_and_drained_on_shutdown() {
    let gateway = TestGateway::start_with(Setup {
        server: "workers = 3",
        separate_backend: true,
        ..Setup::default()
    })
    .await;
    // More connections than workers, each with concurrent requests: whichever worker accepted
    // a connection answers all of it, over its own upstream channel.
    let clients = futures_util::future::join_all((0..9).map(|_| gateway.client())).await;
    let calls = clients.iter().enumerate().flat_map(|(c, client)| {
        (0..5).map(move |i| async move {
            let name = format!("c{c}r{i}");
            let reply = client.get_ok(&format!("/v1/greeter/{name}")).await;
            (name, reply)
        })
    });
    for (name, reply) in futures_util::future::join_all(calls).await {
        assert_eq!(reply["message"], format!("Hello, {name}!"));
    }
    drop(clients);
    gateway.shutdown().await;
}
