//! End-to-end tests of `build_request`: path variables, body modes, body/path conflicts,
//! update-mask derivation, HttpBody, the depth limit and error positions.

use serde_json::json;

use super::*;
use crate::transcoding::json_scan::MAX_JSON_DEPTH;
use crate::transcoding::test_request::{Req, ok, run};
use crate::transcoding::test_support::{everything, message};

#[test]
fn path_variables_are_converted() {
    let req = Req {
        path: &[
            ("name", "n/with space"),
            ("i64", "-9"),
            ("color", "GREEN"),
            ("nickname", "x"),
            ("when", "2024-01-31T12:00:00Z"),
            ("timeout", "2s"),
            ("book.name", "shelves/1/books/2"),
            ("data", "aGk"),
            ("choiceNumber", "3"),
        ],
        ..Req::default()
    };
    assert_eq!(
        ok(&req),
        json!({
            "name": "n/with space", "i64": "-9", "color": "GREEN", "nickname": "x",
            "when": "2024-01-31T12:00:00Z", "timeout": "2s",
            "book": {"name": "shelves/1/books/2"}, "data": "aGk=", "choice_number": 3
        })
    );
}

#[test]
fn invalid_path_values_are_rejected() {
    let lenient = JsonOptions {
        ignore_unknown_fields: true,
        ..JsonOptions::default()
    };
    for (field, value, text) in [
        (
            "i32",
            "x",
            "invalid value for URL path variable `i32`: `x` is not a valid int32",
        ),
        ("color", "PURPLE", "is not a value of enum"),
        ("when", "now", "not a valid RFC 3339 timestamp"),
    ] {
        let req = Req {
            path: &[(field, value)],
            json: lenient,
            ..Req::default()
        };
        let err = run(&req).expect_err(field);
        assert!(
            matches!(err, TranscodeError::InvalidPathValue { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(text), "{err}");
        assert_eq!(err.field().as_deref(), Some(field));
    }
}

#[test]
fn body_modes() {
    // No body mapping: the body is ignored, even when it is not JSON.
    for body in [&b"{\"name\": \"x\"}"[..], b"not json", b""] {
        let req = Req {
            body,
            query: Some("name=q"),
            ..Req::default()
        };
        assert_eq!(ok(&req), json!({"name": "q"}));
    }
    // Whole message.
    let req = Req {
        body_rule: "*",
        body: br#"{"name": "n", "i64": "5", "book": {"title": "t"}, "labels": {"a": "b"}}"#,
        ..Req::default()
    };
    assert_eq!(
        ok(&req),
        json!({"name": "n", "i64": "5", "book": {"title": "t"}, "labels": {"a": "b"}})
    );
    let req = Req {
        body_rule: "*",
        ..Req::default()
    };
    assert_eq!(ok(&req), json!({}));
    // One field, of each shape.
    let cases: Vec<(&str, &[u8], serde_json::Value)> = vec![
        (
            "book",
            br#"{"title": "t", "pageCount": 2}"#,
            json!({"book": {"title": "t", "page_count": "2"}}),
        ),
        ("tags", br#"["a", "b"]"#, json!({"tags": ["a", "b"]})),
        ("labels", br#"{"k": "v"}"#, json!({"labels": {"k": "v"}})),
        ("name", br#""x""#, json!({"name": "x"})),
        ("nickname", br#""w""#, json!({"nickname": "w"})),
        (
            "extra",
            br#"{"a": [1, {"b": null}]}"#,
            json!({"extra": {"a": [1.0, {"b": null}]}}),
        ),
        ("book", b"", json!({})),
    ];
    for (field, body, expected) in cases {
        let req = Req {
            body_rule: field,
            body,
            ..Req::default()
        };
        assert_eq!(ok(&req), expected, "{field}");
    }
}

#[test]
fn body_and_path_must_agree() {
    let base = Req {
        body_rule: "book",
        path: &[("book.name", "shelves/1/books/2")],
        ..Req::default()
    };
    let agree = Req {
        body: br#"{"name": "shelves/1/books/2", "title": "t"}"#,
        ..base.clone()
    };
    assert_eq!(
        ok(&agree),
        json!({"book": {"name": "shelves/1/books/2", "title": "t"}})
    );
    let absent = Req {
        body: br#"{"title": "t"}"#,
        ..base.clone()
    };
    assert_eq!(
        ok(&absent),
        json!({"book": {"name": "shelves/1/books/2", "title": "t"}})
    );
    let contradict = Req {
        body: br#"{"name": "shelves/9/books/9"}"#,
        ..base.clone()
    };
    let err = run(&contradict).expect_err("contradiction");
    assert_eq!(
        err,
        TranscodeError::ConflictsWithPath {
            field: "book.name".into()
        }
    );
    assert_eq!(err.field().as_deref(), Some("book.name"));

    let whole = Req {
        body_rule: "*",
        path: &[("name", "a"), ("nickname", "w")],
        body: br#"{"name": "a", "nickname": "other"}"#,
        ..Req::default()
    };
    assert!(
        matches!(run(&whole), Err(TranscodeError::ConflictsWithPath { field }) if field == "nickname")
    );
    let oneof = Req {
        body_rule: "*",
        path: &[("choice_text", "a")],
        body: br#"{"choiceNumber": 1}"#,
        ..Req::default()
    };
    assert!(matches!(
        run(&oneof),
        Err(TranscodeError::OneofConflict { .. })
    ));
}

#[test]
fn patch_derives_the_update_mask() {
    let base = Req {
        msg: "test.v1.UpdateBookRequest",
        body_rule: "book",
        path: &[("book.name", "b1")],
        body: br#"{"title": "t", "author": {"age": 3, "address": {}}, "ratings": {"x": 1}, "metadata": {"k": {"z": 1}}}"#,
        is_patch: true,
        ..Req::default()
    };
    let derived = ok(&base);
    assert_eq!(
        derived["update_mask"],
        json!("author.address,author.age,metadata,ratings,title")
    );
    assert_eq!(derived["book"]["name"], json!("b1"));

    let explicit = Req {
        query: Some("update_mask=title"),
        ..base.clone()
    };
    assert_eq!(ok(&explicit)["update_mask"], json!("title"));
    let explicit_empty = Req {
        query: Some("update_mask="),
        ..base.clone()
    };
    assert_eq!(
        ok(&explicit_empty)["update_mask"],
        json!("author.address,author.age,metadata,ratings,title")
    );

    for (label, req) in [
        (
            "not PATCH",
            Req {
                is_patch: false,
                ..base.clone()
            },
        ),
        (
            "empty body",
            Req {
                body: b"",
                ..base.clone()
            },
        ),
        (
            "two masks",
            Req {
                msg: "test.v1.TwoMasksRequest",
                path: &[],
                ..base.clone()
            },
        ),
        (
            "body *",
            Req {
                body_rule: "*",
                path: &[],
                body: br#"{"book": {"title": "t"}}"#,
                ..base.clone()
            },
        ),
    ] {
        let result = ok(&req);
        assert!(result.get("update_mask").is_none(), "{label}: {result}");
        assert!(result.get("mask_a").is_none(), "{label}: {result}");
    }
}

#[test]
fn http_body_is_passed_through_raw() {
    let req = Req {
        body_rule: "upload",
        body: b"\x00\x01not json",
        content_type: Some("application/octet-stream"),
        query: Some("name=file"),
        is_patch: true,
        ..Req::default()
    };
    let msg = run(&req).expect("raw body");
    let upload = msg.get_field_by_name("upload").expect("field");
    let upload = upload.as_message().expect("message");
    assert_eq!(
        upload
            .get_field_by_name("data")
            .expect("f")
            .as_bytes()
            .map(|b| b.to_vec()),
        Some(b"\x00\x01not json".to_vec())
    );
    assert_eq!(
        upload
            .get_field_by_name("content_type")
            .expect("f")
            .as_str(),
        Some("application/octet-stream")
    );
    assert_eq!(
        msg.get_field_by_name("name").expect("f").as_str(),
        Some("file")
    );
    assert!(!msg.has_field_by_name("update_mask"));

    let whole = Req {
        msg: "google.api.HttpBody",
        body_rule: "*",
        body: b"<html/>",
        content_type: Some("text/html"),
        ..Req::default()
    };
    assert_eq!(
        ok(&whole),
        json!({"content_type": "text/html", "data": "PGh0bWwvPg=="})
    );
}

#[test]
fn deep_bodies_fail_cleanly() {
    let deep = "[".repeat(100_000);
    for rule in ["*", "tags", "extra"] {
        let req = Req {
            body_rule: rule,
            body: deep.as_bytes(),
            ..Req::default()
        };
        assert_eq!(
            run(&req).map(|_| ()),
            Err(TranscodeError::BodyTooDeep {
                limit: MAX_JSON_DEPTH
            }),
            "{rule}"
        );
    }
    // The limit is exact: 64 levels pass the depth check (and fail later as a type error),
    // 65 do not.
    for (levels, too_deep) in [(MAX_JSON_DEPTH, false), (MAX_JSON_DEPTH + 1, true)] {
        let body = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let req = Req {
            body_rule: "tags",
            body: body.as_bytes(),
            ..Req::default()
        };
        let err = run(&req).expect_err("nested arrays are not strings");
        assert_eq!(
            matches!(err, TranscodeError::BodyTooDeep { .. }),
            too_deep,
            "{levels}: {err}"
        );
    }
    // Struct values nest two protobuf messages per JSON level, and prost's decoder stops at 100
    // message levels, so Struct bodies work up to roughly 48 JSON levels.
    let nested = format!(
        r#"{{"extra": {{"a": {}1{}}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let req = Req {
        body_rule: "*",
        body: nested.as_bytes(),
        ..Req::default()
    };
    if let Err(err) = run(&req) {
        panic!("within the limit: {err}");
    }
}

#[test]
fn malformed_json_says_where() {
    let req = Req {
        body_rule: "*",
        body: b"{\"name\": \"a\",\n \"i32\": }",
        ..Req::default()
    };
    match run(&req) {
        Err(TranscodeError::MalformedJson {
            line,
            column,
            message,
        }) => {
            assert_eq!((line, column), (2, 9));
            assert!(message.contains("line 2 column 9"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let req = Req {
        body_rule: "book",
        body: br#"{"author": {"age": "old"}}"#,
        ..Req::default()
    };
    let err = run(&req).expect_err("data error");
    assert_eq!(err.field().as_deref(), Some("book.author.age"));
    assert!(
        err.to_string()
            .starts_with("invalid request body at `book.author.age`: "),
        "{err}"
    );
}

#[test]
fn foreign_descriptors_are_a_server_error() {
    let input = everything();
    let book = message("test.v1.Book");
    let foreign = FieldPath::resolve_path_variable(&book, &["title"]).expect("resolves");
    let bindings = [(&foreign, "x")];
    let parts = RequestParts {
        path: &bindings,
        query: None,
        body: b"",
        content_type: None,
        is_patch: false,
    };
    let err = build_request(&input, &BodyRule::None, &parts, &JsonOptions::default())
        .expect_err("foreign");
    assert!(!err.is_client_error());
    let foreign_body = BodyRule::resolve(&book, "title").expect("resolves");
    let parts = RequestParts { path: &[], ..parts };
    let err =
        build_request(&input, &foreign_body, &parts, &JsonOptions::default()).expect_err("foreign");
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
}
