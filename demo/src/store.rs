//! In-memory user directory behind the demo UserService. It owns the invariants of stored users:
//! ids are unique and immutable, `created_at`/`updated_at` are server-set, a stored role is never
//! `ROLE_UNSPECIFIED`, and an avatar never outlives its user.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use prost_types::Timestamp;

use super::avatar::Avatar;
use super::errors::DemoError;
use super::page_token::PageToken;
use super::pb::{Role, User};

/// First id handed out by CreateUser when the client leaves `user_id` empty.
const FIRST_GENERATED_ID: u64 = 1000;
/// Seed users' timestamps: 2024-01-01T00:00:00Z, fixed so tests can assert on them.
pub const SEED_TIMESTAMP_SECS: u64 = 1_704_067_200;

#[derive(Debug)]
struct Record {
    user: User,
    avatar: Option<Avatar>,
}

#[derive(Debug)]
struct State {
    users: BTreeMap<String, Record>,
    next_id: u64,
}

/// One ListUsers page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub users: Vec<User>,
    /// Present when more matching users follow.
    pub next: Option<PageToken>,
    /// Matching users across all pages.
    pub total_size: usize,
}

/// Thread-safe user directory; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct UserStore {
    state: RwLock<State>,
}

impl Default for UserStore {
    fn default() -> Self {
        Self::seeded()
    }
}

impl UserStore {
    /// A store with no users.
    pub fn empty() -> Self {
        Self {
            state: RwLock::new(State {
                users: BTreeMap::new(),
                next_id: FIRST_GENERATED_ID,
            }),
        }
    }

    /// The demo data set: users "1" (Alan Turing, admin), "2" (Grace Hopper) and "42" (Ada Lovelace).
    pub fn seeded() -> Self {
        let store = Self::empty();
        let at = Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_secs(SEED_TIMESTAMP_SECS));
        let seeds = [
            (
                "1",
                "Alan Turing",
                41,
                "alan@example.com",
                &["math", "cryptography"][..],
                Role::Admin,
            ),
            (
                "2",
                "Grace Hopper",
                85,
                "grace@example.com",
                &["navy", "compilers"][..],
                Role::Member,
            ),
            (
                "42",
                "Ada Lovelace",
                36,
                "ada@example.com",
                &["math", "poetry"][..],
                Role::Member,
            ),
        ];
        {
            let mut state = store.write();
            for (id, name, age, email, tags, role) in seeds {
                let user = User {
                    user_id: id.to_owned(),
                    name: name.to_owned(),
                    age,
                    email: email.to_owned(),
                    tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                    role: role as i32,
                    created_at: Some(at),
                    updated_at: Some(at),
                    padding: String::new(),
                };
                state
                    .users
                    .insert(id.to_owned(), Record { user, avatar: None });
            }
        }
        store
    }

    // A poisoned lock only means another request panicked; every mutation below is a single
    // insert/remove/assign, so the map is still consistent and serving on is safe.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user with this id.
    pub fn get(&self, id: &str) -> Result<User, DemoError> {
        self.read()
            .users
            .get(id)
            .map(|r| r.user.clone())
            .ok_or_else(|| DemoError::UserNotFound(id.to_owned()))
    }

    /// Every stored user, in id order.
    pub fn all(&self) -> Vec<User> {
        self.read().users.values().map(|r| r.user.clone()).collect()
    }

    /// Stores a new user (already validated). An empty `user_id` gets the next free numeric id.
    pub fn create(&self, user: User) -> Result<User, DemoError> {
        let mut state = self.write();
        if state.users.contains_key(&user.user_id) {
            return Err(DemoError::UserAlreadyExists(user.user_id));
        }
        Ok(state.insert_new(user))
    }

    /// Stores several new users (already validated) atomically: when any explicit id is taken,
    /// or given twice, nothing is stored.
    pub fn create_all(&self, users: Vec<User>) -> Result<Vec<User>, DemoError> {
        let mut state = self.write();
        let mut requested = std::collections::BTreeSet::new();
        for user in users.iter().filter(|u| !u.user_id.is_empty()) {
            if state.users.contains_key(&user.user_id) || !requested.insert(user.user_id.as_str()) {
                return Err(DemoError::UserAlreadyExists(user.user_id.clone()));
            }
        }
        Ok(users.into_iter().map(|u| state.insert_new(u)).collect())
    }

    /// Replaces a user with `change(current)`; identity and `created_at` are kept whatever
    /// `change` returns, `updated_at` is refreshed. Runs under the write lock, so concurrent
    /// updates of one user serialize instead of losing writes.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&User) -> Result<User, DemoError>,
    ) -> Result<User, DemoError> {
        let mut state = self.write();
        let record = state
            .users
            .get_mut(id)
            .ok_or_else(|| DemoError::UserNotFound(id.to_owned()))?;
        let mut next = change(&record.user)?;
        next.user_id.clone_from(&record.user.user_id);
        next.created_at = record.user.created_at;
        next.updated_at = Some(Timestamp::from(SystemTime::now()));
        normalize_role(&mut next);
        record.user = next.clone();
        Ok(next)
    }

    /// Removes a user together with its avatar.
    pub fn delete(&self, id: &str) -> Result<(), DemoError> {
        self.write()
            .users
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| DemoError::UserNotFound(id.to_owned()))
    }

    /// Up to `page_size` users in id order, strictly after `after`, with role `role` if given.
    pub fn list(&self, after: Option<&PageToken>, role: Option<Role>, page_size: usize) -> Page {
        let state = self.read();
        let matches = |r: &&Record| role.is_none_or(|role| r.user.role == role as i32);
        let total_size = state.users.values().filter(matches).count();
        let mut rest = state
            .users
            .iter()
            .filter(|(id, _)| after.is_none_or(|t| id.as_str() > t.last_user_id()))
            .map(|(_, r)| r)
            .filter(matches);
        let users: Vec<User> = rest
            .by_ref()
            .take(page_size)
            .map(|r| r.user.clone())
            .collect();
        let next = match (rest.next(), users.last()) {
            (Some(_), Some(last)) => Some(PageToken::after(last.user_id.clone())),
            _ => None,
        };
        Page {
            users,
            next,
            total_size,
        }
    }

    /// The uploaded avatar, or the generated placeholder when there is none.
    pub fn avatar(&self, id: &str) -> Result<Avatar, DemoError> {
        let state = self.read();
        let record = state
            .users
            .get(id)
            .ok_or_else(|| DemoError::UserNotFound(id.to_owned()))?;
        Ok(record
            .avatar
            .clone()
            .unwrap_or_else(|| Avatar::generated_for(&record.user)))
    }

    /// Replaces the user's avatar.
    pub fn set_avatar(&self, id: &str, avatar: Avatar) -> Result<(), DemoError> {
        let mut state = self.write();
        let record = state
            .users
            .get_mut(id)
            .ok_or_else(|| DemoError::UserNotFound(id.to_owned()))?;
        record.avatar = Some(avatar);
        Ok(())
    }
}

impl State {
    /// Inserts a user whose explicit id (if any) is known to be free.
    fn insert_new(&mut self, mut user: User) -> User {
        if user.user_id.is_empty() {
            user.user_id = loop {
                let candidate = self.next_id.to_string();
                self.next_id += 1;
                if !self.users.contains_key(&candidate) {
                    break candidate;
                }
            };
        }
        let now = Timestamp::from(SystemTime::now());
        user.created_at = Some(now);
        user.updated_at = Some(now);
        // Output only, and only meaningful on a StreamUsers message.
        user.padding.clear();
        normalize_role(&mut user);
        self.users.insert(
            user.user_id.clone(),
            Record {
                user: user.clone(),
                avatar: None,
            },
        );
        user
    }
}

/// New and fully-replaced users without a role become members.
fn normalize_role(user: &mut User) {
    if user.role == Role::Unspecified as i32 {
        user.role = Role::Member as i32;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn named(id: &str, name: &str) -> User {
        User {
            user_id: id.into(),
            name: name.into(),
            ..User::default()
        }
    }

    fn ids(users: &[User]) -> Vec<&str> {
        users.iter().map(|u| u.user_id.as_str()).collect()
    }

    #[test]
    fn seeded_users() {
        let store = UserStore::seeded();
        let ada = store.get("42").expect("seeded");
        assert_eq!(ada.name, "Ada Lovelace");
        assert_eq!(
            ada.created_at.map(|t| t.seconds),
            Some(SEED_TIMESTAMP_SECS as i64)
        );
        assert_eq!(store.get("1").map(|u| u.role), Ok(Role::Admin as i32));
        assert_eq!(store.get("7"), Err(DemoError::UserNotFound("7".into())));
    }

    #[test]
    fn create_generates_ids_sets_timestamps_and_rejects_duplicates() {
        let store = UserStore::empty();
        store.create(named("1000", "Taken")).expect("explicit id");
        let generated = store.create(named("", "Auto")).expect("generated id");
        assert_eq!(generated.user_id, "1001", "skips the taken 1000");
        assert!(generated.created_at.is_some());
        assert_eq!(generated.created_at, generated.updated_at);
        assert_eq!(generated.role, Role::Member as i32);
        assert_eq!(
            store.create(named("1000", "Again")),
            Err(DemoError::UserAlreadyExists("1000".into()))
        );
    }

    #[test]
    fn create_clears_padding_and_all_lists_in_id_order() {
        let store = UserStore::seeded();
        let padded = User {
            padding: "xxx".into(),
            ..named("7", "Padded")
        };
        assert_eq!(store.create(padded).map(|u| u.padding), Ok(String::new()));
        assert_eq!(ids(&store.all()), ["1", "2", "42", "7"]);
        assert!(UserStore::empty().all().is_empty());
    }

    #[test]
    fn create_all_is_all_or_nothing() {
        let store = UserStore::seeded();
        let created = store
            .create_all(vec![named("", "Auto"), named("a", "A"), named("", "Auto2")])
            .expect("all new");
        assert_eq!(ids(&created), ["1000", "a", "1001"]);
        assert!(created.iter().all(|u| u.created_at.is_some()));
        assert_eq!(store.get("a"), Ok(created[1].clone()));

        let cases = [
            (vec![named("b", "B"), named("42", "Taken")], "42"),
            (
                vec![named("c", "C"), named("", "D"), named("c", "Twice")],
                "c",
            ),
        ];
        for (batch, conflict) in cases {
            let before = store.all();
            assert_eq!(
                store.create_all(batch),
                Err(DemoError::UserAlreadyExists(conflict.into()))
            );
            assert_eq!(store.all(), before, "nothing stored on conflict");
        }
        assert_eq!(store.create_all(Vec::new()), Ok(Vec::new()));
    }

    #[test]
    fn update_keeps_identity_and_created_at() {
        let store = UserStore::seeded();
        let updated = store
            .update("42", |current| {
                let mut next = current.clone();
                next.user_id = "hijack".into();
                next.created_at = None;
                next.name = "Augusta Ada King".into();
                Ok(next)
            })
            .expect("update");
        assert_eq!(updated.user_id, "42");
        assert_eq!(
            updated.created_at.map(|t| t.seconds),
            Some(SEED_TIMESTAMP_SECS as i64)
        );
        assert!(updated.updated_at.map(|t| t.seconds) > Some(SEED_TIMESTAMP_SECS as i64));
        assert_eq!(store.get("42"), Ok(updated));
        assert_eq!(
            store.get("hijack"),
            Err(DemoError::UserNotFound("hijack".into()))
        );

        let err = store.update("42", |_| Err(DemoError::invalid("name", "bad")));
        assert!(matches!(err, Err(DemoError::InvalidArgument(_))));
        assert_eq!(
            store.get("42").map(|u| u.name),
            Ok("Augusta Ada King".into())
        );
        assert!(matches!(
            store.update("nope", |u| Ok(u.clone())),
            Err(DemoError::UserNotFound(_))
        ));
    }

    #[test]
    fn delete_removes_user_and_avatar() {
        let store = UserStore::seeded();
        let avatar = Avatar {
            content_type: "image/png".into(),
            data: Bytes::from_static(b"png"),
        };
        store.set_avatar("2", avatar).expect("user exists");
        store.delete("2").expect("delete");
        assert_eq!(store.delete("2"), Err(DemoError::UserNotFound("2".into())));
        assert_eq!(store.avatar("2"), Err(DemoError::UserNotFound("2".into())));
        store
            .create(named("2", "Reborn"))
            .expect("id is free again");
        assert_eq!(
            store.avatar("2").map(|a| a.content_type),
            Ok("image/svg+xml".into())
        );
    }

    #[test]
    fn list_pages_in_id_order_with_filter() {
        let store = UserStore::seeded();
        for id in ["3", "4", "5"] {
            store.create(named(id, "Extra")).expect("create");
        }
        // Ids sort as strings: 1, 2, 3, 4, 42, 5.
        let first = store.list(None, None, 4);
        assert_eq!(ids(&first.users), ["1", "2", "3", "4"]);
        assert_eq!(first.total_size, 6);
        let token = first.next.expect("more pages");
        let second = store.list(Some(&token), None, 4);
        assert_eq!(ids(&second.users), ["42", "5"]);
        assert_eq!(second.next, None);

        let admins = store.list(None, Some(Role::Admin), 10);
        assert_eq!(ids(&admins.users), ["1"]);
        assert_eq!(admins.total_size, 1);

        let exact = store.list(None, Some(Role::Member), 5);
        assert_eq!(exact.users.len(), 5);
        assert_eq!(exact.next, None, "no token when nothing follows");
    }

    #[test]
    fn list_resumes_after_deleted_anchor() {
        let store = UserStore::seeded();
        let first = store.list(None, None, 1);
        let token = first.next.expect("more pages");
        store.delete("1").expect("delete anchor");
        assert_eq!(ids(&store.list(Some(&token), None, 10).users), ["2", "42"]);
    }
}
