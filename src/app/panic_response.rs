//! What a request that hit a bug in the gateway gets: the connection stays up and the client
//! sees the one error shape (INTERNAL, with the configured business code), never the panic
//! message, which could leak internals.

use std::any::Any;

use axum::body::Body;
use http::Response;
use tower_http::catch_panic::ResponseForPanic;

use crate::errors::{BusinessCodes, GatewayError};

#[derive(Debug, Clone, Copy)]
pub struct PanicResponse {
    codes: BusinessCodes,
}

impl PanicResponse {
    pub fn new(codes: BusinessCodes) -> Self {
        Self { codes }
    }
}

impl ResponseForPanic for PanicResponse {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, _: Box<dyn Any + Send + 'static>) -> Response<Body> {
        GatewayError::internal("internal gateway error").into_response(&self.codes)
    }
}

#[cfg(test)]
mod tests {
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::{ServiceBuilder, ServiceExt};
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    #[tokio::test]
    async fn a_panic_is_an_internal_error_with_the_configured_code() {
        let codes = BusinessCodes::with_overrides([("INTERNAL".to_owned(), 59999)]).unwrap();
        let service = ServiceBuilder::new()
            .layer(CatchPanicLayer::custom(PanicResponse::new(codes)))
            .service_fn(|_: Request<Body>| async {
                if true {
                    panic!("secret internals");
                }
                Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
            });
        let response = service.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], 59999, "{body}");
        assert_eq!(body["status"], "INTERNAL");
        assert!(!body.to_string().contains("secret"), "{body}");
    }
}
