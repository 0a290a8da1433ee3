//! Tests of query-parameter handling, run through `build_request` so that path bindings and body
//! rules take part.

use serde_json::json;

use crate::transcoding::test_request::{Req, ok, query, run, to_json};
use crate::transcoding::{JsonOptions, TranscodeError};

#[test]
fn query_parameters_set_fields() {
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("", json!({})),
        ("name=a+b%20c", json!({"name": "a b c"})),
        (
            "i64=-5&u64=7&s32=-2&fx64=9",
            json!({"i64": "-5", "u64": "7", "s32": -2, "fx64": "9"}),
        ),
        (
            "dbl=2.5&flt=-1&flag=true",
            json!({"dbl": 2.5, "flt": -1.0, "flag": true}),
        ),
        ("ratio=2.5", json!({"ratio": 2.5})),
        (
            "book.author.displayName=Ann&book.page_count=3",
            json!({"book": {"author": {"display_name": "Ann"}, "page_count": "3"}}),
        ),
        ("color=GREEN", json!({"color": "GREEN"})),
        ("color=1", json!({"color": "RED"})),
        ("tags=a&tags=b&tags=", json!({"tags": ["a", "b", ""]})),
        ("colors=RED&colors=2", json!({"colors": ["RED", "GREEN"]})),
        ("numbers=1&numbers=-2", json!({"numbers": ["1", "-2"]})),
        ("nickname=x", json!({"nickname": "x"})),
        ("big=12&maybe=false", json!({"big": "12", "maybe": false})),
        ("book.subtitle=s", json!({"book": {"subtitle": "s"}})),
        (
            "when=2024-01-31T12:00:00Z",
            json!({"when": "2024-01-31T12:00:00Z"}),
        ),
        (
            "when=2024-01-31T14:00:00%2B02:00",
            json!({"when": "2024-01-31T12:00:00Z"}),
        ),
        (
            "when=2024-01-31T14:00:00+02:00",
            json!({"when": "2024-01-31T12:00:00Z"}),
        ),
        ("when.seconds=5", json!({"when": "1970-01-01T00:00:05Z"})),
        ("timeout=1.5s", json!({"timeout": "1.500s"})),
        (
            "update_mask=displayName,book.pageCount,title",
            json!({"update_mask": "displayName,book.pageCount,title"}),
        ),
        ("data=aGk%2B", json!({"data": "aGk+"})),
        ("data=aGk+", json!({"data": "aGk+"})),
        ("data=aGk-", json!({"data": "aGk+"})),
        ("blob=AAE", json!({"blob": "AAE="})),
        ("choiceText=x", json!({"choice_text": "x"})),
        ("choice_author.age=4", json!({"choice_author": {"age": 4}})),
        ("opt=0", json!({"opt": 0})),
    ];
    for (q, expected) in cases {
        assert_eq!(ok(&query(q)), expected, "?{q}");
    }
}

#[test]
fn non_finite_floats_from_the_query() {
    // Checked on the message: prost-reflect 0.16 renders a non-finite DoubleValue wrapper as a JSON
    // number, which serde_json turns into `null`.
    let msg = run(&query("ratio=NaN&dbl=-Infinity")).expect("parses");
    let ratio = msg.get_field_by_name("ratio").expect("field");
    let inner = ratio
        .as_message()
        .and_then(|m| m.get_field_by_name("value"))
        .expect("value");
    assert!(inner.as_f64().is_some_and(f64::is_nan));
    assert_eq!(to_json(&msg)["dbl"], json!("-Infinity"));
}

#[test]
fn query_parameter_errors() {
    // (query, error variant, text the message must contain)
    let cases = [
        (
            "nope=1",
            "UnknownQueryParameter",
            "unknown query parameter `nope`: message `test.v1.Everything` has no field `nope`",
        ),
        (
            "book.nope=1",
            "UnknownQueryParameter",
            "message `test.v1.Book` has no field `nope`",
        ),
        (
            "map[k]=v",
            "UnknownQueryParameter",
            "unknown query parameter `map[k]`",
        ),
        (
            "books.title=x",
            "QueryParameterNotSettable",
            "field `books` is repeated",
        ),
        (
            "books=x",
            "QueryParameterNotSettable",
            "field `books` is a repeated message field",
        ),
        (
            "times=2024-01-01T00:00:00Z",
            "QueryParameterNotSettable",
            "is a repeated message field",
        ),
        (
            "labels=x",
            "QueryParameterNotSettable",
            "field `labels` is a map",
        ),
        (
            "labels.k=x",
            "QueryParameterNotSettable",
            "field `labels` is a map",
        ),
        (
            "book=x",
            "QueryParameterNotSettable",
            "field `book` is a message",
        ),
        (
            "extra=x",
            "QueryParameterNotSettable",
            "field `extra` is a message",
        ),
        (
            "name=a&name=b",
            "DuplicateQueryParameter",
            "sets field `name` more than once",
        ),
        ("name=a&name=a", "DuplicateQueryParameter", "more than once"),
        (
            "choiceText=a&choice_text=a",
            "DuplicateQueryParameter",
            "sets field `choice_text` more than once",
        ),
        (
            "nickname=a&nickname=b",
            "DuplicateQueryParameter",
            "more than once",
        ),
        (
            "when=2024-01-01T00:00:00Z&when.seconds=1",
            "DuplicateQueryParameter",
            "more than once",
        ),
        (
            "i32=abc",
            "InvalidQueryValue",
            "invalid value for query parameter `i32`: `abc` is not a valid int32",
        ),
        (
            "color=PURPLE",
            "InvalidQueryValue",
            "`PURPLE` is not a value of enum `test.v1.Color`",
        ),
        (
            "colors=RED&colors=BLUE",
            "InvalidQueryValue",
            "`BLUE` is not a value",
        ),
        ("flag", "InvalidQueryValue", "`` is not a boolean"),
        ("data=***", "InvalidQueryValue", "invalid base64"),
        (
            "when=tomorrow",
            "InvalidQueryValue",
            "not a valid RFC 3339 timestamp",
        ),
        ("timeout=5m", "InvalidQueryValue", "not a valid duration"),
        (
            "choice_text=a&choice_number=1",
            "OneofConflict",
            "`choice_number` and `choice_text` belong to the same oneof",
        ),
        (
            "choice_text=a&choice_author.age=1",
            "OneofConflict",
            "belong to the same oneof",
        ),
        (
            "name=%zz",
            "MalformedQuery",
            "invalid percent-encoding `%zz` in the value of `name`",
        ),
    ];
    for (q, variant, text) in cases {
        match run(&query(q)) {
            Err(err) => {
                assert!(
                    format!("{err:?}").starts_with(variant),
                    "?{q}: wrong variant {err:?}"
                );
                assert!(err.to_string().contains(text), "?{q}: {err}");
                assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
            }
            Ok(msg) => panic!("?{q}: expected an error, got {}", to_json(&msg)),
        }
    }
}

#[test]
fn query_error_fields_point_at_the_field() {
    let err = run(&query("book.author.age=x")).expect_err("invalid");
    assert_eq!(err.field().as_deref(), Some("book.author.age"));
    let err = run(&query(
        "book.author.displayName=a&book.author.display_name=b",
    ))
    .expect_err("dup");
    assert_eq!(err.field().as_deref(), Some("book.author.display_name"));
    let err = run(&query("bogus=1")).expect_err("unknown");
    assert_eq!(err.field().as_deref(), Some("bogus"));
}

#[test]
fn unknown_query_parameters_can_be_ignored() {
    let lenient = JsonOptions {
        ignore_unknown_fields: true,
        ..JsonOptions::default()
    };
    let req = Req {
        query: Some("nope=1&book.nope=2&name=a&color=PURPLE&colors=RED&colors=BLUE"),
        json: lenient,
        ..Req::default()
    };
    assert_eq!(ok(&req), json!({"name": "a", "colors": ["RED"]}));
    // Known fields that cannot be set are still errors.
    let req = Req {
        query: Some("books=x"),
        json: lenient,
        ..Req::default()
    };
    assert!(matches!(
        run(&req),
        Err(TranscodeError::QueryParameterNotSettable { .. })
    ));
}

#[test]
fn query_cannot_touch_path_bound_fields() {
    for q in ["name=x", "book.name=x", "book=x"] {
        let req = Req {
            path: &[("name", "n"), ("book.name", "b")],
            query: Some(q),
            ..Req::default()
        };
        let err = run(&req).expect_err(q);
        assert!(
            matches!(err, TranscodeError::QueryParameterBoundByPath { .. }),
            "{q}: {err:?}"
        );
        assert!(
            err.to_string().contains("is bound by the URL path"),
            "{err}"
        );
    }
    let req = Req {
        path: &[("book.name", "b")],
        query: Some("book.title=t"),
        ..Req::default()
    };
    assert_eq!(ok(&req), json!({"book": {"name": "b", "title": "t"}}));
}

#[test]
fn whole_body_accepts_no_query_parameters() {
    let req = Req {
        body_rule: "*",
        body: br#"{"name": "n"}"#,
        query: Some("i32=1"),
        ..Req::default()
    };
    let err = run(&req).expect_err("query with body *");
    assert!(
        matches!(err, TranscodeError::QueryParameterWithWholeBody { .. }),
        "{err:?}"
    );
    let req = Req {
        json: JsonOptions {
            ignore_unknown_fields: true,
            ..JsonOptions::default()
        },
        ..req
    };
    assert_eq!(ok(&req), json!({"name": "n"}));
}

#[test]
fn field_body_owns_its_subtree() {
    let req = Req {
        body_rule: "book",
        body: br#"{"title": "t"}"#,
        query: Some("book.title=x"),
        ..Req::default()
    };
    let err = run(&req).expect_err("query inside body field");
    assert!(
        matches!(err, TranscodeError::QueryParameterInBody { .. }),
        "{err:?}"
    );
    let req = Req {
        query: Some("name=q&book_name_is_not_here=1"),
        ..req
    };
    assert!(matches!(
        run(&req),
        Err(TranscodeError::UnknownQueryParameter { .. })
    ));
    let req = Req {
        query: Some("name=q"),
        ..req
    };
    assert_eq!(ok(&req), json!({"name": "q", "book": {"title": "t"}}));
}
