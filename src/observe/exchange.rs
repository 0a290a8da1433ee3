//! One request as the gateway observes it: what it was (set by the observe layer as it
//! arrives), and what the gateway learned while serving it (the route, where its call went
//! and how it ended, why it was rejected, what flowed), filled in by the handler and the
//! streaming paths.
//!
//! It is recorded (metrics, access log) when it is dropped, that is when the last of those
//! who served it is done: the response body once sent, a stream once it ended, a WebSocket
//! bridge once closed. So a stream's duration and counts cover the whole stream.

use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use http::{Extensions, HeaderValue, Method, StatusCode};
use tonic::Code;

use super::record::Recorder;
use super::traces::{CallNames, RequestTrace};
use crate::errors::{GatewayError, Rejection};
use crate::listener::ClientConnection;
use crate::routing::Route;
use crate::upstream::AttemptTracer;

pub struct Exchange {
    /// Who records it when it ends (none in unit tests).
    recorder: Option<Recorder>,
    pub arrived: Arrival,
    /// Its place in a trace, when tracing is on.
    pub trace: Option<RequestTrace>,
    /// What the handler learned (one uncontended lock per fact: cheaper than a `OnceLock`
    /// each, and the facts are read together when the exchange is recorded).
    learned: Mutex<Learned>,
    /// The response's HTTP status, 0 until its head has gone out.
    status: AtomicU16,
    /// The call's gRPC status code, `NO_CODE` until a call has ended.
    grpc_code: AtomicU8,
    /// `Rejection` as its index in `Rejection::ALL` plus one, 0 for none.
    rejection: AtomicU8,
    /// Body bytes read from the client, and sent to it.
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Streamed messages: from the client to the backend, and back.
    messages_in: AtomicU64,
    messages_out: AtomicU64,
}

/// The request as it arrived.
pub struct Arrival {
    pub started: Instant,
    pub time: SystemTime,
    pub method: Method,
    /// The path without its query (kept only for the access log).
    pub path: Option<Box<str>>,
    /// The connection it came on (none where no listener serves it: unit tests).
    pub connection: Option<Arc<ClientConnection>>,
    /// The built-in endpoint (`/healthz`, ...) it is for, if any.
    pub builtin: Option<&'static str>,
}

/// What the gateway learned while serving the request.
#[derive(Default)]
pub struct Learned {
    pub route: Option<Arc<Route>>,
    /// The upstream the call was for.
    pub upstream: Option<Arc<str>>,
    /// The endpoint the call was last sent to, and how many times it was sent.
    pub sent: Option<Sent>,
    /// The `x-request-id` the response carries.
    pub request_id: Option<HeaderValue>,
}

impl Learned {
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|id| id.to_str().ok())
    }
}

/// Where a call was sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub endpoint: Option<Arc<str>>,
    pub attempts: u32,
}

const NO_CODE: u8 = 0xff;

impl Exchange {
    pub(super) fn new(
        recorder: Option<Recorder>,
        arrived: Arrival,
        trace: Option<RequestTrace>,
    ) -> Arc<Self> {
        Arc::new(Self {
            recorder,
            arrived,
            trace,
            learned: Mutex::new(Learned::default()),
            status: AtomicU16::new(0),
            grpc_code: AtomicU8::new(NO_CODE),
            rejection: AtomicU8::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
        })
    }

    /// The connection of the request whose extensions these are.
    pub fn connection_of(extensions: &Extensions) -> Option<&Arc<ClientConnection>> {
        let exchange = extensions.get::<Arc<Self>>()?;
        exchange.arrived.connection.as_ref()
    }

    /// What was learned so far.
    pub fn learned(&self) -> MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_route(&self, route: &Arc<Route>) {
        self.learned().route = Some(Arc::clone(route));
    }

    pub(super) fn set_response(&self, status: StatusCode, request_id: Option<&HeaderValue>) {
        self.status.store(status.as_u16(), Ordering::Relaxed);
        if let Some(id) = request_id {
            self.learned().request_id = Some(id.clone());
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        StatusCode::from_u16(self.status.load(Ordering::Relaxed)).ok()
    }

    /// The call (or the stream) ended with `code`.
    pub fn set_grpc_code(&self, code: Code) {
        let code = u8::try_from(code as i32).unwrap_or(NO_CODE);
        self.grpc_code.store(code, Ordering::Relaxed);
    }

    pub fn grpc_code(&self) -> Option<u8> {
        Some(self.grpc_code.load(Ordering::Relaxed)).filter(|code| *code != NO_CODE)
    }

    /// A failed request: its rejection reason, or how its call ended.
    pub fn note_error(&self, error: &GatewayError) {
        if let Some(reason) = error.rejection() {
            self.set_rejection(reason);
        }
        if let Some(code) = error.call_status() {
            self.set_grpc_code(code);
        }
    }

    /// What traces the attempts of the request's call (when tracing is on): client spans,
    /// children of the request's span, named after its route's method.
    pub fn attempt_tracer(&self) -> Option<Arc<dyn AttemptTracer>> {
        let trace = self.trace.as_ref()?;
        let learned = self.learned();
        let route = learned.route.as_ref()?;
        Some(
            trace.attempts(CallNames {
                rpc_service: route.names.rpc_service.to_string(),
                rpc_method: route.names.rpc_method.to_string(),
                upstream: learned
                    .upstream
                    .as_deref()
                    .map(str::to_owned)
                    .unwrap_or_default(),
            }),
        )
    }

    pub fn set_upstream(&self, name: &Arc<str>) {
        self.learned().upstream = Some(Arc::clone(name));
    }

    /// The call went out `attempts` times, last to `endpoint`.
    pub fn set_sent(&self, endpoint: Option<Arc<str>>, attempts: u32) {
        self.learned().sent = Some(Sent { endpoint, attempts });
    }

    pub(super) fn add_bytes_in(&self, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn add_bytes_out(&self, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Body bytes (in, out).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.bytes_in.load(Ordering::Relaxed),
            self.bytes_out.load(Ordering::Relaxed),
        )
    }

    /// One more message streamed from the client to the backend.
    pub fn message_in(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    /// One more message streamed from the backend to the client.
    pub fn message_out(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages streamed (in, out).
    pub fn messages(&self) -> (u64, u64) {
        (
            self.messages_in.load(Ordering::Relaxed),
            self.messages_out.load(Ordering::Relaxed),
        )
    }

    pub fn set_rejection(&self, reason: Rejection) {
        let index = Rejection::ALL.iter().position(|known| *known == reason);
        let stored = index.and_then(|i| u8::try_from(i + 1).ok()).unwrap_or(0);
        self.rejection.store(stored, Ordering::Relaxed);
    }

    pub fn rejection(&self) -> Option<Rejection> {
        let stored = usize::from(self.rejection.load(Ordering::Relaxed));
        stored
            .checked_sub(1)
            .and_then(|i| Rejection::ALL.get(i))
            .copied()
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.record(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival() -> Arrival {
        Arrival {
            started: Instant::now(),
            time: SystemTime::now(),
            method: Method::GET,
            path: None,
            connection: None,
            builtin: None,
        }
    }

    #[test]
    fn codes_and_rejections_round_trip() {
        let exchange = Exchange::new(None, arrival(), None);
        assert_eq!(exchange.grpc_code(), None);
        assert_eq!(exchange.rejection(), None);
        exchange.set_grpc_code(Code::Ok);
        assert_eq!(exchange.grpc_code(), Some(0));
        exchange.set_grpc_code(Code::Unauthenticated);
        assert_eq!(exchange.grpc_code(), Some(16));
        for reason in Rejection::ALL {
            exchange.set_rejection(reason);
            assert_eq!(exchange.rejection(), Some(reason));
        }
    }
}
