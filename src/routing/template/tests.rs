use super::*;
use crate::routing::TemplateError as E;

fn fields(t: &PathTemplate) -> Vec<String> {
    t.variables().iter().map(ToString::to_string).collect()
}

#[test]
fn accepts_valid_templates() {
    // (template, canonical display, dotted fields, verb)
    let cases: &[(&str, &str, &[&str], Option<&str>)] = &[
        ("/", "/", &[], None),
        ("/v1/users", "/v1/users", &[], None),
        ("/v1/users/{id}", "/v1/users/{id}", &["id"], None),
        ("/v1/users/{id=*}", "/v1/users/{id}", &["id"], None),
        ("/v1/{a.b_c.d}", "/v1/{a.b_c.d}", &["a.b_c.d"], None),
        (
            "/v1/{name=shelves/*/books/*}",
            "/v1/{name=shelves/*/books/*}",
            &["name"],
            None,
        ),
        ("/v1/{name=**}", "/v1/{name=**}", &["name"], None),
        ("/v1/{name=**}/foo", "/v1/{name=**}/foo", &["name"], None),
        ("/a/**/b", "/a/**/b", &[], None),
        ("/a/**", "/a/**", &[], None),
        ("/**", "/**", &[], None),
        ("/**:verb", "/**:verb", &[], Some("verb")),
        ("/*/**", "/*/**", &[], None),
        (
            "/a/{x=b/*/**/y/z}/foo",
            "/a/{x=b/*/**/y/z}/foo",
            &["x"],
            None,
        ),
        (
            "/v1/greeter:sayHello",
            "/v1/greeter:sayHello",
            &[],
            Some("sayHello"),
        ),
        (
            "/v1/{name}:publish",
            "/v1/{name}:publish",
            &["name"],
            Some("publish"),
        ),
        ("/{x=**}:verb", "/{x=**}:verb", &["x"], Some("verb")),
        (
            "/v1/{parent=projects/*}/things/{thing}",
            "/v1/{parent=projects/*}/things/{thing}",
            &["parent", "thing"],
            None,
        ),
        ("/a%20b/c-d.e_f~g", "/a%20b/c-d.e_f~g", &[], None),
        ("/v1/a=b;c", "/v1/a=b;c", &[], None),
        ("/v1/{x=a}", "/v1/{x=a}", &["x"], None),
        ("/v1/{a}/{a_b}", "/v1/{a}/{a_b}", &["a", "a_b"], None),
    ];
    for &(text, display, want_fields, verb) in cases {
        let t = PathTemplate::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(t.to_string(), display, "{text}");
        assert_eq!(fields(&t), want_fields, "{text}");
        assert_eq!(t.verb(), verb, "{text}");
        // Round trip: the canonical text parses to the same template.
        assert_eq!(PathTemplate::parse(display).as_ref(), Ok(&t), "{text}");
        assert_eq!(text.parse::<PathTemplate>().as_ref(), Ok(&t), "{text}");
    }
}

/// (start piece, end piece, multi-segment) of one variable.
type Range = (usize, usize, bool);

#[test]
fn variable_ranges_and_multi_segment_flags() {
    // (template, per variable: (start piece, end piece, multi))
    let cases: &[(&str, &[Range])] = &[
        ("/v1/{id}", &[(1, 2, false)]),
        ("/v1/{x=a}", &[(1, 2, false)]),
        ("/v1/{x=a/*}", &[(1, 3, true)]),
        ("/v1/{x=**}", &[(1, 2, true)]),
        ("/{x=*}/d/{y=**}/e", &[(0, 1, false), (2, 3, true)]),
        ("/a/{x=b/**/y}/z", &[(1, 4, true)]),
    ];
    for &(text, want) in cases {
        let t = PathTemplate::parse(text).unwrap();
        let got: Vec<_> = t
            .variables()
            .iter()
            .map(|v| {
                let (s, e) = v.piece_range();
                (s, e, v.is_multi_segment())
            })
            .collect();
        assert_eq!(got, want, "{text}");
    }
    let t = PathTemplate::parse("/v1/{a.b.c}").unwrap();
    assert_eq!(t.variables()[0].field_path(), ["a", "b", "c"]);
}

#[test]
fn rejects_invalid_templates() {
    let cases: &[(&str, E)] = &[
        ("", E::MissingLeadingSlash),
        ("v1/users", E::MissingLeadingSlash),
        ("{x}", E::MissingLeadingSlash),
        ("/v1/users/", E::TrailingSlash { position: 9 }),
        ("/a/{x}/", E::TrailingSlash { position: 6 }),
        ("//", E::EmptySegment { position: 1 }),
        ("/a//b", E::EmptySegment { position: 3 }),
        ("/:verb", E::EmptySegment { position: 1 }),
        ("/a/:verb", E::EmptySegment { position: 3 }),
        ("/{x=}", E::EmptySegment { position: 4 }),
        ("/{x=a/}", E::EmptySegment { position: 6 }),
        ("/{var=a/{nested=b}}", E::NestedVariable { position: 8 }),
        ("/{a{b}}", E::NestedVariable { position: 3 }),
        ("/a/{", E::UnclosedBrace { position: 3 }),
        ("/a/{var", E::UnclosedBrace { position: 3 }),
        ("/a/{var.", E::UnclosedBrace { position: 3 }),
        ("/a/{var=b", E::UnclosedBrace { position: 3 }),
        ("/a/{var=b/", E::UnclosedBrace { position: 3 }),
        ("/a}", E::UnmatchedClosingBrace { position: 2 }),
        ("/}", E::UnmatchedClosingBrace { position: 1 }),
        ("/{x}}", E::UnmatchedClosingBrace { position: 4 }),
        ("/v1/a{b}", E::LiteralGluedToVariable { position: 5 }),
        ("/v1/{b}c", E::LiteralGluedToVariable { position: 7 }),
        ("/a{x}b", E::LiteralGluedToVariable { position: 2 }),
        ("/{x}{y}", E::LiteralGluedToVariable { position: 4 }),
        ("/a/b{x}/s", E::LiteralGluedToVariable { position: 4 }),
        ("/**/{x}", E::VariableAfterDoubleWildcard { position: 4 }),
        (
            "/{x=**}/{y}",
            E::VariableAfterDoubleWildcard { position: 8 },
        ),
        (
            "/a/{x=b/**}/bb/{y=*}",
            E::VariableAfterDoubleWildcard { position: 15 },
        ),
        ("/**/{x=a}", E::VariableAfterDoubleWildcard { position: 4 }),
        ("/a/**/*", E::WildcardAfterDoubleWildcard { position: 6 }),
        (
            "/a/**/foo/*",
            E::WildcardAfterDoubleWildcard { position: 10 },
        ),
        ("/a/**/**", E::WildcardAfterDoubleWildcard { position: 6 }),
        ("/{x=**/*}", E::WildcardAfterDoubleWildcard { position: 7 }),
        (
            "/v1/{id}/x/{id}",
            E::DuplicateField {
                field: "id".into(),
                position: 11,
            },
        ),
        (
            "/v1/{a.b}/{a.b=x/*}",
            E::DuplicateField {
                field: "a.b".into(),
                position: 10,
            },
        ),
        (
            "/v1/{a}/{a.b}",
            E::OverlappingFields {
                field: "a.b".into(),
                other: "a".into(),
                position: 8,
            },
        ),
        (
            "/{}",
            E::InvalidIdentifier {
                found: "".into(),
                position: 2,
            },
        ),
        (
            "/{1a}",
            E::InvalidIdentifier {
                found: "1a".into(),
                position: 2,
            },
        ),
        (
            "/{a-b}",
            E::InvalidIdentifier {
                found: "a-b".into(),
                position: 2,
            },
        ),
        (
            "/{a..b}",
            E::InvalidIdentifier {
                found: "".into(),
                position: 4,
            },
        ),
        (
            "/{a b}",
            E::InvalidIdentifier {
                found: "a b".into(),
                position: 2,
            },
        ),
        (
            "/{a.}",
            E::InvalidIdentifier {
                found: "".into(),
                position: 4,
            },
        ),
        ("/a:", E::EmptyVerb { position: 2 }),
        ("/*:", E::EmptyVerb { position: 2 }),
        ("/**:", E::EmptyVerb { position: 3 }),
        ("/{var}:", E::EmptyVerb { position: 6 }),
        ("/a%2", E::InvalidPercentEncoding { position: 2 }),
        ("/a%zz", E::InvalidPercentEncoding { position: 2 }),
        ("/a:b%", E::InvalidPercentEncoding { position: 4 }),
        (
            "/a b",
            E::InvalidCharacter {
                found: ' ',
                position: 2,
            },
        ),
        (
            "/a?b",
            E::InvalidCharacter {
                found: '?',
                position: 2,
            },
        ),
        (
            "/a*",
            E::InvalidCharacter {
                found: '*',
                position: 2,
            },
        ),
        (
            "/é",
            E::InvalidCharacter {
                found: 'é',
                position: 1,
            },
        ),
        (
            "/a:{x}",
            E::InvalidCharacter {
                found: '{',
                position: 3,
            },
        ),
        (
            "/*a",
            E::UnexpectedCharacter {
                found: 'a',
                position: 2,
                expected: "'/' after a wildcard (a wildcard must be a whole segment)",
            },
        ),
        (
            "/***",
            E::UnexpectedCharacter {
                found: '*',
                position: 3,
                expected: "'/' after a wildcard (a wildcard must be a whole segment)",
            },
        ),
        (
            "/a:b/c",
            E::UnexpectedCharacter {
                found: '/',
                position: 4,
                expected: "end of template after the verb",
            },
        ),
        (
            "/a:b:c",
            E::UnexpectedCharacter {
                found: ':',
                position: 4,
                expected: "end of template after the verb",
            },
        ),
        (
            "/a/{x=var:verb}",
            E::UnexpectedCharacter {
                found: ':',
                position: 9,
                expected: "'}' to close the variable",
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(PathTemplate::parse(text).as_ref(), Err(want), "{text}");
    }
}

#[test]
fn error_messages_name_problem_and_position() {
    let cases = [
        ("/v1//x", "empty path segment at byte 4"),
        (
            "/v1/{id}/{id}",
            "field 'id' is bound twice (second binding at byte 9)",
        ),
        ("/v1/", "must not end with '/' (trailing slash at byte 3)"),
        ("/v1/{x", "unclosed '{' at byte 4"),
        ("/v1/a{b}", "variable glued to other text at byte 5"),
    ];
    for (text, want) in cases {
        let message = PathTemplate::parse(text).unwrap_err().to_string();
        assert!(message.contains(want), "{text}: {message}");
    }
}

#[test]
fn shapes_compare_structurally() {
    let a = PathTemplate::parse("/v1/{x}/b").unwrap();
    let b = PathTemplate::parse("/v1/{x=*}/b").unwrap();
    let c = PathTemplate::parse("/v1/{y}/b").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.piece_count(), 3);
    assert_eq!(PathTemplate::parse("/a/**/b/c").unwrap().piece_count(), 4);
}
