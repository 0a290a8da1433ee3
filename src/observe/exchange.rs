//! What the gateway learns about one request while serving it (the route it took, the gRPC
//! status of its call, why it was rejected), for the metrics and the access log to read when
//! its response ends. The observe layer puts one in the request's extensions; the handler and
//! the streaming paths fill it in.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use tonic::Code;

use crate::errors::Rejection;
use crate::routing::Route;

#[derive(Default)]
pub struct Exchange {
    route: OnceLock<Arc<Route>>,
    /// The call's gRPC status code, `NO_CODE` until a call has ended.
    grpc_code: AtomicU8,
    /// `Rejection` as its index in `Rejection::ALL` plus one, 0 for none.
    rejection: AtomicU8,
}

const NO_CODE: u8 = 0xff;

impl Exchange {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            grpc_code: AtomicU8::new(NO_CODE),
            ..Self::default()
        })
    }

    pub fn set_route(&self, route: &Arc<Route>) {
        let _ = self.route.set(Arc::clone(route));
    }

    pub fn route(&self) -> Option<&Arc<Route>> {
        self.route.get()
    }

    /// The call (or the stream) ended with `code`.
    pub fn set_grpc_code(&self, code: Code) {
        let code = u8::try_from(code as i32).unwrap_or(NO_CODE);
        self.grpc_code.store(code, Ordering::Relaxed);
    }

    pub fn grpc_code(&self) -> Option<u8> {
        Some(self.grpc_code.load(Ordering::Relaxed)).filter(|code| *code != NO_CODE)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_rejections_round_trip() {
        let exchange = Exchange::new();
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
