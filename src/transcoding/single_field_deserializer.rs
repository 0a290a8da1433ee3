//! A serde `Deserializer` that presents a JSON value as the only entry of an object,
//! `{"<field>": <value>}`, without copying or re-framing the body bytes.
//!
//! prost-reflect can only deserialize whole messages; this lets it deserialize the request
//! message with just the body field set, while the JSON value is read straight from the body's
//! `serde_json::Deserializer` (so error positions still point into the client's body, and a body
//! such as `1, "other": 2` cannot smuggle in extra fields as naive string wrapping would allow).

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

pub(crate) struct SingleFieldDeserializer<'a, R> {
    key: &'a str,
    value: &'a mut serde_json::Deserializer<R>,
}

impl<'a, R> SingleFieldDeserializer<'a, R> {
    pub(crate) fn new(key: &'a str, value: &'a mut serde_json::Deserializer<R>) -> Self {
        SingleFieldDeserializer { key, value }
    }
}

impl<'de, R: serde_json::de::Read<'de>> de::Deserializer<'de> for SingleFieldDeserializer<'_, R> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(SingleEntry {
            key: Some(self.key),
            value: self.value,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct SingleEntry<'a, R> {
    key: Option<&'a str>,
    value: &'a mut serde_json::Deserializer<R>,
}

impl<'de, R: serde_json::de::Read<'de>> MapAccess<'de> for SingleEntry<'_, R> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        seed.deserialize(&mut *self.value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.key.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[test]
    fn presents_the_value_under_the_key() {
        let mut json = serde_json::Deserializer::from_slice(br#"[1, 2]"#);
        let parsed =
            BTreeMap::<String, Vec<u8>>::deserialize(SingleFieldDeserializer::new("xs", &mut json))
                .expect("parses");
        json.end().expect("nothing trailing");
        assert_eq!(parsed, BTreeMap::from([("xs".to_owned(), vec![1, 2])]));
    }

    #[test]
    fn trailing_content_is_left_for_end_to_reject() {
        let mut json = serde_json::Deserializer::from_slice(br#"1, "other": 2"#);
        let parsed =
            BTreeMap::<String, u8>::deserialize(SingleFieldDeserializer::new("x", &mut json))
                .expect("first value parses");
        assert_eq!(parsed.len(), 1);
        assert!(json.end().is_err());
    }
}
