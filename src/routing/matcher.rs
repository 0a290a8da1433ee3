//! Maps `(HTTP method, raw request path)` to the registered route and its decoded path bindings.
//!
//! Matching semantics (grpc-httpjson-transcoding's, with the deviations noted):
//! - specificity, independent of insertion order: at each segment a literal beats `*`, `*` beats
//!   `**`, with backtracking when the more specific branch fails further on (method included: a
//!   literal route registered only for POST does not hide a `*` route for GET);
//! - `**` matches zero or more segments (as `google/api/http.proto` says), also when literals
//!   follow it (the C++ library there requires at least one); the longest literal suffix wins;
//! - `*` never matches an empty segment (`/v1/users//x`), `**` may swallow empty segments;
//! - literals and verbs are compared with the raw, still-encoded request text, case-sensitively
//!   (as the C++ library does): `/v1/%75sers` does not match `/v1/users`;
//! - a trailing `:xyz` is a verb only if some route registers `xyz` and that match succeeds,
//!   otherwise the colon is data; one trailing `/` is ignored (and then there is no verb);
//! - same method and shape registered twice is rejected at insert (the C++ library makes both
//!   unreachable instead).

use std::collections::HashSet;

use http::Method;

use super::percent::{MultiSegmentDecoding, PercentError, decode_at};
use super::request_path::{BODY_OFFSET, RequestPath, segment_count, segment_span, segments};
use super::template::PathTemplate;
use super::trie::{Leaf, Node, Visitor};

/// A path variable's decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathBinding {
    /// Index into `template.variables()`.
    pub variable: usize,
    /// The percent-decoded value (multi-segment values per [`MultiSegmentDecoding`]).
    pub value: String,
}

/// A successful lookup.
#[derive(Debug)]
pub struct RouteMatch<'a, T> {
    pub value: &'a T,
    pub template: &'a PathTemplate,
    /// One binding per template variable, in template order.
    pub bindings: Vec<PathBinding>,
}

/// Outcome of [`PathMatcher::lookup`].
#[derive(Debug)]
pub enum Lookup<'a, T> {
    Matched(RouteMatch<'a, T>),
    /// The path matches routes registered for other methods only (sorted by name, deduplicated).
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
    /// The route matched but a bound variable is not decodable (answer 400).
    InvalidPath(PercentError),
}

#[derive(Debug)]
struct Route<T> {
    method: Method,
    template: PathTemplate,
    value: T,
}

/// Route table for `google.api.http` templates; see the module docs for the semantics.
#[derive(Debug)]
pub struct PathMatcher<T> {
    decoding: MultiSegmentDecoding,
    root: Node,
    routes: Vec<Route<T>>,
    verbs: HashSet<Box<str>>,
}

impl<T> Default for PathMatcher<T> {
    fn default() -> Self {
        Self::new(MultiSegmentDecoding::default())
    }
}

impl<T> PathMatcher<T> {
    pub fn new(decoding: MultiSegmentDecoding) -> Self {
        Self {
            decoding,
            root: Node::default(),
            routes: Vec::new(),
            verbs: HashSet::new(),
        }
    }

    pub fn decoding(&self) -> MultiSegmentDecoding {
        self.decoding
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Registered routes in insertion order.
    pub fn routes(&self) -> impl Iterator<Item = (&Method, &PathTemplate, &T)> {
        self.routes
            .iter()
            .map(|r| (&r.method, &r.template, &r.value))
    }

    /// Registers a route. `Err` returns the value already registered for the same method and
    /// matching shape (same literals, wildcards and verb; variable names are irrelevant).
    pub fn insert(&mut self, method: Method, template: PathTemplate, value: T) -> Result<(), &T> {
        let index = self.routes.len();
        if let Err(existing) = self.root.insert(&template, method.clone(), index) {
            return match self.routes.get(existing) {
                Some(route) => Err(&route.value),
                // Unreachable: the trie only stores indices of pushed routes.
                None => Ok(()),
            };
        }
        if let Some(verb) = template.verb() {
            self.verbs.insert(verb.into());
        }
        self.routes.push(Route {
            method,
            template,
            value,
        });
        Ok(())
    }

    /// Finds the route for `method` and the raw (percent-encoded) `path`, without query string.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_, T> {
        let Some(request) = RequestPath::parse(path) else {
            return Lookup::NotFound;
        };
        let with_verb = request
            .verb_split
            .filter(|(_, verb)| self.verbs.contains(*verb))
            .map(|(body, verb)| (body, Some(verb)));
        let attempts = [with_verb, Some((request.body, None))];

        for (body, verb) in attempts.into_iter().flatten() {
            let mut first = FirstForMethod {
                method,
                verb,
                found: None,
            };
            self.root.walk(segments(body), &mut first);
            if let Some(index) = first.found {
                return self.bind(index, body);
            }
        }

        let mut all = AllMethods {
            verb: None,
            methods: Vec::new(),
        };
        for (body, verb) in attempts.into_iter().flatten() {
            all.verb = verb;
            self.root.walk(segments(body), &mut all);
        }
        if all.methods.is_empty() {
            return Lookup::NotFound;
        }
        let mut allowed = all.methods;
        allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        allowed.dedup();
        Lookup::MethodNotAllowed { allowed }
    }

    /// Extracts and decodes the bindings of route `index` matched against `body`.
    fn bind(&self, index: usize, body: &str) -> Lookup<'_, T> {
        let Some(route) = self.routes.get(index) else {
            return Lookup::NotFound;
        };
        let template = &route.template;
        let path_segments = segment_count(body);
        let pieces = template.piece_count();
        let double_at = template.tail().map(|_| template.head().len());
        // Maps a piece boundary of the template to a segment boundary of the request: after a
        // `**`, shift by the number of segments it swallowed minus one.
        let boundary = |piece: usize| match double_at {
            Some(at) if piece > at => (piece + path_segments).checked_sub(pieces),
            _ => Some(piece),
        };

        let mut bindings = Vec::with_capacity(template.variables().len());
        for (variable, var) in template.variables().iter().enumerate() {
            let (start, end) = var.piece_range();
            let (Some(from), Some(to)) = (boundary(start), boundary(end)) else {
                return Lookup::NotFound;
            };
            let (raw, offset) = if from >= to {
                ("", BODY_OFFSET)
            } else {
                let Some((a, b)) = segment_span(body, from, to) else {
                    return Lookup::NotFound;
                };
                (body.get(a..b).unwrap_or_default(), BODY_OFFSET + a)
            };
            let decoded = if var.is_multi_segment() {
                let mode = self.decoding;
                decode_at(raw, offset, |b| mode.keeps_encoded(b))
            } else {
                decode_at(raw, offset, |_| false)
            };
            match decoded {
                Ok(value) => bindings.push(PathBinding { variable, value }),
                Err(error) => return Lookup::InvalidPath(error),
            }
        }
        Lookup::Matched(RouteMatch {
            value: &route.value,
            template,
            bindings,
        })
    }
}

/// Stops at the first leaf holding a route for `method`.
struct FirstForMethod<'m> {
    method: &'m Method,
    verb: Option<&'m str>,
    found: Option<usize>,
}

impl Visitor for FirstForMethod<'_> {
    fn visit(&mut self, leaf: &Leaf) -> bool {
        self.found = leaf
            .routes(self.verb)
            .iter()
            .find(|(m, _)| m == self.method)
            .map(|&(_, index)| index);
        self.found.is_some()
    }
}

/// Collects the methods of every leaf matching the path (for 405 answers).
struct AllMethods<'m> {
    verb: Option<&'m str>,
    methods: Vec<Method>,
}

impl Visitor for AllMethods<'_> {
    fn visit(&mut self, leaf: &Leaf) -> bool {
        self.methods
            .extend(leaf.routes(self.verb).iter().map(|(m, _)| m.clone()));
        false
    }
}

#[cfg(test)]
mod tests;
