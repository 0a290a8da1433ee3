//! An attacker that opens many HTTP/2 streams and never lets one finish: uploads it starts are
//! never ended, response bodies are never read and no flow-control window is ever returned, so
//! whatever the gateway keeps for a stream stays kept until the attacker leaves. Framing and the
//! gateway's protocol limits are the `h2` crate's business (unlike `crate::support::raw_h2`):
//! these requests are legal, they just never end. Answers are tallied by status as they
//! arrive, which reads the response heads only; the bodies stay unread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::RecvStream;
use h2::client::SendRequest;
use http::{Method, Request, Response, StatusCode};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How long the attacker waits for the gateway to let it open one more stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// One request of an attack.
#[derive(Debug, Clone)]
pub struct HeldRequest {
    pub method: Method,
    pub path: String,
    /// A JSON upload sent whole but never ended (no END_STREAM), or none (a GET that ends).
    pub unfinished_upload: Option<Bytes>,
}

/// What the gateway answered the attack's streams, counted as the response heads arrive.
#[derive(Debug, Default)]
pub struct Tally {
    ok: AtomicU64,
    shed: AtomicU64,
    unavailable_without_retry_after: AtomicU64,
    other: AtomicU64,
    failed: AtomicU64,
}

/// A snapshot of a [`Tally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answers {
    pub ok: u64,
    /// 503 with `Retry-After: 1`: shed for memory.
    pub shed: u64,
    pub unavailable_without_retry_after: u64,
    pub other: u64,
    /// Streams that could not be opened or were reset without an answer.
    pub failed: u64,
}

impl Answers {
    pub fn answered(&self) -> u64 {
        self.ok + self.shed + self.unavailable_without_retry_after + self.other
    }
}

impl Tally {
    pub fn answers(&self) -> Answers {
        Answers {
            ok: self.ok.load(Ordering::SeqCst),
            shed: self.shed.load(Ordering::SeqCst),
            unavailable_without_retry_after: self
                .unavailable_without_retry_after
                .load(Ordering::SeqCst),
            other: self.other.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }

    fn count<T>(&self, response: &Response<T>) {
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok());
        let counter = match (response.status(), retry_after) {
            (StatusCode::OK, _) => &self.ok,
            (StatusCode::SERVICE_UNAVAILABLE, Some("1")) => &self.shed,
            (StatusCode::SERVICE_UNAVAILABLE, _) => &self.unavailable_without_retry_after,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// One attacking connection; leaving (dropping it) closes the socket.
pub struct HeldStreams {
    sender: SendRequest<Bytes>,
    connection: JoinHandle<()>,
    answers: Vec<JoinHandle<()>>,
    /// Upload halves of unfinished bodies: dropping one would reset its stream.
    uploads: Vec<h2::SendStream<Bytes>>,
    /// Answered responses, bodies unread: dropping one would hand its window back.
    kept: Arc<Mutex<Vec<Response<RecvStream>>>>,
}

impl HeldStreams {
    /// Connects over h2c; `initial_window` is the SETTINGS_INITIAL_WINDOW_SIZE announced for
    /// every stream (`None`: the protocol's 65,535). The connection window stays at 65,535.
    pub async fn connect(addr: SocketAddr, initial_window: Option<u32>) -> Self {
        let tcp = TcpStream::connect(addr)
            .await
            .expect("connect to the gateway");
        let mut builder = h2::client::Builder::new();
        if let Some(window) = initial_window {
            builder.initial_window_size(window);
        }
        let (sender, connection) = builder
            .handshake::<_, Bytes>(tcp)
            .await
            .expect("HTTP/2 handshake");
        // Drives the connection (reads frames, sends queued data) until the attacker leaves.
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Self {
            sender,
            connection,
            answers: Vec::new(),
            uploads: Vec::new(),
            kept: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Opens one stream with `request` and tallies its answer when it comes.
    pub async fn open(&mut self, addr: SocketAddr, request: &HeldRequest, tally: &Arc<Tally>) {
        let failed = || {
            tally.failed.fetch_add(1, Ordering::SeqCst);
        };
        let Ok(Ok(mut sender)) =
            tokio::time::timeout(OPEN_TIMEOUT, self.sender.clone().ready()).await
        else {
            return failed();
        };
        let mut head = Request::builder()
            .method(request.method.clone())
            .uri(format!("http://{addr}{}", request.path));
        if request.unfinished_upload.is_some() {
            head = head.header(http::header::CONTENT_TYPE, "application/json");
        }
        let head = head.body(()).expect("request head");
        let ends_now = request.unfinished_upload.is_none();
        let Ok((response, mut upload)) = sender.send_request(head, ends_now) else {
            return failed();
        };
        if let Some(body) = &request.unfinished_upload {
            // Queued whole; h2 sends it as the gateway's windows allow. Never ended.
            if upload.send_data(body.clone(), false).is_err() {
                return failed();
            }
            self.uploads.push(upload);
        }
        let (tally, kept) = (Arc::clone(tally), Arc::clone(&self.kept));
        self.answers.push(tokio::spawn(async move {
            match response.await {
                Ok(response) => {
                    tally.count(&response);
                    kept.lock().expect("kept responses").push(response);
                }
                Err(_) => {
                    tally.failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
}

impl Drop for HeldStreams {
    fn drop(&mut self) {
        for answer in &self.answers {
            answer.abort();
        }
        self.connection.abort();
    }
}

/// `connections` attacking connections with `streams` streams each, `request(n)` for the n-th
/// stream of a connection. Each connection's streams are opened back to back, as an attacker
/// would: the gateway sees them arrive together.
pub async fn open_held_streams(
    addr: SocketAddr,
    connections: usize,
    streams: usize,
    initial_window: Option<u32>,
    request: impl Fn(usize) -> HeldRequest,
    tally: &Arc<Tally>,
) -> Vec<HeldStreams> {
    let mut attackers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut attacker = HeldStreams::connect(addr, initial_window).await;
        for n in 0..streams {
            attacker.open(addr, &request(n), tally).await;
        }
        attackers.push(attacker);
    }
    attackers
}
