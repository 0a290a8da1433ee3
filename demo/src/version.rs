//! Two versions of the demo, for trying rollouts and upstream policies by hand: v1, and v2,
//! which serves the same services and shows itself in what a client gets back. v2's
//! difference is in every reply, not in some method or state, so a test (or a curl user) can
//! tell with any one call which version served it:
//!
//! - every `User` in a UserService reply (GetUser, CreateUser, UpdateUser, ListUsers,
//!   StreamUsers) carries the tag [`V2_TAG`] as its last entry of `tags` (appended when the
//!   stored user does not already have it; the store itself is not changed);
//! - every response's `x-served-by` header says [`SERVED_BY_VALUE_V2`] instead of
//!   [`SERVED_BY_VALUE`] (through the gateway: `grpc-metadata-x-served-by`).

use std::fmt;
use std::str::FromStr;

use super::pb::User;
use super::response_metadata::SERVED_BY_VALUE;

/// The tag v2 adds to every user it replies with.
pub const V2_TAG: &str = "v2";
/// v2's value of the `x-served-by` header.
pub const SERVED_BY_VALUE_V2: &str = "h2gate-demo-v2";

/// Which version of the demo a server runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoVersion {
    #[default]
    V1,
    V2,
}

/// A version name that is neither `v1` nor `v2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown demo version {0:?}: expected v1 or v2")]
pub struct UnknownVersion(pub String);

impl DemoVersion {
    /// Every version, by name.
    pub const ALL: [Self; 2] = [Self::V1, Self::V2];

    pub fn name(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }

    /// The value of the `x-served-by` header on this version's responses.
    pub fn served_by(self) -> &'static str {
        match self {
            Self::V1 => SERVED_BY_VALUE,
            Self::V2 => SERVED_BY_VALUE_V2,
        }
    }

    /// `user` as this version replies with it.
    pub fn present(self, mut user: User) -> User {
        if self == Self::V2 && !user.tags.iter().any(|tag| tag == V2_TAG) {
            user.tags.push(V2_TAG.to_owned());
        }
        user
    }
}

impl fmt::Display for DemoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DemoVersion {
    type Err = UnknownVersion;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|version| version.name() == name)
            .ok_or_else(|| UnknownVersion(name.to_owned()))
    }
}

#[cfg(test)]
#[path = "version_tests.rs"]
mod tests;
