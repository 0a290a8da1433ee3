//! `demo.v1.ChatService`: an echo room for exercising bidirectional streaming through the
//! gateway. Replies are strictly one per incoming message and each incoming message is read only
//! when tonic wants the next reply, so a client that stops reading also stops being read.
//!
//! Lifecycle: every message gets `echo: <text>`; the text [`REJECTED_CHAT_TEXT`] ends the stream
//! with INVALID_ARGUMENT instead (no echo); a client half-close gets one final
//! `bye <n> messages` (n = messages echoed) before the stream completes.

use std::time::SystemTime;

use prost_types::Timestamp;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::errors::{DemoError, REJECTED_CHAT_TEXT};
use super::lazy_stream::{ResponseStream, unfold};
use super::pb::ChatMessage;
use super::pb::chat_service_server::ChatService;
use super::stream_probe::StreamProbe;

/// The `user` of every server reply.
pub const CHAT_SERVER_USER: &str = "h2gate-demo";

/// The ChatService implementation (stateless apart from its probe).
#[derive(Debug, Clone, Default)]
pub struct DemoChatService {
    probe: StreamProbe,
}

impl DemoChatService {
    /// Chat streams report to `probe`.
    pub fn new(probe: StreamProbe) -> Self {
        Self { probe }
    }
}

fn reply(room: String, text: String) -> ChatMessage {
    ChatMessage {
        room,
        user: CHAT_SERVER_USER.to_owned(),
        text,
        sent_at: Some(Timestamp::from(SystemTime::now())),
    }
}

/// One chat's progress; moved through each step of the [`unfold`].
struct Conversation<S> {
    inbound: S,
    echoed: u64,
    /// Room of the latest incoming message, used for the farewell.
    room: String,
    done: bool,
}

impl<S> Conversation<S>
where
    S: Stream<Item = Result<ChatMessage, Status>> + Unpin,
{
    async fn next(mut self) -> Option<(Result<ChatMessage, Status>, Self)> {
        if self.done {
            return None;
        }
        let item = match self.inbound.next().await {
            Some(Ok(msg)) if msg.text == REJECTED_CHAT_TEXT => {
                self.done = true;
                Err(DemoError::ChatMessageRejected.into())
            }
            Some(Ok(msg)) => {
                self.echoed += 1;
                self.room.clone_from(&msg.room);
                Ok(reply(msg.room, format!("echo: {}", msg.text)))
            }
            None => {
                self.done = true;
                let farewell = format!("bye {} messages", self.echoed);
                Ok(reply(self.room.clone(), farewell))
            }
            Some(Err(status)) => {
                self.done = true;
                Err(status)
            }
        };
        Some((item, self))
    }
}

/// The reply stream for the incoming `inbound` messages.
pub fn conversation<S>(
    inbound: S,
) -> impl Stream<Item = Result<ChatMessage, Status>> + Send + 'static
where
    S: Stream<Item = Result<ChatMessage, Status>> + Unpin + Send + 'static,
{
    let state = Conversation {
        inbound,
        echoed: 0,
        room: String::new(),
        done: false,
    };
    unfold(state, Conversation::next)
}

#[tonic::async_trait]
impl ChatService for DemoChatService {
    type ChatStream = ResponseStream<ChatMessage>;

    async fn chat(
        &self,
        request: Request<Streaming<ChatMessage>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let replies = conversation(request.into_inner());
        Ok(Response::new(Box::pin(self.probe.track(replies))))
    }
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
