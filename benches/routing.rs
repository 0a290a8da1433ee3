//! Route lookup cost against the table size: 10 routes vs 1,000 routes.
//!
//! The tables are built from "resource families" of 10 realistic `google.api.http` templates each
//! (literals, single and nested variables, resource patterns, `**`, custom verbs, several methods
//! per shape); 10 routes is one family, 1,000 routes is 100 families (`res0` .. `res99`). Every
//! iteration looks up the same 8 requests (hits, a verb, `**`, a percent-encoded value, a 405 and
//! a 404) in the *last* family, so both tables do the same work and only the size differs.
//!
//! `cargo bench --bench routing` (add `-- --quick` for a short run). After criterion's output a
//! summary line prints the 1,000/10 time ratio from a separate short timing loop.

// Test and benchmark code: a failure should panic loudly (the workspace denies these lints
// for library code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use h2gate::internals::{Lookup, MultiSegmentDecoding, PathMatcher, PathTemplate};
use http::Method;

const FAMILY: usize = 10;

fn family(i: usize) -> Vec<(Method, String)> {
    let r = format!("res{i}");
    vec![
        (Method::GET, format!("/v1/{r}/{{id}}")),
        (Method::POST, format!("/v1/{r}")),
        (Method::PATCH, format!("/v1/{r}/{{item.id}}")),
        (Method::DELETE, format!("/v1/{r}/{{id}}")),
        (Method::GET, format!("/v1/{r}")),
        (Method::POST, format!("/v1/{r}/{{id}}:archive")),
        (Method::GET, format!("/v1/{r}:search")),
        (
            Method::GET,
            format!("/v1/{{name=projects/*/locations/*/{r}/*}}"),
        ),
        (
            Method::GET,
            format!("/v1/{{parent=projects/*}}/{r}/{{id}}/children"),
        ),
        (Method::GET, format!("/v1/{r}/{{id}}/files/{{path=**}}")),
    ]
}

fn matcher(routes: usize) -> PathMatcher<usize> {
    let mut m = PathMatcher::new(MultiSegmentDecoding::default());
    for i in 0..routes / FAMILY {
        for (method, text) in family(i) {
            let template = PathTemplate::parse(&text).expect("valid template");
            let value = m.len();
            assert!(
                m.insert(method, template, value).is_ok(),
                "duplicate {text}"
            );
        }
    }
    assert_eq!(m.len(), routes);
    m
}

/// The requests looked up per iteration, aimed at family `k`, with the expected outcome.
fn requests(k: usize) -> Vec<(Method, String, &'static str)> {
    let r = format!("res{k}");
    vec![
        (Method::GET, format!("/v1/{r}/12345"), "match"),
        (Method::POST, format!("/v1/{r}/abc:archive"), "match"),
        (Method::GET, format!("/v1/{r}:search"), "match"),
        (
            Method::GET,
            format!("/v1/projects/p1/locations/eu-west1/{r}/x9"),
            "match",
        ),
        (Method::GET, format!("/v1/{r}/id7/files/a/b/c.txt"), "match"),
        (Method::PATCH, format!("/v1/{r}/id%2F7"), "match"),
        (Method::PUT, format!("/v1/{r}/1"), "405"),
        (Method::GET, "/v1/nothing/here/at/all".to_owned(), "404"),
    ]
}

fn outcome<T>(lookup: &Lookup<'_, T>) -> &'static str {
    match lookup {
        Lookup::Matched(_) => "match",
        Lookup::MethodNotAllowed { .. } => "405",
        Lookup::NotFound => "404",
        Lookup::InvalidPath(_) => "400",
    }
}

fn setup(routes: usize) -> (PathMatcher<usize>, Vec<(Method, String, &'static str)>) {
    let m = matcher(routes);
    let reqs = requests(routes / FAMILY - 1);
    for (method, path, expected) in &reqs {
        assert_eq!(
            outcome(&m.lookup(method, path)),
            *expected,
            "{method} {path}"
        );
    }
    (m, reqs)
}

fn lookup_all(m: &PathMatcher<usize>, reqs: &[(Method, String, &'static str)]) -> usize {
    let mut n = 0;
    for (method, path, _) in reqs {
        if let Lookup::Matched(found) = m.lookup(black_box(method), black_box(path)) {
            n += found.bindings.len() + *found.value;
        }
    }
    n
}

const SIZES: [usize; 2] = [10, 1000];

fn bench_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing/lookup");
    for routes in SIZES {
        let (m, reqs) = setup(routes);
        group.throughput(Throughput::Elements(reqs.len() as u64));
        group.bench_function(format!("{routes}_routes"), |b| {
            b.iter(|| lookup_all(&m, &reqs))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("routing/lookup_get_one");
    for routes in SIZES {
        let (m, reqs) = setup(routes);
        let (method, path, _) = &reqs[0];
        group.bench_function(format!("{routes}_routes"), |b| {
            b.iter(|| {
                matches!(
                    m.lookup(black_box(method), black_box(path)),
                    Lookup::Matched(_)
                )
            })
        });
    }
    group.finish();
}

/// Mean time of one `lookup_all` batch over about `budget`.
fn time_batch(routes: usize, budget: Duration) -> Duration {
    let (m, reqs) = setup(routes);
    for _ in 0..1000 {
        black_box(lookup_all(&m, &reqs));
    }
    let start = Instant::now();
    let mut iterations = 0u32;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            black_box(lookup_all(&m, &reqs));
        }
        iterations += 1000;
    }
    start.elapsed() / iterations
}

fn summary() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let budget = Duration::from_millis(300);
    let small = time_batch(10, budget);
    let large = time_batch(1000, budget);
    let per = |d: Duration| d.as_secs_f64() * 1e9 / requests(0).len() as f64;
    println!(
        "summary: routing lookup {:.0} ns/request with 10 routes, {:.0} ns/request with 1000 routes: ratio 1000/10 = {:.2}",
        per(small),
        per(large),
        large.as_secs_f64() / small.as_secs_f64()
    );
}

criterion_group!(benches, bench_lookup);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
