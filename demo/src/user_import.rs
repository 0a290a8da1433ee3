//! `ImportUsers`: reading and validating a client stream of users before anything is stored.
//! Each user is checked as it arrives, so the first invalid one fails the call without waiting
//! for (or buffering) the rest; the valid batch is then stored atomically by the caller.

use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use super::errors::DemoError;
use super::pb::User;
use super::validation::new_user_violations;

/// Most users one ImportUsers call may carry (the batch is held in memory until it is stored).
pub const MAX_IMPORT_USERS: usize = 10_000;

/// Reads the whole stream into a validated batch. Violations are reported with the field paths
/// of CreateUser prefixed by `users[<index>].`; a transport error from the stream is returned
/// as is.
pub async fn read_import(
    mut inbound: impl Stream<Item = Result<User, Status>> + Unpin,
) -> Result<Vec<User>, Status> {
    let mut batch = Vec::new();
    while let Some(user) = inbound.next().await {
        let user = user?;
        let index = batch.len();
        if index >= MAX_IMPORT_USERS {
            return Err(DemoError::invalid(
                format!("users[{index}]"),
                format!("at most {MAX_IMPORT_USERS} users can be imported per call"),
            )
            .into());
        }
        let violations = new_user_violations(&user, &format!("users[{index}]."));
        if !violations.is_empty() {
            return Err(DemoError::InvalidArgument(violations).into());
        }
        batch.push(user);
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::super::errors::decode_bad_request;
    use super::super::pb::{GetUserRequest, ListUsersRequest, Role};
    use super::super::test_support::TestServer;
    use super::*;

    fn named(name: &str) -> User {
        User {
            name: name.into(),
            ..User::default()
        }
    }

    fn fields(status: &Status) -> Vec<String> {
        decode_bad_request(status)
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn valid_stream_is_collected_in_order() {
        let users = vec![named("a"), named("b")];
        let batch = read_import(tokio_stream::iter(users.clone().into_iter().map(Ok)))
            .await
            .expect("valid");
        assert_eq!(batch, users);
        let empty = read_import(tokio_stream::iter(Vec::<Result<User, Status>>::new())).await;
        assert_eq!(empty.ok(), Some(Vec::new()));
    }

    #[tokio::test]
    async fn first_invalid_user_stops_the_read() {
        let bad = User {
            user_id: "a b".into(),
            age: -3,
            ..named("c")
        };
        let items = vec![Ok(named("a")), Ok(bad), Err(Status::internal("never read"))];
        let err = read_import(tokio_stream::iter(items))
            .await
            .expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(fields(&err), ["users[1].user_id", "users[1].age"]);
    }

    #[tokio::test]
    async fn transport_errors_and_oversized_batches_fail() {
        let items = vec![Ok(named("a")), Err(Status::cancelled("client went away"))];
        let err = read_import(tokio_stream::iter(items))
            .await
            .expect_err("stream error");
        assert_eq!(err.code(), Code::Cancelled);

        let too_many = std::iter::repeat_with(|| Ok(named("n"))).take(MAX_IMPORT_USERS + 1);
        let err = read_import(tokio_stream::iter(too_many))
            .await
            .expect_err("too many");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(fields(&err), [format!("users[{MAX_IMPORT_USERS}]")]);
    }

    #[tokio::test]
    async fn import_creates_all_users_in_order() {
        let server = TestServer::start().await;
        let mut client = server.users().await;
        let users = vec![
            User {
                user_id: "imp-1".into(),
                email: "one@example.com".into(),
                ..named("One")
            },
            named("Two"),
        ];
        let reply = client
            .import_users(tokio_stream::iter(users))
            .await
            .expect("import")
            .into_inner();
        assert_eq!(reply.imported, 2);
        assert_eq!(reply.user_ids, ["imp-1", "1000"]);
        for (id, name) in [("imp-1", "One"), ("1000", "Two")] {
            let stored = client
                .get_user(GetUserRequest { user_id: id.into() })
                .await
                .expect("imported user exists")
                .into_inner();
            assert_eq!(stored.name, name);
            assert_eq!(stored.role, Role::Member as i32);
        }
        let empty = client
            .import_users(tokio_stream::iter(Vec::<User>::new()))
            .await
            .expect("empty import")
            .into_inner();
        assert_eq!((empty.imported, empty.user_ids.len()), (0, 0));
    }

    #[tokio::test]
    async fn import_fails_whole_on_the_first_invalid_or_taken_user() {
        let server = TestServer::start().await;
        let mut client = server.users().await;
        let invalid = vec![
            named("ok"),
            named("fine"),
            User {
                email: "nope".into(),
                ..named(" ")
            },
            named("never checked"),
        ];
        let err = client
            .import_users(tokio_stream::iter(invalid))
            .await
            .expect_err("invalid third user");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(fields(&err), ["users[2].name", "users[2].email"]);
        assert!(
            err.message()
                .starts_with("invalid request: users[2].name: "),
            "{}",
            err.message()
        );

        let taken = vec![
            User {
                user_id: "new".into(),
                ..named("New")
            },
            User {
                user_id: "42".into(),
                ..named("Impostor")
            },
        ];
        let err = client
            .import_users(tokio_stream::iter(taken))
            .await
            .expect_err("id taken");
        assert_eq!(err.code(), Code::AlreadyExists);
        assert_eq!(err.message(), "user 42 already exists");

        let listed = client
            .list_users(ListUsersRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert_eq!(
            listed.total_size, 3,
            "nothing was stored by the failed imports"
        );
    }
}
