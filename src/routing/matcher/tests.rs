use super::*;

/// Simplified lookup outcome for table-driven assertions.
#[derive(Debug, PartialEq)]
enum Got {
    /// (route label, [(dotted field, decoded value)])
    Match(&'static str, Vec<(String, String)>),
    NotAllowed(Vec<String>),
    NotFound,
    Invalid(PercentError),
}

use Got::{Invalid, NotFound};

fn not_allowed(methods: &[&str]) -> Got {
    Got::NotAllowed(methods.iter().map(ToString::to_string).collect())
}

fn m(label: &'static str, bindings: &[(&str, &str)]) -> Got {
    Got::Match(
        label,
        bindings
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect(),
    )
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// Builds a matcher whose values are the template texts.
fn build(
    decoding: MultiSegmentDecoding,
    routes: &[(&str, &'static str)],
) -> PathMatcher<&'static str> {
    let mut matcher = PathMatcher::new(decoding);
    for &(verb, template) in routes {
        let parsed = PathTemplate::parse(template).unwrap_or_else(|e| panic!("{template}: {e}"));
        assert!(
            matcher.insert(method(verb), parsed, template).is_ok(),
            "duplicate {verb} {template}"
        );
    }
    matcher
}

fn get_routes(templates: &[&'static str]) -> PathMatcher<&'static str> {
    let routes: Vec<_> = templates.iter().map(|&t| ("GET", t)).collect();
    build(MultiSegmentDecoding::default(), &routes)
}

fn run(matcher: &PathMatcher<&'static str>, verb: &str, path: &str) -> Got {
    match matcher.lookup(&method(verb), path) {
        Lookup::Matched(found) => {
            assert_eq!(found.bindings.len(), found.template.variables().len());
            let bindings = found
                .bindings
                .iter()
                .map(|b| {
                    let var = &found.template.variables()[b.variable];
                    (var.to_string(), b.value.clone())
                })
                .collect();
            assert_eq!(found.template.to_string(), *found.value);
            Got::Match(found.value, bindings)
        }
        Lookup::MethodNotAllowed { allowed } => {
            Got::NotAllowed(allowed.iter().map(ToString::to_string).collect())
        }
        Lookup::NotFound => NotFound,
        Lookup::InvalidPath(e) => Invalid(e),
    }
}

fn check(matcher: &PathMatcher<&'static str>, cases: &[(&str, &str, Got)]) {
    for (verb, path, want) in cases {
        assert_eq!(&run(matcher, verb, path), want, "{verb} {path}");
    }
}

fn check_get(matcher: &PathMatcher<&'static str>, cases: &[(&str, Got)]) {
    for (path, want) in cases {
        assert_eq!(&run(matcher, "GET", path), want, "GET {path}");
    }
}

#[test]
fn wildcard_precedence() {
    let routes = [
        "/a/**",
        "/b/*",
        "/c/*/d/**",
        "/c/*/d/e",
        "/c/f/d/e",
        "/",
        "/x/{id}",
        "/x/me",
        "/x/{rest=**}",
    ];
    let matcher = get_routes(&routes);
    check_get(
        &matcher,
        &[
            ("/a/b", m("/a/**", &[])),
            ("/a/b/c", m("/a/**", &[])),
            ("/a", m("/a/**", &[])),
            ("/b/c", m("/b/*", &[])),
            ("/b", NotFound),
            ("/b/c/d", NotFound),
            ("b/c/d", NotFound),
            ("/c/u/d/v", m("/c/*/d/**", &[])),
            ("/c/v/d/w/x", m("/c/*/d/**", &[])),
            ("/c/x/y/d/z", NotFound),
            ("/c//v/d/w/x", NotFound),
            ("/c/x/d/e", m("/c/*/d/e", &[])),
            ("/c/f/d/e", m("/c/f/d/e", &[])),
            ("/", m("/", &[])),
            ("/x/me", m("/x/me", &[])),
            ("/x/you", m("/x/{id}", &[("id", "you")])),
            ("/x/me/too", m("/x/{rest=**}", &[("rest", "me/too")])),
            ("/x", m("/x/{rest=**}", &[("rest", "")])),
        ],
    );
}

#[test]
fn results_do_not_depend_on_insertion_order() {
    let routes = [
        "/v1/{a}/b/{c}",
        "/v1/x/b/*",
        "/v1/x/{y=**}",
        "/v1/**/z",
        "/v1/{a}/{b}/{c}",
        "/v1/x/b/c:go",
        "/v1/{p=**}:go",
    ];
    let paths = [
        "/v1/x/b/c",
        "/v1/q/b/c",
        "/v1/x/q/c",
        "/v1/q/q/q",
        "/v1/x/b/z",
        "/v1/q/b/z",
        "/v1/x/b/c:go",
        "/v1/q/b/c:go",
        "/v1/x/y/z/w",
    ];
    let forward = get_routes(&routes);
    let mut reversed_routes = routes;
    reversed_routes.reverse();
    let reversed = get_routes(&reversed_routes);
    for path in paths {
        assert_eq!(
            run(&forward, "GET", path),
            run(&reversed, "GET", path),
            "{path}"
        );
    }
    check_get(
        &forward,
        &[
            ("/v1/x/b/c", m("/v1/x/b/*", &[])),
            ("/v1/q/b/c", m("/v1/{a}/b/{c}", &[("a", "q"), ("c", "c")])),
            ("/v1/x/q/c", m("/v1/x/{y=**}", &[("y", "q/c")])),
            (
                "/v1/q/q/q",
                m("/v1/{a}/{b}/{c}", &[("a", "q"), ("b", "q"), ("c", "q")]),
            ),
            ("/v1/x/b/z", m("/v1/x/b/*", &[])),
            ("/v1/q/b/z", m("/v1/{a}/b/{c}", &[("a", "q"), ("c", "z")])),
            ("/v1/x/b/c:go", m("/v1/x/b/c:go", &[])),
            ("/v1/q/b/c:go", m("/v1/{p=**}:go", &[("p", "q/b/c")])),
            ("/v1/y/y/y/z", m("/v1/**/z", &[])),
        ],
    );
}

#[test]
fn backtracking_over_segments_and_methods() {
    let matcher = build(
        MultiSegmentDecoding::default(),
        &[
            ("GET", "/v1/users/me/profile"),
            ("GET", "/v1/users/{id}/settings"),
            ("POST", "/v1/users/me"),
            ("GET", "/v1/users/{id}"),
            ("GET", "/v1/{rest=**}/settings"),
        ],
    );
    check(
        &matcher,
        &[
            (
                "GET",
                "/v1/users/me/profile",
                m("/v1/users/me/profile", &[]),
            ),
            (
                "GET",
                "/v1/users/me/settings",
                m("/v1/users/{id}/settings", &[("id", "me")]),
            ),
            ("GET", "/v1/users/me", m("/v1/users/{id}", &[("id", "me")])),
            ("POST", "/v1/users/me", m("/v1/users/me", &[])),
            (
                "GET",
                "/v1/users/a/b/settings",
                m("/v1/{rest=**}/settings", &[("rest", "users/a/b")]),
            ),
        ],
    );
}

#[test]
fn double_wildcard_with_literal_suffixes() {
    let matcher = get_routes(&[
        "/a/{x=b/**}",
        "/a/{x=b/**}/z",
        "/a/{x=b/**}/y/z",
        "/a/{x=b/**}:verb",
        "/a/{x=**}",
        "/c/{x}/{y=d/**}/e",
        "/c/{x}/{y=d/**}/e:verb",
        "/f/{x}/{y=**}/g",
        "/a/{x=b/*/y/z/**}/foo",
        "/a/{x=b/*/**/y/z}/foo",
        "/v1/{name=**}/foo",
        "/p/**/q",
    ]);
    check_get(
        &matcher,
        &[
            (
                "/a/b/hello/world/c",
                m("/a/{x=b/**}", &[("x", "b/hello/world/c")]),
            ),
            ("/a/b/world/c/z", m("/a/{x=b/**}/z", &[("x", "b/world/c")])),
            (
                "/a/b/world/c/y/z",
                m("/a/{x=b/**}/y/z", &[("x", "b/world/c")]),
            ),
            (
                "/a/b/world/c:verb",
                m("/a/{x=b/**}:verb", &[("x", "b/world/c")]),
            ),
            (
                "/a/hello/b/world/c",
                m("/a/{x=**}", &[("x", "hello/b/world/c")]),
            ),
            (
                "/c/hello/d/esp/world/e",
                m("/c/{x}/{y=d/**}/e", &[("x", "hello"), ("y", "d/esp/world")]),
            ),
            (
                "/c/hola/d/esp/mundo/e:verb",
                m(
                    "/c/{x}/{y=d/**}/e:verb",
                    &[("x", "hola"), ("y", "d/esp/mundo")],
                ),
            ),
            (
                "/f/foo/bar/baz/g",
                m("/f/{x}/{y=**}/g", &[("x", "foo"), ("y", "bar/baz")]),
            ),
            (
                "/a/b/foo/y/z/bar/baz/foo",
                m("/a/{x=b/*/y/z/**}/foo", &[("x", "b/foo/y/z/bar/baz")]),
            ),
            (
                "/a/b/foo/bar/baz/y/z/foo",
                m("/a/{x=b/*/**/y/z}/foo", &[("x", "b/foo/bar/baz/y/z")]),
            ),
            // `**` matches zero segments, also before literals.
            ("/a/b", m("/a/{x=b/**}", &[("x", "b")])),
            ("/a/b/z", m("/a/{x=b/**}/z", &[("x", "b")])),
            ("/v1/foo", m("/v1/{name=**}/foo", &[("name", "")])),
            ("/v1/x/y/foo", m("/v1/{name=**}/foo", &[("name", "x/y")])),
            ("/p/q", m("/p/**/q", &[])),
            ("/p/1/2/q", m("/p/**/q", &[])),
            ("/p/1/2", NotFound),
            ("/f/foo/g", m("/f/{x}/{y=**}/g", &[("x", "foo"), ("y", "")])),
        ],
    );
}

#[test]
fn double_wildcard_swallows_many_empty_segments_without_deep_recursion() {
    let matcher = get_routes(&["/a/**/x"]);
    let slashes = "/".repeat(64_000);
    assert_eq!(
        run(&matcher, "GET", &format!("/a/{slashes}/x")),
        m("/a/**/x", &[])
    );
    assert_eq!(run(&matcher, "GET", &format!("/a/{slashes}/y")), NotFound);
}

#[test]
fn multi_segment_variable_binding() {
    let matcher = get_routes(&[
        "/v1/{name=shelves/*/books/*}",
        "/v1/{parent=shelves/*}/books",
        "/{x=a/*}/b/{y}/c",
    ]);
    check_get(
        &matcher,
        &[
            (
                "/v1/shelves/1/books/2",
                m(
                    "/v1/{name=shelves/*/books/*}",
                    &[("name", "shelves/1/books/2")],
                ),
            ),
            (
                "/v1/shelves/1/books",
                m("/v1/{parent=shelves/*}/books", &[("parent", "shelves/1")]),
            ),
            ("/v1/shelves/1/books/2/x", NotFound),
            ("/v1/shelvez/1/books/2", NotFound),
            (
                "/a/hello/b/world/c",
                m("/{x=a/*}/b/{y}/c", &[("x", "a/hello"), ("y", "world")]),
            ),
        ],
    );
}

#[test]
fn verbs_and_colons_as_data() {
    let matcher = get_routes(&[
        "/person",
        "/person/{id}",
        "/{x=**}:verb",
        "/v1/greeter:sayHello",
        "/v1/users/{id}",
        "/v1/things/{id}:archive",
        "/some/const:verb",
        "/some/*:verb",
        "/some/*/foo:verb",
        "/other/**:verb",
        "/other/**/const:verb",
        "/two/{a}/{b}:verb",
    ]);
    check_get(
        &matcher,
        &[
            ("/person:verb", m("/{x=**}:verb", &[("x", "person")])),
            (
                "/person/jason:verb",
                m("/{x=**}:verb", &[("x", "person/jason")]),
            ),
            ("/animal:verb", m("/{x=**}:verb", &[("x", "animal")])),
            ("/person", m("/person", &[])),
            ("/person/jason", m("/person/{id}", &[("id", "jason")])),
            ("/animal", NotFound),
            // Unregistered verbs are data.
            ("/person:other", NotFound),
            (
                "/person/jason:other",
                m("/person/{id}", &[("id", "jason:other")]),
            ),
            ("/v1/users/a:b", m("/v1/users/{id}", &[("id", "a:b")])),
            ("/v1/greeter:sayHello", m("/v1/greeter:sayHello", &[])),
            ("/v1/greeter:sayhello", NotFound),
            // Registered verb whose match fails: the colon falls back to data.
            (
                "/v1/users/a:archive",
                m("/v1/users/{id}", &[("id", "a:archive")]),
            ),
            (
                "/v1/things/a:archive",
                m("/v1/things/{id}:archive", &[("id", "a")]),
            ),
            ("/some/const:verb", m("/some/const:verb", &[])),
            ("/some/other:verb", m("/some/*:verb", &[])),
            ("/some/other:verb/", NotFound),
            ("/some/bar/foo:verb", m("/some/*/foo:verb", &[])),
            ("/other/bar/foo:verb", m("/other/**:verb", &[])),
            ("/other/bar/foo/const:verb", m("/other/**/const:verb", &[])),
            // Only the last colon of the last segment can start a verb.
            (
                "/two/some:verb/const:verb",
                m("/two/{a}/{b}:verb", &[("a", "some:verb"), ("b", "const")]),
            ),
            ("/person/a:verb/x", NotFound),
        ],
    );

    let greedy = get_routes(&["/{a=**}:verb", "/{a=**}"]);
    check_get(
        &greedy,
        &[
            (
                "/some:verb/const:verb",
                m("/{a=**}:verb", &[("a", "some:verb/const")]),
            ),
            (
                "/some:verb/const",
                m("/{a=**}", &[("a", "some:verb/const")]),
            ),
            (
                "/some:verb2/const:verb2",
                m("/{a=**}", &[("a", "some:verb2/const:verb2")]),
            ),
        ],
    );
}

#[test]
fn trailing_slash_case_sensitivity_and_partial_matches() {
    let matcher = get_routes(&[
        "/v1/users/{id}",
        "/prefix/middle/suffix",
        "/prefix/middle",
        "/prefix",
        "/otherprefix/suffix",
    ]);
    check_get(
        &matcher,
        &[
            ("/v1/users/42", m("/v1/users/{id}", &[("id", "42")])),
            ("/v1/users/42/", m("/v1/users/{id}", &[("id", "42")])),
            ("/v1/users/42//", NotFound),
            ("/v1/users//", NotFound),
            ("/v1/users/", NotFound),
            ("/V1/users/42", NotFound),
            ("/v1/Users/42", NotFound),
            ("/prefix/middle/suffix", m("/prefix/middle/suffix", &[])),
            ("/prefix/middle", m("/prefix/middle", &[])),
            ("/prefix/", m("/prefix", &[])),
            ("/prefix/middle/suffix/other", NotFound),
            ("/prefix/middle/other", NotFound),
            ("/prefix/other", NotFound),
            ("/pre", NotFound),
            ("/prefixx", NotFound),
            ("/otherprefix/suffix?foo=bar", m("/otherprefix/suffix", &[])),
            ("", NotFound),
            ("*", NotFound),
            ("prefix", NotFound),
            ("/", NotFound),
        ],
    );
    assert_eq!(run(&get_routes(&[]), "GET", "/a/b"), NotFound);
}

#[test]
fn method_not_allowed_lists_sorted_methods() {
    let matcher = build(
        MultiSegmentDecoding::default(),
        &[
            ("GET", "/v1/users/{id}"),
            ("DELETE", "/v1/users/{id}"),
            ("POST", "/v1/users/me"),
            ("REPORT", "/v1/reports/{id}"),
            ("POST", "/v1/users/{id}:activate"),
            ("PATCH", "/v1/{path=**}:activate"),
        ],
    );
    check(
        &matcher,
        &[
            (
                "PUT",
                "/v1/users/me",
                not_allowed(&["DELETE", "GET", "POST"]),
            ),
            ("PUT", "/v1/users/42", not_allowed(&["DELETE", "GET"])),
            (
                "REPORT",
                "/v1/reports/7",
                m("/v1/reports/{id}", &[("id", "7")]),
            ),
            ("GET", "/v1/reports/7", not_allowed(&["REPORT"])),
            (
                "PUT",
                "/v1/users/42:activate",
                not_allowed(&["DELETE", "GET", "PATCH", "POST"]),
            ),
            // The verb only matches under POST/PATCH, so for GET the colon is data.
            (
                "GET",
                "/v1/users/42:activate",
                m("/v1/users/{id}", &[("id", "42:activate")]),
            ),
            (
                "POST",
                "/v1/users/42:activate",
                m("/v1/users/{id}:activate", &[("id", "42")]),
            ),
            // With the verb unmatched, the colon is data and `{id}` matches under GET.
            (
                "GET",
                "/v1/users/42:unknown",
                m("/v1/users/{id}", &[("id", "42:unknown")]),
            ),
            ("GET", "/v1/nothing/here/at/all", NotFound),
        ],
    );
}

#[test]
fn duplicate_shapes_are_rejected_with_the_existing_value() {
    // (first, second, duplicate?)
    let cases = [
        (("GET", "/v1/{a}"), ("GET", "/v1/{b=*}"), true),
        (("GET", "/v1/{a}"), ("GET", "/v1/*"), true),
        (("GET", "/v1/{a}"), ("POST", "/v1/{a}"), false),
        (("GET", "/v1/{a}"), ("GET", "/v1/{a}:verb"), false),
        (("GET", "/v1/{a}"), ("GET", "/v1/{a=**}"), false),
        (("GET", "/v1/**"), ("GET", "/v1/{a=**}"), true),
        (("GET", "/a/**/b"), ("GET", "/a/{x=**}/b"), true),
        (("GET", "/a/**/b"), ("GET", "/a/**/c"), false),
        (("GET", "/a/{x=b/*}"), ("GET", "/a/b/{y}"), true),
        (("GET", "/v1/x:go"), ("GET", "/v1/x:go"), true),
        (("REPORT", "/r"), ("REPORT", "/r"), true),
        (("REPORT", "/r"), ("SEARCH", "/r"), false),
        (("GET", "/"), ("GET", "/"), true),
        (("GET", "/"), ("GET", "/**"), false),
    ];
    for ((m1, t1), (m2, t2), duplicate) in cases {
        let mut matcher = PathMatcher::new(MultiSegmentDecoding::default());
        assert_eq!(
            matcher.insert(method(m1), PathTemplate::parse(t1).unwrap(), "first"),
            Ok(())
        );
        let second = matcher.insert(method(m2), PathTemplate::parse(t2).unwrap(), "second");
        let want = if duplicate { Err(&"first") } else { Ok(()) };
        assert_eq!(second, want, "{m1} {t1} vs {m2} {t2}");
        assert_eq!(matcher.len(), if duplicate { 1 } else { 2 });
    }
}

const RESERVED_ENCODED: &str = "%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D";
const RESERVED_DECODED: &str = "!#$&'()*+,/:;=?@[]";

#[test]
fn percent_decoding_per_mode() {
    use MultiSegmentDecoding::*;
    let reserved_path = format!("/a/{RESERVED_ENCODED}/{RESERVED_ENCODED}/c");
    // (mode, path, want) for routes "/a/{x}/c", "/m/{x=p/*/q/*}/c", "/a/{x}/{y=**}/c"
    let cases: Vec<(MultiSegmentDecoding, String, Got)> = vec![
        (
            AllExceptReserved,
            "/a/p%20q%2Fr+/c".into(),
            m("/a/{x}/c", &[("x", "p q/r+")]),
        ),
        (
            All,
            "/a/p%20q%2fr+/c".into(),
            m("/a/{x}/c", &[("x", "p q/r+")]),
        ),
        (
            AllExceptReserved,
            "/m/p/foo%20foo/q/bar%2Fbar+/c".into(),
            m("/m/{x=p/*/q/*}/c", &[("x", "p/foo foo/q/bar%2Fbar+")]),
        ),
        (
            AllExceptSlash,
            "/m/p/foo%20foo/q/bar%2fbar%2B/c".into(),
            m("/m/{x=p/*/q/*}/c", &[("x", "p/foo foo/q/bar%2fbar+")]),
        ),
        (
            All,
            "/m/p/foo%20foo/q/bar%2Fbar%2B/c".into(),
            m("/m/{x=p/*/q/*}/c", &[("x", "p/foo foo/q/bar/bar+")]),
        ),
        (
            AllExceptReserved,
            reserved_path.clone(),
            m(
                "/a/{x}/{y=**}/c",
                &[("x", RESERVED_DECODED), ("y", RESERVED_ENCODED)],
            ),
        ),
        (
            AllExceptSlash,
            reserved_path.clone(),
            m(
                "/a/{x}/{y=**}/c",
                &[("x", RESERVED_DECODED), ("y", "!#$&'()*+,%2F:;=?@[]")],
            ),
        ),
        (
            All,
            reserved_path.clone(),
            m(
                "/a/{x}/{y=**}/c",
                &[("x", RESERVED_DECODED), ("y", RESERVED_DECODED)],
            ),
        ),
    ];
    for (mode, path, want) in cases {
        let matcher = build(
            mode,
            &[
                ("GET", "/a/{x}/c"),
                ("GET", "/m/{x=p/*/q/*}/c"),
                ("GET", "/a/{x}/{y=**}/c"),
            ],
        );
        assert_eq!(run(&matcher, "GET", &path), want, "{mode:?} {path}");
    }
}

#[test]
fn undecodable_bound_variables_are_invalid_paths() {
    let malformed = |offset: usize, escape: &str| {
        Invalid(PercentError::MalformedEscape {
            offset,
            escape: escape.into(),
        })
    };
    for mode in [
        MultiSegmentDecoding::AllExceptReserved,
        MultiSegmentDecoding::AllExceptSlash,
        MultiSegmentDecoding::All,
    ] {
        let matcher = build(
            mode,
            &[
                ("GET", "/v1/users/{id}"),
                ("GET", "/v1/files/{path=**}"),
                ("GET", "/raw/**"),
            ],
        );
        check_get(
            &matcher,
            &[
                ("/v1/users/%zz", malformed(10, "%zz")),
                ("/v1/users/ab%4", malformed(12, "%4")),
                ("/v1/users/%", malformed(10, "%")),
                ("/v1/files/a/b%g1/c", malformed(13, "%g1")),
                (
                    "/v1/users/%FF",
                    Invalid(PercentError::InvalidUtf8 { raw: "%FF".into() }),
                ),
                (
                    "/v1/users/caf%C3%A9",
                    m("/v1/users/{id}", &[("id", "café")]),
                ),
                // Unbound segments are never decoded, so they cannot fail.
                ("/raw/%zz/%", m("/raw/**", &[])),
            ],
        );
    }
}

#[test]
fn literals_are_compared_with_the_raw_segment() {
    let matcher = get_routes(&["/v1/users", "/v1/a%20b"]);
    check_get(
        &matcher,
        &[
            ("/v1/users", m("/v1/users", &[])),
            ("/v1/%75sers", NotFound),
            ("/v1/a%20b", m("/v1/a%20b", &[])),
            ("/v1/a b", NotFound),
        ],
    );
}

#[test]
fn thousand_routes_resolve_correctly() {
    let mut matcher = PathMatcher::new(MultiSegmentDecoding::default());
    for i in 0..1000 {
        for (verb, template) in [
            ("GET", format!("/v1/service{i}/items/{{id}}")),
            ("POST", format!("/v1/service{i}/items:batch")),
            (
                "GET",
                format!("/v1/service{i}/items/{{id}}/files/{{path=**}}"),
            ),
        ] {
            let parsed = PathTemplate::parse(&template).unwrap();
            assert!(matcher.insert(method(verb), parsed, (i, template)).is_ok());
        }
    }
    assert_eq!(matcher.len(), 3000);
    for i in [0, 1, 499, 998, 999] {
        let Lookup::Matched(found) =
            matcher.lookup(&Method::GET, &format!("/v1/service{i}/items/x{i}"))
        else {
            panic!("no match for {i}");
        };
        assert_eq!(found.value, &(i, format!("/v1/service{i}/items/{{id}}")));
        assert_eq!(found.bindings[0].value, format!("x{i}"));

        let Lookup::Matched(found) =
            matcher.lookup(&Method::POST, &format!("/v1/service{i}/items:batch"))
        else {
            panic!("no verb match for {i}");
        };
        assert_eq!(found.value.0, i);

        let Lookup::Matched(found) =
            matcher.lookup(&Method::GET, &format!("/v1/service{i}/items/7/files/a/b"))
        else {
            panic!("no files match for {i}");
        };
        assert_eq!(found.value.0, i);
        let values: Vec<_> = found.bindings.iter().map(|b| b.value.as_str()).collect();
        assert_eq!(values, ["7", "a/b"]);

        assert!(matches!(
            matcher.lookup(&Method::GET, &format!("/v1/service{i}/items:batch")),
            Lookup::MethodNotAllowed { .. }
        ));
    }
    assert!(matches!(
        matcher.lookup(&Method::GET, "/v1/service1000/items/x"),
        Lookup::NotFound
    ));
    let routes: Vec<_> = matcher
        .routes()
        .take(2)
        .map(|(m, t, _)| (m.clone(), t.to_string()))
        .collect();
    assert_eq!(
        routes,
        [
            (Method::GET, "/v1/service0/items/{id}".to_string()),
            (Method::POST, "/v1/service0/items:batch".to_string()),
        ]
    );
}
