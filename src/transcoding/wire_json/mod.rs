//! Protobuf wire bytes straight to JSON, for reply types made of plain fields.
//!
//! The general path decodes a reply into a `DynamicMessage` (a map of boxed values) and then
//! serializes that; on a small reply that is most of the gateway's transcoding time. For a
//! message type whose fields are all scalars, strings, bytes, enums, `Timestamp`s, maps and
//! messages of such types (repeated or not), a writer compiled once per type reads the wire format and
//! writes the JSON directly, with the same output as the general path (`prost-reflect`'s
//! mapping, through the same `serde_json` primitives; map entries in wire order, where the
//! general path's order is a hash map's). Anything else — `Any`, `Struct`, wrappers, other
//! well-known types, extensions, groups — keeps the general path, and so does any reply the
//! writer does not fully understand (malformed bytes, a message field sent twice, two members
//! of one oneof, a map key sent twice): it answers `None` and the general path decides, errors
//! included.

mod compile;
mod wire;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use prost_reflect::MessageDescriptor;

use compile::{MessageWriter, Table};
use write::write_message;

/// Writers for every message type that can have one, by full name.
#[derive(Debug, Default)]
pub struct WireJson {
    writers: HashMap<String, Arc<[MessageWriter]>>,
}

impl WireJson {
    /// Compiles writers for `messages` (the reply types of the routes) where possible.
    pub fn compile<'a>(
        messages: impl IntoIterator<Item = &'a MessageDescriptor>,
        use_proto_names: bool,
    ) -> Self {
        let mut writers = HashMap::new();
        for message in messages {
            if writers.contains_key(message.full_name()) {
                continue;
            }
            let mut table = Table::default();
            if table.add(message, use_proto_names).is_some() {
                let compiled: Vec<MessageWriter> = table
                    .writers
                    .into_iter()
                    .map(|w| w.unwrap_or_else(MessageWriter::empty))
                    .collect();
                writers.insert(message.full_name().to_owned(), compiled.into());
            }
        }
        Self { writers }
    }

    /// The JSON of `bytes` as a `message`, or `None` when the general path must decide.
    /// `emit_unpopulated`: write fields without presence even at their default value.
    pub fn write(
        &self,
        message: &MessageDescriptor,
        bytes: &[u8],
        emit_unpopulated: bool,
    ) -> Option<Vec<u8>> {
        let table = self.writers.get(message.full_name())?;
        let mut out = Vec::with_capacity(bytes.len() * 2 + 32);
        write_message(table, 0, bytes, emit_unpopulated, &mut out, 0)?;
        Some(out)
    }
}
