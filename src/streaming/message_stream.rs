//! Reading the backend's side of a streaming call one event at a time: a message, the end
//! (with trailers), a failure, or silence longer than the idle timeout.

use std::time::Duration;

use bytes::Bytes;
use tonic::Status;
use tonic::codec::Streaming;
use tonic::metadata::MetadataMap;

/// One step of the backend's stream.
pub enum Event {
    Message(Bytes),
    End(MetadataMap),
    Failed(Status),
}

/// The next event, or DEADLINE_EXCEEDED after `idle` without one.
pub async fn next_event(messages: &mut Streaming<Bytes>, idle: Duration) -> Event {
    let step = async {
        match messages.message().await {
            Ok(Some(message)) => Event::Message(message),
            Ok(None) => match messages.trailers().await {
                Ok(trailers) => Event::End(trailers.unwrap_or_default()),
                Err(status) => Event::Failed(status),
            },
            Err(status) => Event::Failed(status),
        }
    };
    match tokio::time::timeout(idle, step).await {
        Ok(event) => event,
        Err(_) => Event::Failed(silent_for(idle)),
    }
}

/// DEADLINE_EXCEEDED for a backend that sent nothing for `idle`.
pub fn silent_for(idle: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "the backend sent nothing for {} ms",
        idle.as_millis()
    ))
}
