//! `demo.v1.UserService`: request validation and translation onto [`UserStore`]. Every failure
//! leaves as a [`DemoError`], so codes and BadRequest details are uniform across methods.

use std::sync::Arc;

use bytes::Bytes;
use tonic::{Request, Response, Status, Streaming};

use super::avatar::{Avatar, DEFAULT_CONTENT_TYPE};
use super::errors::DemoError;
use super::lazy_stream::ResponseStream;
use super::page_token::PageToken;
use super::pb::google::api::HttpBody;
use super::pb::user_service_server::UserService;
use super::pb::{
    DeleteUserRequest, GetAvatarRequest, GetUserRequest, ImportUsersResponse, ListUsersRequest,
    ListUsersResponse, Role, StreamUsersRequest, UpdateUserRequest, UploadAvatarRequest,
    UploadAvatarResponse, User,
};
use super::store::UserStore;
use super::stream_probe::StreamProbe;
use super::user_fields::parse_update_mask;
use super::user_import::read_import;
use super::user_stream::StreamUsersPlan;
use super::validation::{new_user_violations, user_violations};
use super::version::DemoVersion;

/// ListUsers page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: usize = 10;
/// Larger requested page sizes are clamped to this.
pub const MAX_PAGE_SIZE: usize = 100;
/// Largest accepted avatar upload.
pub const MAX_AVATAR_BYTES: usize = 1024 * 1024;

/// The UserService implementation; clones share one store and one probe.
#[derive(Debug, Clone)]
pub struct DemoUserService {
    store: Arc<UserStore>,
    probe: StreamProbe,
    /// Decides how users look in replies (v2 tags them); the store is the same for all.
    version: DemoVersion,
}

impl DemoUserService {
    /// Serves `store`, with StreamUsers reporting to a private probe.
    pub fn new(store: Arc<UserStore>) -> Self {
        Self::with_probe(store, StreamProbe::new())
    }

    /// Serves `store`, with StreamUsers reporting to `probe`.
    pub fn with_probe(store: Arc<UserStore>, probe: StreamProbe) -> Self {
        Self {
            store,
            probe,
            version: DemoVersion::V1,
        }
    }

    /// The same service, replying as `version` does.
    pub fn with_version(self, version: DemoVersion) -> Self {
        Self { version, ..self }
    }

    fn reply(&self, user: User) -> Response<User> {
        Response::new(self.version.present(user))
    }
}

/// Path parameters are required: an empty one means the route bound nothing useful.
fn require_id<'a>(id: &'a str, field: &str) -> Result<&'a str, DemoError> {
    if id.is_empty() {
        Err(DemoError::invalid(field, "must not be empty"))
    } else {
        Ok(id)
    }
}

fn page_size(requested: i32) -> Result<usize, DemoError> {
    match usize::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
        Err(_) => Err(DemoError::invalid(
            "page_size",
            format!("must not be negative, got {requested}"),
        )),
    }
}

fn role_filter(raw: i32) -> Result<Option<Role>, DemoError> {
    match Role::try_from(raw) {
        Ok(Role::Unspecified) => Ok(None),
        Ok(role) => Ok(Some(role)),
        Err(_) => Err(DemoError::invalid(
            "role",
            format!("unknown role value {raw}"),
        )),
    }
}

fn page_token(raw: &str) -> Result<Option<PageToken>, DemoError> {
    if raw.is_empty() {
        return Ok(None);
    }
    PageToken::decode(raw)
        .map(Some)
        .map_err(|e| DemoError::invalid("page_token", e.to_string()))
}

fn avatar_from_upload(file: Option<HttpBody>) -> Result<Avatar, DemoError> {
    let file = file.ok_or_else(|| DemoError::invalid("file", "is required"))?;
    if file.data.is_empty() {
        return Err(DemoError::invalid("file.data", "must not be empty"));
    }
    if file.data.len() > MAX_AVATAR_BYTES {
        return Err(DemoError::invalid(
            "file.data",
            format!(
                "is {} bytes, the limit is {MAX_AVATAR_BYTES}",
                file.data.len()
            ),
        ));
    }
    let content_type = if file.content_type.is_empty() {
        DEFAULT_CONTENT_TYPE.to_owned()
    } else {
        file.content_type
    };
    Ok(Avatar {
        content_type,
        data: Bytes::from(file.data),
    })
}

#[tonic::async_trait]
impl UserService for DemoUserService {
    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let req = request.into_inner();
        let id = require_id(&req.user_id, "user_id")?;
        Ok(self.reply(self.store.get(id)?))
    }

    async fn create_user(&self, request: Request<User>) -> Result<Response<User>, Status> {
        let user = request.into_inner();
        let violations = new_user_violations(&user, "");
        if !violations.is_empty() {
            return Err(DemoError::InvalidArgument(violations).into());
        }
        let created = self.store.create(user)?;
        tracing::debug!(user_id = %created.user_id, "demo user created");
        Ok(self.reply(created))
    }

    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<User>, Status> {
        let req = request.into_inner();
        let patch = req
            .user
            .ok_or_else(|| DemoError::invalid("user", "is required"))?;
        let id = require_id(&patch.user_id, "user.user_id")?;
        let fields = parse_update_mask(req.update_mask.as_ref())?;
        let updated = self.store.update(id, |current| {
            let mut next = current.clone();
            for field in &fields {
                field.copy(&patch, &mut next);
            }
            let violations = user_violations(&next, "user.");
            if violations.is_empty() {
                Ok(next)
            } else {
                Err(DemoError::InvalidArgument(violations))
            }
        })?;
        Ok(self.reply(updated))
    }

    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<()>, Status> {
        let req = request.into_inner();
        self.store.delete(require_id(&req.user_id, "user_id")?)?;
        tracing::debug!(user_id = %req.user_id, "demo user deleted");
        Ok(Response::new(()))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let req = request.into_inner();
        let size = page_size(req.page_size)?;
        let role = role_filter(req.role)?;
        let after = page_token(&req.page_token)?;
        let page = self.store.list(after.as_ref(), role, size);
        Ok(Response::new(ListUsersResponse {
            users: page
                .users
                .into_iter()
                .map(|user| self.version.present(user))
                .collect(),
            next_page_token: page.next.map(|t| t.encode()).unwrap_or_default(),
            total_size: i32::try_from(page.total_size).unwrap_or(i32::MAX),
        }))
    }

    async fn get_avatar(
        &self,
        request: Request<GetAvatarRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let req = request.into_inner();
        let avatar = self.store.avatar(require_id(&req.user_id, "user_id")?)?;
        Ok(Response::new(avatar.into_http_body()))
    }

    async fn upload_avatar(
        &self,
        request: Request<UploadAvatarRequest>,
    ) -> Result<Response<UploadAvatarResponse>, Status> {
        let req = request.into_inner();
        let id = require_id(&req.user_id, "user_id")?;
        let avatar = avatar_from_upload(req.file)?;
        let reply = UploadAvatarResponse {
            user_id: id.to_owned(),
            size_bytes: i64::try_from(avatar.data.len()).unwrap_or(i64::MAX),
            content_type: avatar.content_type.clone(),
        };
        self.store.set_avatar(id, avatar)?;
        Ok(Response::new(reply))
    }

    type StreamUsersStream = ResponseStream<User>;

    async fn stream_users(
        &self,
        request: Request<StreamUsersRequest>,
    ) -> Result<Response<Self::StreamUsersStream>, Status> {
        let plan = StreamUsersPlan::parse(request.get_ref())?;
        let users = self.store.all().into_iter();
        let users = users.map(|user| self.version.present(user)).collect();
        let stream = plan.into_stream(users);
        Ok(Response::new(Box::pin(self.probe.track(stream))))
    }

    async fn import_users(
        &self,
        request: Request<Streaming<User>>,
    ) -> Result<Response<ImportUsersResponse>, Status> {
        let batch = read_import(request.into_inner()).await?;
        let created = self.store.create_all(batch)?;
        tracing::debug!(count = created.len(), "demo users imported");
        Ok(Response::new(ImportUsersResponse {
            imported: i32::try_from(created.len()).unwrap_or(i32::MAX),
            user_ids: created.into_iter().map(|u| u.user_id).collect(),
        }))
    }
}

#[cfg(test)]
#[path = "user_service_tests.rs"]
mod tests;
