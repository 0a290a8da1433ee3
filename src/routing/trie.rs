//! The segment trie behind `PathMatcher`.
//!
//! Forward nodes branch on literal segments (hash lookup), `*`, and `**`. Since only literals may
//! follow a `**`, everything after it is stored in a *suffix* trie keyed from the last segment
//! backwards: the request's trailing segments pick the suffix, and `**` takes whatever lies in
//! between (zero or more segments). Lookup cost therefore depends on the path depth and the
//! number of branch kinds per node, never on the number of routes.
//!
//! Precedence, applied at every segment with backtracking: literal, then `*`, then `**`; inside
//! a `**`, the longest literal suffix first. The walk is generic over a [`Visitor`] so the same
//! traversal serves "first route for this method" and "every method matching this path" (405).

use std::collections::HashMap;

use http::Method;

use super::template::{HeadSegment, PathTemplate};

/// Route indices registered at one trie position, per verb and method.
#[derive(Debug, Default)]
pub(crate) struct Leaf {
    plain: Vec<(Method, usize)>,
    verbs: HashMap<Box<str>, Vec<(Method, usize)>>,
}

impl Leaf {
    pub(crate) fn routes(&self, verb: Option<&str>) -> &[(Method, usize)] {
        match verb {
            None => &self.plain,
            Some(v) => self.verbs.get(v).map_or(&[], Vec::as_slice),
        }
    }

    /// Registers `route` unless the method is taken; returns the index already registered.
    fn insert(&mut self, verb: Option<&str>, method: Method, route: usize) -> Result<(), usize> {
        let slot = match verb {
            None => &mut self.plain,
            Some(v) => self.verbs.entry(v.into()).or_default(),
        };
        if let Some((_, existing)) = slot.iter().find(|(m, _)| *m == method) {
            return Err(*existing);
        }
        slot.push((method, route));
        Ok(())
    }
}

/// Receives the leaves reached by a full match of the request path.
pub(crate) trait Visitor {
    /// Returns `true` to stop the walk (a route was chosen).
    fn visit(&mut self, leaf: &Leaf) -> bool;
}

#[derive(Debug, Default)]
pub(crate) struct Node {
    literals: HashMap<Box<str>, Node>,
    wildcard: Option<Box<Node>>,
    double_wildcard: Option<Box<SuffixNode>>,
    leaf: Leaf,
}

/// A node of the suffix trie below a `**`; children are keyed by the segment *preceding* the
/// ones already matched.
#[derive(Debug, Default)]
struct SuffixNode {
    literals: HashMap<Box<str>, SuffixNode>,
    leaf: Leaf,
}

impl Node {
    /// Adds the template's shape; `Err` carries the route index already registered for it.
    pub(crate) fn insert(
        &mut self,
        template: &PathTemplate,
        method: Method,
        route: usize,
    ) -> Result<(), usize> {
        let mut node = self;
        for segment in template.head() {
            node = match segment {
                HeadSegment::Literal(l) => node.literals.entry(l.as_str().into()).or_default(),
                HeadSegment::Wildcard => node.wildcard.get_or_insert_default(),
            };
        }
        let leaf = match template.tail() {
            None => &mut node.leaf,
            Some(suffix) => {
                let mut suffix_node: &mut SuffixNode = node.double_wildcard.get_or_insert_default();
                for literal in suffix.iter().rev() {
                    suffix_node = suffix_node
                        .literals
                        .entry(literal.as_str().into())
                        .or_default();
                }
                &mut suffix_node.leaf
            }
        };
        leaf.insert(template.verb(), method, route)
    }

    /// Walks the segments of `rest` (`None` when no segment is left; `Some("")` is one empty
    /// segment). Returns `true` as soon as the visitor stops the walk.
    pub(crate) fn walk(&self, rest: Option<&str>, visitor: &mut impl Visitor) -> bool {
        let Some(rest) = rest else {
            return visitor.visit(&self.leaf)
                || self
                    .double_wildcard
                    .as_ref()
                    .is_some_and(|s| s.walk(None, visitor));
        };
        let (segment, next) = match rest.split_once('/') {
            Some((segment, next)) => (segment, Some(next)),
            None => (rest, None),
        };
        if let Some(child) = self.literals.get(segment)
            && child.walk(next, visitor)
        {
            return true;
        }
        if !segment.is_empty()
            && let Some(child) = &self.wildcard
            && child.walk(next, visitor)
        {
            return true;
        }
        self.double_wildcard
            .as_ref()
            .is_some_and(|s| s.walk(Some(rest), visitor))
    }
}

impl SuffixNode {
    /// `rest` is what the `**` would swallow if the walk stopped here; longer suffixes are
    /// tried first so that literals beat the wildcard.
    fn walk(&self, rest: Option<&str>, visitor: &mut impl Visitor) -> bool {
        if let Some(rest) = rest {
            let (before, last) = match rest.rsplit_once('/') {
                Some((before, last)) => (Some(before), last),
                None => (None, rest),
            };
            if let Some(child) = self.literals.get(last)
                && child.walk(before, visitor)
            {
                return true;
            }
        }
        visitor.visit(&self.leaf)
    }
}
