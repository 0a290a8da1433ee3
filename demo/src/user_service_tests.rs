//! End-to-end tests of UserService over a real loopback HTTP/2 connection.

use prost_types::FieldMask;
use tonic::Code;

use super::super::errors::decode_bad_request;
use super::super::pb::google::api::HttpBody;
use super::super::pb::{
    DeleteUserRequest, GetAvatarRequest, GetUserRequest, ListUsersRequest, Role, UpdateUserRequest,
    UploadAvatarRequest, User,
};
use super::super::response_metadata::{SERVED_BY_HEADER, SERVED_BY_VALUE};
use super::super::test_support::TestServer;
use super::*;

fn new_user(id: &str, name: &str) -> User {
    User {
        user_id: id.into(),
        name: name.into(),
        age: 30,
        email: "someone@example.com".into(),
        tags: vec!["new".into()],
        role: Role::Admin as i32,
        ..User::default()
    }
}

fn violated_fields(status: &Status) -> Vec<String> {
    decode_bad_request(status)
        .expect("INVALID_ARGUMENT carries a BadRequest")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

#[tokio::test]
async fn get_seeded_user_and_not_found() {
    let server = TestServer::start().await;
    let mut client = server.users().await;

    let response = client
        .get_user(GetUserRequest {
            user_id: "42".into(),
        })
        .await
        .expect("user 42 exists");
    assert_eq!(
        response
            .metadata()
            .get(SERVED_BY_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(SERVED_BY_VALUE)
    );
    let ada = response.into_inner();
    assert_eq!(ada.name, "Ada Lovelace");
    assert_eq!(ada.role, Role::Member as i32);

    let err = client
        .get_user(GetUserRequest {
            user_id: "404".into(),
        })
        .await
        .expect_err("unknown user");
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "user 404 not found");

    let err = client
        .get_user(GetUserRequest::default())
        .await
        .expect_err("empty id");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["user_id"]);
}

#[tokio::test]
async fn create_with_and_without_id() {
    let server = TestServer::start().await;
    let mut client = server.users().await;

    let created = client
        .create_user(new_user("ben", "Ben"))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.user_id, "ben");
    assert_eq!(created.role, Role::Admin as i32);
    assert!(created.created_at.is_some());
    assert_eq!(created.created_at, created.updated_at);

    let generated = client
        .create_user(User {
            role: Role::Unspecified as i32,
            ..new_user("", "Anon")
        })
        .await
        .expect("create with generated id")
        .into_inner();
    assert_eq!(generated.user_id, "1000");
    assert_eq!(generated.role, Role::Member as i32);

    let fetched = client
        .get_user(GetUserRequest {
            user_id: "ben".into(),
        })
        .await
        .expect("get created")
        .into_inner();
    assert_eq!(fetched, created);

    let err = client
        .create_user(new_user("42", "Impostor"))
        .await
        .expect_err("duplicate id");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(err.message(), "user 42 already exists");
}

#[tokio::test]
async fn create_invalid_user_reports_every_violation() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let err = client
        .create_user(User {
            user_id: "bad/id".into(),
            name: " ".into(),
            age: 200,
            email: "nope".into(),
            ..User::default()
        })
        .await
        .expect_err("invalid user");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["user_id", "name", "age", "email"]);
    assert!(
        err.message().starts_with("invalid request: user_id: "),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn update_with_mask_changes_only_masked_fields() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let before = client
        .get_user(GetUserRequest {
            user_id: "42".into(),
        })
        .await
        .expect("get")
        .into_inner();

    let patch = User {
        user_id: "42".into(),
        name: "Augusta Ada King".into(),
        age: 0,
        email: String::new(),
        ..User::default()
    };
    let updated = client
        .update_user(UpdateUserRequest {
            user: Some(patch.clone()),
            update_mask: Some(FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .expect("masked update")
        .into_inner();
    assert_eq!(updated.name, "Augusta Ada King");
    assert_eq!(updated.age, before.age);
    assert_eq!(updated.email, before.email);
    assert_eq!(updated.tags, before.tags);
    assert_eq!(updated.created_at, before.created_at);
    assert_ne!(updated.updated_at, before.updated_at);

    // An empty mask replaces every writable field.
    let replaced = client
        .update_user(UpdateUserRequest {
            user: Some(patch),
            update_mask: None,
        })
        .await
        .expect("full replace")
        .into_inner();
    assert_eq!(replaced.age, 0);
    assert_eq!(replaced.email, "");
    assert!(replaced.tags.is_empty());
    assert_eq!(replaced.role, Role::Member as i32);
    assert_eq!(replaced.user_id, "42");
}

#[tokio::test]
async fn update_errors() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let mask = |paths: &[&str]| {
        Some(FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    };
    let cases = [
        (
            UpdateUserRequest {
                user: Some(new_user("42", "")),
                update_mask: mask(&["name", "age"]),
            },
            Code::InvalidArgument,
            vec!["user.name"],
        ),
        (
            UpdateUserRequest {
                user: Some(new_user("42", "X")),
                update_mask: mask(&["created_at", "colour"]),
            },
            Code::InvalidArgument,
            vec!["update_mask", "update_mask"],
        ),
        (
            UpdateUserRequest {
                user: None,
                update_mask: None,
            },
            Code::InvalidArgument,
            vec!["user"],
        ),
        (
            UpdateUserRequest {
                user: Some(new_user("", "X")),
                update_mask: None,
            },
            Code::InvalidArgument,
            vec!["user.user_id"],
        ),
        (
            UpdateUserRequest {
                user: Some(new_user("ghost", "X")),
                update_mask: None,
            },
            Code::NotFound,
            vec![],
        ),
    ];
    for (request, code, fields) in cases {
        let err = client
            .update_user(request.clone())
            .await
            .expect_err("update must fail");
        assert_eq!(err.code(), code, "{request:?}");
        if code == Code::InvalidArgument {
            assert_eq!(violated_fields(&err), fields, "{request:?}");
        }
    }
    // Nothing was half-applied.
    let ada = client
        .get_user(GetUserRequest {
            user_id: "42".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(ada.name, "Ada Lovelace");
}

#[tokio::test]
async fn delete_then_not_found() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let request = DeleteUserRequest {
        user_id: "2".into(),
    };
    client.delete_user(request.clone()).await.expect("delete");
    let err = client.delete_user(request).await.expect_err("gone");
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .get_user(GetUserRequest {
            user_id: "2".into(),
        })
        .await
        .expect_err("gone");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn list_pages_through_all_users() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    for i in 0..12 {
        client
            .create_user(new_user(&format!("u{i:02}"), "Paged"))
            .await
            .expect("create");
    }

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_users(ListUsersRequest {
                page_size: 4,
                page_token: token.clone(),
                role: 0,
            })
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        assert_eq!(page.total_size, 15);
        assert!(page.users.len() <= 4);
        seen.extend(page.users.into_iter().map(|u| u.user_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "paging does not terminate");
    }
    assert_eq!(pages, 4);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages are in id order without repeats");
    assert_eq!(seen.len(), 15);

    let default_page = client
        .list_users(ListUsersRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(default_page.users.len(), DEFAULT_PAGE_SIZE);

    let admins = client
        .list_users(ListUsersRequest {
            role: Role::Admin as i32,
            page_size: 1000,
            ..ListUsersRequest::default()
        })
        .await
        .expect("list admins")
        .into_inner();
    assert_eq!(admins.total_size, 13, "12 created admins + seeded user 1");
    assert!(admins.next_page_token.is_empty());
}

#[tokio::test]
async fn list_rejects_bad_arguments() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let cases = [
        (
            ListUsersRequest {
                page_token: "garbage!".into(),
                ..ListUsersRequest::default()
            },
            "page_token",
        ),
        (
            ListUsersRequest {
                page_size: -1,
                ..ListUsersRequest::default()
            },
            "page_size",
        ),
        (
            ListUsersRequest {
                role: 7,
                ..ListUsersRequest::default()
            },
            "role",
        ),
    ];
    for (request, field) in cases {
        let err = client
            .list_users(request.clone())
            .await
            .expect_err("must be rejected");
        assert_eq!(err.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(violated_fields(&err), [field], "{request:?}");
    }
}

#[tokio::test]
async fn avatar_generated_then_uploaded() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let get = |id: &str| GetAvatarRequest { user_id: id.into() };

    let generated = client
        .get_avatar(get("42"))
        .await
        .expect("generated avatar")
        .into_inner();
    assert_eq!(generated.content_type, "image/svg+xml");
    assert!(generated.data.starts_with(b"<svg"));

    let png = vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3];
    let uploaded = client
        .upload_avatar(UploadAvatarRequest {
            user_id: "42".into(),
            file: Some(HttpBody {
                content_type: "image/png".into(),
                data: png.clone(),
                extensions: vec![],
            }),
        })
        .await
        .expect("upload")
        .into_inner();
    assert_eq!(uploaded.user_id, "42");
    assert_eq!(uploaded.size_bytes, 8);
    assert_eq!(uploaded.content_type, "image/png");

    let fetched = client
        .get_avatar(get("42"))
        .await
        .expect("uploaded avatar")
        .into_inner();
    assert_eq!(fetched.content_type, "image/png");
    assert_eq!(fetched.data, png);

    let err = client.get_avatar(get("404")).await.expect_err("no user");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn upload_errors() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let upload = |id: &str, file: Option<HttpBody>| UploadAvatarRequest {
        user_id: id.into(),
        file,
    };
    let body = |data: Vec<u8>| {
        Some(HttpBody {
            content_type: String::new(),
            data,
            extensions: vec![],
        })
    };
    let cases = [
        (upload("42", None), Code::InvalidArgument),
        (upload("42", body(vec![])), Code::InvalidArgument),
        (
            upload("42", body(vec![0; MAX_AVATAR_BYTES + 1])),
            Code::InvalidArgument,
        ),
        (upload("404", body(vec![1])), Code::NotFound),
    ];
    for (request, code) in cases {
        let err = client
            .upload_avatar(request)
            .await
            .expect_err("upload must fail");
        assert_eq!(err.code(), code);
    }

    let untyped = client
        .upload_avatar(upload("1", body(vec![1, 2])))
        .await
        .expect("upload without content type")
        .into_inner();
    assert_eq!(untyped.content_type, "application/octet-stream");
}
