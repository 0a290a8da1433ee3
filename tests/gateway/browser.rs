//! A real browser against the gateway: headless Chromium loads the demo page over HTTPS, which
//! receives a server stream through `EventSource` and chats over a `WebSocket`; the test reads
//! the page's result through the DevTools protocol.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Where it is missing the
//! test says so and passes, except where a browser is required (`H2GATE_REQUIRE_BROWSER`, which
//! `.ci/run` sets, or `CI`): there a missing browser is a failure, never a silent pass.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use super::support::{TestGateway, poll_until};

/// The browser, its helper processes and its throwaway profile, all gone on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium's renderers and zygote are its process group: killed together, so none
        // of them writes into the profile after it is removed.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn chromium_path() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// Starts headless Chromium with a DevTools endpoint; returns it and the browser's WS URL.
async fn launch(chromium: PathBuf) -> (Browser, String) {
    let profile = std::env::temp_dir().join(format!("h2gate-chromium-{}", std::process::id()));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--ignore-certificate-errors",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().expect("chromium stderr");
    let browser = Browser { child, profile };
    let url = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.ok()?;
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                return Some(url.trim().to_owned());
            }
        }
        None
    });
    let url = tokio::time::timeout(Duration::from_secs(30), url)
        .await
        .expect("chromium announces its DevTools endpoint in time")
        .expect("reader task")
        .expect("DevTools endpoint line");
    (browser, url)
}

/// A minimal DevTools protocol client: numbered commands, answers matched by id.
struct DevTools {
    socket: tokio_tungstenite::WebSocketStream<TcpStream>,
    next_id: u64,
}

impl DevTools {
    async fn connect(url: &str) -> DevTools {
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .expect("ws:// URL");
        let tcp = TcpStream::connect(authority)
            .await
            .expect("connect DevTools");
        let (socket, _) = tokio_tungstenite::client_async(url, tcp)
            .await
            .expect("DevTools handshake");
        DevTools { socket, next_id: 0 }
    }

    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(command.to_string().into()))
            .await
            .expect("send DevTools command");
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .expect("DevTools answer in time")
                .expect("DevTools connection open")
                .expect("DevTools message");
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if value["id"] == id {
                assert!(value.get("error").is_none(), "{method} failed: {value}");
                return value["result"].clone();
            }
        }
    }
}

#[tokio::test]
async fn a_browser_streams_with_event_source_and_websocket() {
    let Some(chromium) = chromium_path() else {
        let what = "the browser test";
        return crate::support::tool_missing("chromium", "H2GATE_REQUIRE_BROWSER", what);
    };
    let gateway = TestGateway::start("").await;
    let (_browser, url) = launch(chromium).await;
    let mut devtools = DevTools::connect(&url).await;
    let page = format!("https://localhost:{}/demo/", gateway.addr.port());
    let target = devtools
        .call(None, "Target.createTarget", json!({"url": page}))
        .await;
    let attached = devtools
        .call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    let session = attached["sessionId"].as_str().expect("session").to_owned();

    let devtools = tokio::sync::Mutex::new(devtools);
    let result = poll_until(Duration::from_secs(30), || async {
        let answer = devtools
            .lock()
            .await
            .call(
                Some(&session),
                "Runtime.evaluate",
                json!({
                    "expression": "document.getElementById('result').textContent",
                    "returnByValue": true
                }),
            )
            .await;
        let text = answer["result"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if text.starts_with('{') {
            return Some(serde_json::from_str::<Value>(&text).expect("result JSON"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        None
    })
    .await
    .expect("the page finished its streams");

    assert_eq!(result["sseError"], Value::Null, "{result}");
    let names = result["sse"].as_array().expect("sse names");
    assert_eq!(names.len(), 3, "{result}");
    assert_eq!(
        result["ws"],
        json!(["echo: hello", "echo: from the browser"]),
        "{result}"
    );
    assert_eq!(result["wsClose"], 1000, "{result}");
}
