//! v1 and v2 side by side, over real loopback HTTP/2: the same calls, and v2's difference in
//! every user it replies with and in `x-served-by`.

use prost_types::FieldMask;
use tonic::metadata::MetadataMap;

use super::super::pb::{
    GetUserRequest, HelloRequest, ListUsersRequest, StreamUsersRequest, UpdateUserRequest,
};
use super::super::response_metadata::SERVED_BY_HEADER;
use super::super::server::ServeOptions;
use super::super::test_support::TestServer;
use super::*;

async fn server(version: DemoVersion) -> TestServer {
    TestServer::start_with(ServeOptions {
        version,
        ..ServeOptions::default()
    })
    .await
}

fn served_by(metadata: &MetadataMap) -> Option<&str> {
    metadata.get(SERVED_BY_HEADER).and_then(|v| v.to_str().ok())
}

#[test]
fn names_parse_and_print_back() {
    for version in DemoVersion::ALL {
        assert_eq!(version.name().parse(), Ok(version));
        assert_eq!(version.to_string(), version.name());
    }
    assert_eq!(DemoVersion::default(), DemoVersion::V1);
    let err = "v3".parse::<DemoVersion>().expect_err("no v3");
    assert_eq!(
        err.to_string(),
        r#"unknown demo version "v3": expected v1 or v2"#
    );
}

#[test]
fn v2_tags_users_once_and_v1_leaves_them_alone() {
    let user = User {
        tags: vec!["math".into()],
        ..User::default()
    };
    assert_eq!(DemoVersion::V1.present(user.clone()), user);
    let tagged = DemoVersion::V2.present(user);
    assert_eq!(tagged.tags, ["math", V2_TAG]);
    // Already tagged (a client writing back what v2 replied): not tagged twice.
    assert_eq!(DemoVersion::V2.present(tagged.clone()), tagged);
}

#[tokio::test]
async fn get_user_shows_the_version_in_tags_and_header() {
    for (version, tags, header) in [
        (DemoVersion::V1, vec!["math", "poetry"], SERVED_BY_VALUE),
        (
            DemoVersion::V2,
            vec!["math", "poetry", V2_TAG],
            SERVED_BY_VALUE_V2,
        ),
    ] {
        let server = server(version).await;
        let reply = server
            .users()
            .await
            .get_user(GetUserRequest {
                user_id: "42".into(),
            })
            .await
            .expect("user 42 exists");
        assert_eq!(served_by(reply.metadata()), Some(header), "{version}");
        let user = reply.into_inner();
        assert_eq!(user.name, "Ada Lovelace", "{version}: same data");
        assert_eq!(user.tags, tags, "{version}");
    }
}

#[tokio::test]
async fn every_user_reply_of_v2_is_tagged() {
    let server = server(DemoVersion::V2).await;
    let mut users = server.users().await;

    let list = users
        .list_users(ListUsersRequest {
            page_size: 100,
            ..ListUsersRequest::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(!list.users.is_empty());
    for user in &list.users {
        assert_eq!(
            user.tags.last().map(String::as_str),
            Some(V2_TAG),
            "{user:?}"
        );
    }

    let mut stream = users
        .stream_users(StreamUsersRequest {
            count: 3,
            ..StreamUsersRequest::default()
        })
        .await
        .expect("stream")
        .into_inner();
    let mut streamed = 0;
    while let Some(user) = stream.message().await.expect("stream message") {
        assert_eq!(
            user.tags.last().map(String::as_str),
            Some(V2_TAG),
            "{user:?}"
        );
        streamed += 1;
    }
    assert_eq!(streamed, 3);

    let update = |tags: Vec<String>| UpdateUserRequest {
        user: Some(User {
            user_id: "42".into(),
            tags,
            ..User::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["tags".into()],
        }),
    };
    let updated = users
        .update_user(update(vec!["poet".into()]))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.tags, ["poet", V2_TAG]);
    // A client writing back what v2 replied gets the tag once, not twice.
    let written_back = users
        .update_user(update(updated.tags))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(written_back.tags, ["poet", V2_TAG]);
}

#[tokio::test]
async fn v2_names_itself_on_every_service() {
    let server = server(DemoVersion::V2).await;
    let reply = server
        .greeter()
        .await
        .say_hello(HelloRequest {
            name: "v2".into(),
            ..HelloRequest::default()
        })
        .await
        .expect("greeter answers");
    assert_eq!(served_by(reply.metadata()), Some(SERVED_BY_VALUE_V2));
    assert_eq!(reply.into_inner().message, "Hello, v2!", "same greeting");
}
