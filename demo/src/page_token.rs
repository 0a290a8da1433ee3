//! Opaque ListUsers page tokens. A token records the last `user_id` already returned (keyset
//! paging), so pages stay consistent when users are created or deleted between calls. Clients
//! must treat it as opaque; the base64url wrapping and version prefix keep it that way.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

const PREFIX: &str = "v1:after:";

/// Where the next page starts: strictly after `after` in user-id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    after: String,
}

/// Why a client-supplied page token was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    #[error("page token is not valid base64url")]
    NotBase64,
    #[error("page token does not decode to UTF-8 text")]
    NotUtf8,
    #[error("page token was not issued by this server")]
    UnknownFormat,
}

impl PageToken {
    /// A token resuming after `last_user_id`.
    pub fn after(last_user_id: impl Into<String>) -> Self {
        Self {
            after: last_user_id.into(),
        }
    }

    /// The last user id of the previous page.
    pub fn last_user_id(&self) -> &str {
        &self.after
    }

    /// The opaque wire form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}", self.after))
    }

    /// Parses a wire token; an empty string is "first page" and is handled by the caller.
    pub fn decode(token: &str) -> Result<Self, PageTokenError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| PageTokenError::NotBase64)?;
        let text = String::from_utf8(raw).map_err(|_| PageTokenError::NotUtf8)?;
        let after = text
            .strip_prefix(PREFIX)
            .filter(|rest| !rest.is_empty())
            .ok_or(PageTokenError::UnknownFormat)?;
        Ok(Self::after(after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for id in ["1", "42", "user_7-b"] {
            let token = PageToken::after(id);
            let wire = token.encode();
            assert!(!wire.contains(':'), "token should be opaque: {wire}");
            assert_eq!(PageToken::decode(&wire), Ok(token));
        }
    }

    #[test]
    fn rejects_foreign_tokens() {
        let cases = [
            ("not base64!", PageTokenError::NotBase64),
            ("%%%", PageTokenError::NotBase64),
            (
                &URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
                PageTokenError::NotUtf8,
            ),
            (&URL_SAFE_NO_PAD.encode("42"), PageTokenError::UnknownFormat),
            (
                &URL_SAFE_NO_PAD.encode(PREFIX),
                PageTokenError::UnknownFormat,
            ),
        ];
        for (wire, expected) in cases {
            assert_eq!(PageToken::decode(wire), Err(expected), "{wire}");
        }
    }
}
