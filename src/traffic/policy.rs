//! One `[[traffic]]` rule as the request path uses it: overrides, then a weighted split that
//! is random per call, or by a hash of `hash_header`'s value when the request carries it.
//! The hash maps a value to a point on [0, total weight): moving a little weight between
//! upstreams moves only the values whose points lie in the moved slice, so most clients stay
//! where they were (what "consistent" asks of a two- or three-way split).

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::random;
use crate::routing::UpstreamId;

#[derive(Debug)]
pub struct TrafficPolicy {
    pub(super) overrides: Vec<Override>,
    /// Upstreams and their weights, in a fixed order (by name), each weight > 0.
    pub(super) weights: Vec<(UpstreamId, u64)>,
    pub(super) hash_header: Option<HeaderName>,
}

#[derive(Debug)]
pub(super) struct Override {
    pub header: HeaderName,
    /// `None`: any value.
    pub value: Option<HeaderValue>,
    pub upstream: UpstreamId,
}

impl TrafficPolicy {
    /// The upstream for a request with `headers`; `default` serves it when the policy has no
    /// weights and no override matches.
    pub fn pick(&self, headers: &HeaderMap, default: UpstreamId) -> UpstreamId {
        for rule in &self.overrides {
            let matched = match &rule.value {
                None => headers.contains_key(&rule.header),
                Some(value) => headers.get_all(&rule.header).iter().any(|v| v == value),
            };
            if matched {
                return rule.upstream;
            }
        }
        let total: u64 = self.weights.iter().map(|(_, weight)| weight).sum();
        if total == 0 {
            return default;
        }
        let point = match self.hash_header.as_ref().and_then(|name| headers.get(name)) {
            Some(value) => point_of(value.as_bytes(), total),
            None => random::below(total),
        };
        let mut end = 0;
        for (upstream, weight) in &self.weights {
            end += weight;
            if point < end {
                return *upstream;
            }
        }
        default
    }
}

/// Where a header value falls on [0, total): FNV-1a, then a finalizer so that similar values
/// spread, then scaled (not reduced modulo, which would reshuffle on any weight change).
fn point_of(value: &[u8], total: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in value {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    ((u128::from(hash) * u128::from(total)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: UpstreamId = UpstreamId(0);
    const V2: UpstreamId = UpstreamId(1);

    fn split(v1: u64, v2: u64, hash: bool) -> TrafficPolicy {
        TrafficPolicy {
            overrides: vec![Override {
                header: HeaderName::from_static("x-canary"),
                value: Some(HeaderValue::from_static("true")),
                upstream: V2,
            }],
            weights: vec![(V1, v1), (V2, v2)],
            hash_header: hash.then(|| HeaderName::from_static("x-user-id")),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn weights_split_calls_in_proportion() {
        let policy = split(90, 10, false);
        let none = HeaderMap::new();
        let v2 = (0..20_000).filter(|_| policy.pick(&none, V1) == V2).count();
        // 10 % of 20 000 is 2 000; 4.5 standard deviations is ±190.
        assert!((1_810..=2_190).contains(&v2), "{v2}");
    }

    #[test]
    fn an_override_goes_first_and_needs_its_value() {
        let policy = split(100, 0, false);
        assert_eq!(policy.pick(&headers(&[("x-canary", "true")]), V1), V2);
        assert_eq!(policy.pick(&headers(&[("x-canary", "false")]), V1), V1);
        let any_value = TrafficPolicy {
            overrides: vec![Override {
                header: HeaderName::from_static("x-canary"),
                value: None,
                upstream: V2,
            }],
            weights: Vec::new(),
            hash_header: None,
        };
        assert_eq!(
            any_value.pick(&headers(&[("x-canary", "anything")]), V1),
            V2
        );
        assert_eq!(
            any_value.pick(&HeaderMap::new(), V1),
            V1,
            "no weights: the default"
        );
    }

    #[test]
    fn the_same_hash_value_lands_on_the_same_side_and_few_move_when_weights_shift() {
        let before = split(90, 10, true);
        let after = split(88, 12, true);
        let mut moved = 0;
        let mut on_v2 = 0;
        for user in 0..10_000 {
            let request = headers(&[("x-user-id", &format!("user-{user}"))]);
            let first = before.pick(&request, V1);
            assert_eq!(before.pick(&request, V1), first, "sticky");
            on_v2 += usize::from(first == V2);
            if after.pick(&request, V1) != first {
                moved += 1;
            }
        }
        assert!((800..=1_200).contains(&on_v2), "{on_v2}");
        // 2 % of the weight moved: about 2 % of the users, and only towards v2.
        assert!((100..=300).contains(&moved), "{moved}");
    }
}
