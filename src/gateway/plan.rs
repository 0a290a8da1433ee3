//! Building everything the gateway needs from config, offline: descriptors, rules, the route
//! table, JSON options, business codes and the header policy. Every problem is collected so
//! `h2gate check` can report them all at once.

use std::sync::Arc;

use crate::config::{Config, UpstreamConfig};
use crate::descriptors;
use crate::embedded::{EmbeddedBackend, PLACEHOLDER_ENDPOINT};
use crate::errors::BusinessCodes;
use crate::routing::RouteTable;
use crate::routing::rule_sources;
use crate::traffic::{self, TrafficTable};
use crate::transcoding::Transcoder;
use crate::upstream::metadata::HeaderForwarding;

pub struct Plan {
    pub routes: RouteTable,
    /// The `[[traffic]]` rules routes may point at.
    pub traffic: TrafficTable,
    /// The effective upstream list (config plus the embedded backend), indexed by `UpstreamId`.
    pub upstreams: Vec<UpstreamConfig>,
    /// Every route's transcoding, with the JSON options and direct writers.
    pub transcoder: Arc<Transcoder>,
    pub codes: BusinessCodes,
    pub forwarding: HeaderForwarding,
    pub max_body_bytes: usize,
    /// Request heads larger than this get 431 (headers) or 414 (URI).
    pub max_header_bytes: u32,
    /// A body read whole, or one streamed request message, must arrive within this.
    pub request_timeout: std::time::Duration,
}

impl Plan {
    /// `embedded`: the backend `[demo] embedded` starts, and where it listens (`None`: not
    /// started, as in `check`).
    pub fn build(
        config: &Config,
        embedded: Option<(&EmbeddedBackend, Option<&str>)>,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut upstreams = config.upstreams.clone();
        let mut extra_sets: Vec<(&str, &[u8])> = Vec::new();
        match (config.demo.embedded, embedded) {
            (true, Some((backend, endpoint))) => {
                upstreams.push(backend.upstream_config(endpoint.unwrap_or(PLACEHOLDER_ENDPOINT)));
                extra_sets.push(("embedded demo descriptors", backend.descriptor_set));
            }
            (true, None) => problems
                .push("[demo] embedded = true, but this build has no embedded demo".to_owned()),
            (false, _) => {}
        }
        let pool =
            descriptors::load(&config.descriptors, &extra_sets).map_err(|err| err.problems())?;
        for upstream in &config.upstreams {
            for service in upstream.services.iter().map(toml::Spanned::get_ref) {
                if service != "*" && pool.get_service_by_name(service).is_none() {
                    problems.push(format!(
                        "upstream {:?}: service {service:?} is not in the loaded descriptors",
                        upstream.name
                    ));
                }
            }
        }
        let codes = BusinessCodes::with_overrides(config.errors.codes.clone())
            .map_err(|err| format!("[errors.codes]: {err}"));
        let forwarding = HeaderForwarding::new(&config.metadata.forward_headers)
            .map_err(|err| format!("[metadata] {err}"));
        let (rules, mut rule_problems) = rule_sources::collect(
            &pool,
            &config.http_rules,
            &config.descriptors.http_rule_files,
        );
        problems.append(&mut rule_problems);
        let traffic = traffic::compile(config, &upstreams, &pool);
        let traffic = traffic.map_err(|mut found| problems.append(&mut found));
        let no_rules = TrafficTable::default();
        let table = traffic.as_ref().unwrap_or(&no_rules);
        let routes = RouteTable::build(&rules, config.routing.multi_segment_decoding, |method| {
            table.destination(method, &upstreams)
        });
        let routes = routes.map_err(|mut found| problems.append(&mut found));
        let codes = codes.map_err(|p| problems.push(p));
        let forwarding = forwarding.map_err(|p| problems.push(p));
        match (routes, traffic, codes, forwarding) {
            (Ok(routes), Ok(traffic), Ok(codes), Ok(forwarding)) if problems.is_empty() => {
                Ok(Self {
                    traffic,
                    transcoder: Arc::new(Transcoder::new(
                        config.json,
                        pool,
                        routes.routes().iter().map(|route| &*route.rules),
                    )),
                    routes,
                    upstreams,
                    codes,
                    forwarding,
                    max_body_bytes: config.server.max_body_bytes,
                    max_header_bytes: config.limits.max_header_bytes,
                    request_timeout: std::time::Duration::from_millis(
                        config.limits.request_timeout_ms,
                    ),
                })
            }
            _ => Err(problems),
        }
    }
}

/// Problems as a bulleted list, one per line; a problem's further lines (help, hints) are
/// indented under its bullet.
pub fn problem_list(problems: &[String]) -> String {
    problems
        .iter()
        .map(|problem| format!("  - {}", problem.replace('\n', "\n    ")))
        .collect::<Vec<_>>()
        .join("\n")
}
