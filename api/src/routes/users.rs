use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use shared::{
    domain::{Email, Password, PersonName, PhoneNumber, Role, UserId, ValidationErrors},
    jobs::EmailJob,
    outbox,
    pagination::{CursorTime, Page, PageLimit, decode_cursor},
    password,
    policy::Actor,
    users::{self, NewUser, User, UserChanges},
};
use uuid::Uuid;

use crate::{
    auth::BearerAuth,
    error::{ApiError, Result},
    request_id::RequestId,
    routes::Tag,
    state::AppState,
    types::Text,
};

pub struct UsersApi {
    pub state: AppState,
}

/// What a user may do.
#[derive(Enum, async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[graphql(name = "UserRole")]
pub(crate) enum UserRole {
    Guest,
    Host,
    Admin,
}

/// The roles one can register with; `admin` is granted, never chosen.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
enum RegistrationRole {
    Guest,
    Host,
}

impl From<Role> for UserRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Guest => Self::Guest,
            Role::Host => Self::Host,
            Role::Admin => Self::Admin,
        }
    }
}

impl From<UserRole> for Role {
    fn from(role: UserRole) -> Self {
        match role {
            UserRole::Guest => Self::Guest,
            UserRole::Host => Self::Host,
            UserRole::Admin => Self::Admin,
        }
    }
}

/// A user account.
#[derive(Object, async_graphql::SimpleObject)]
#[oai(rename = "User")]
#[graphql(name = "User", complex)]
pub(crate) struct UserBody {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    #[oai(nullable)]
    pub(crate) phone_number: Option<String>,
    pub(crate) role: UserRole,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.0,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            phone_number: user.phone_number,
            role: user.role.into(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A page of users.
#[derive(Object)]
struct UserPage {
    items: Vec<UserBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// A registration.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct CreateUserRequest {
    #[oai(validator(max_length = 254))]
    email: Text,
    /// 8 to 128 characters.
    #[oai(validator(min_length = 8, max_length = 128))]
    password: Text,
    #[oai(validator(min_length = 1, max_length = 100))]
    first_name: Text,
    #[oai(validator(min_length = 1, max_length = 100))]
    last_name: Text,
    #[oai(nullable, validator(max_length = 32))]
    phone_number: Option<Text>,
    /// `guest` (default) or `host`.
    #[oai(nullable)]
    role: Option<RegistrationRole>,
}

/// Changes to an account; a field left out keeps its value.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct UpdateUserRequest {
    #[oai(nullable, validator(max_length = 254))]
    email: Option<Text>,
    /// A new password; signs the account out everywhere.
    #[oai(nullable, validator(min_length = 8, max_length = 128))]
    password: Option<Text>,
    /// Required to change one's own email or password.
    #[oai(nullable, validator(max_length = 128))]
    current_password: Option<Text>,
    #[oai(nullable, validator(min_length = 1, max_length = 100))]
    first_name: Option<Text>,
    #[oai(nullable, validator(min_length = 1, max_length = 100))]
    last_name: Option<Text>,
    /// `null` removes the phone number.
    #[oai(nullable, validator(max_length = 32))]
    phone_number: MaybeUndefined<Text>,
    /// Admins only.
    #[oai(nullable)]
    role: Option<UserRole>,
}

#[derive(ApiResponse)]
enum CreateUserResponse {
    /// The account exists; a welcome email is on its way.
    #[oai(status = 201)]
    Created(Json<UserBody>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum DeleteUserResponse {
    /// The account is closed and its personal data erased.
    #[oai(status = 204)]
    Deleted,
}

impl CreateUserRequest {
    fn parse(self) -> Result<(NewUserFields, Password), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&self.email));
        let password = errors.check("password", Password::parse_new(self.password.into_inner()));
        let first_name = errors.check("first_name", PersonName::parse(&self.first_name));
        let last_name = errors.check("last_name", PersonName::parse(&self.last_name));
        let phone_number = match self.phone_number {
            Some(raw) => errors.check("phone_number", PhoneNumber::parse(&raw)).map(Some),
            None => Some(None),
        };
        errors.into_result()?;
        let role = match self.role {
            Some(RegistrationRole::Host) => Role::Host,
            Some(RegistrationRole::Guest) | None => Role::Guest,
        };
        let fields = NewUserFields {
            email: email.expect("checked"),
            first_name: first_name.expect("checked"),
            last_name: last_name.expect("checked"),
            phone_number: phone_number.expect("checked"),
            role,
        };
        Ok((fields, password.expect("checked")))
    }
}

struct NewUserFields {
    email: Email,
    first_name: PersonName,
    last_name: PersonName,
    phone_number: Option<PhoneNumber>,
    role: Role,
}

/// An update, parsed; the new password is not hashed yet.
struct ParsedUpdate {
    changes: UserChanges,
    password: Option<Password>,
    current_password: Option<Password>,
}

impl UpdateUserRequest {
    fn parse(self) -> Result<ParsedUpdate, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut changes = UserChanges::default();
        if let Some(raw) = self.email {
            changes.email = errors.check("email", Email::parse(&raw));
        }
        let password = self.password.and_then(|raw| errors.check("password", Password::parse_new(raw.into_inner())));
        if let Some(raw) = self.first_name {
            changes.first_name = errors.check("first_name", PersonName::parse(&raw));
        }
        if let Some(raw) = self.last_name {
            changes.last_name = errors.check("last_name", PersonName::parse(&raw));
        }
        changes.phone_number = match self.phone_number {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(raw) => errors.check("phone_number", PhoneNumber::parse(&raw)).map(Some),
        };
        changes.role = self.role.map(Role::from);
        errors.into_result()?;
        Ok(ParsedUpdate {
            changes,
            password,
            current_password: self.current_password.map(|raw| Password::candidate(raw.into_inner())),
        })
    }
}

impl UsersApi {
    /// The account `id` if `actor` may see it; 404 otherwise.
    async fn visible_user(&self, actor: &Actor, id: UserId) -> Result<User> {
        if !actor.may_manage_user(id) {
            return Err(ApiError::not_found("user"));
        }
        users::find(&self.state.db, id).await?.ok_or_else(|| ApiError::not_found("user"))
    }

    /// Checks the caller's current password before a change to its own
    /// email or password.
    async fn confirm_current_password(&self, actor: &Actor, id: UserId, offered: Option<Password>) -> Result<()> {
        let Some(offered) = offered else {
            return Err(ApiError::invalid_field("current_password", "is required to change your email or password"));
        };
        let stored = users::credentials(&self.state.db, id).await?.and_then(|c| c.password_hash);
        let matches = match stored {
            Some(hash) => password::verify(offered, hash).await?,
            None => false,
        };
        if !matches {
            tracing::info!(user_id = %actor.user_id, "wrong current password on account change");
            return Err(ApiError::forbidden("The current password is incorrect."));
        }
        Ok(())
    }
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// Register an account
    ///
    /// Public. Sends a welcome email.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(&self, body: Json<CreateUserRequest>, request_id: Data<&RequestId>) -> Result<CreateUserResponse> {
        let (fields, password) = body.0.parse()?;
        let new_user = NewUser {
            email: fields.email,
            password_hash: password::hash(password).await?,
            first_name: fields.first_name,
            last_name: fields.last_name,
            phone_number: fields.phone_number,
            role: fields.role,
        };
        let mut tx = self.state.db.begin().await?;
        let user = users::insert(&mut tx, &new_user).await?;
        outbox::enqueue(&mut tx, &EmailJob::Welcome { user_id: user.id }, Some(&request_id.0.0)).await?;
        tx.commit().await?;
        self.state.relay.wake();
        tracing::info!(user_id = %user.id, role = user.role.as_str(), "user registered");
        let location = format!("/users/{}", user.id);
        Ok(CreateUserResponse::Created(Json(user.into()), location))
    }

    /// List users (admins)
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> Result<Json<UserPage>> {
        if !auth.0.may_list_users() {
            return Err(ApiError::forbidden("Only admins list users."));
        }
        let limit = PageLimit::parse(limit.0).map_err(|e| ApiError::invalid_field("limit", e))?;
        let after =
            cursor.0.as_deref().map(decode_cursor).transpose().map_err(|e| ApiError::invalid_field("cursor", e))?;
        let rows = users::list(&self.state.read_db, limit, after).await?;
        let page = Page::from_rows(rows, limit, |u| (CursorTime(u.created_at), u.id)).map(UserBody::from);
        Ok(Json(UserPage { items: page.items, next_cursor: page.next_cursor }))
    }

    /// The signed-in user's account
    #[oai(path = "/users/me", method = "get", operation_id = "getCurrentUser")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<UserBody>> {
        Ok(Json(self.visible_user(&auth.0, auth.0.user_id).await?.into()))
    }

    /// An account (its owner or an admin)
    #[oai(path = "/users/:user_id", method = "get", operation_id = "getUser")]
    async fn get(&self, auth: BearerAuth, user_id: Path<Uuid>) -> Result<Json<UserBody>> {
        Ok(Json(self.visible_user(&auth.0, UserId(user_id.0)).await?.into()))
    }

    /// Change an account (its owner or an admin)
    ///
    /// Changing one's own email or password needs `current_password`; a new
    /// password signs the account out everywhere. Only admins change roles.
    #[oai(path = "/users/:user_id", method = "put", operation_id = "updateUser")]
    async fn update(
        &self,
        auth: BearerAuth,
        user_id: Path<Uuid>,
        body: Json<UpdateUserRequest>,
    ) -> Result<Json<UserBody>> {
        let actor = auth.0;
        let id = UserId(user_id.0);
        self.visible_user(&actor, id).await?;
        let ParsedUpdate { mut changes, password, current_password } = body.0.parse()?;
        if let Some(role) = changes.role
            && !actor.may_set_role(id, role)
        {
            return Err(ApiError::forbidden("Only an admin changes roles, and an admin cannot give up its own."));
        }
        let sensitive = changes.email.is_some() || password.is_some();
        if sensitive && actor.needs_current_password(id) {
            self.confirm_current_password(&actor, id, current_password).await?;
        }
        let password_changed = password.is_some();
        if let Some(password) = password {
            changes.password_hash = Some(password::hash(password).await?);
        }
        let mut tx = self.state.db.begin().await?;
        let user = users::update(&mut tx, id, &changes).await?.ok_or_else(|| ApiError::not_found("user"))?;
        if password_changed {
            // Revoke before committing: if Redis fails, the password stays as it was.
            self.state.sessions.revoke_all(id).await?;
        }
        tx.commit().await?;
        Ok(Json(user.into()))
    }

    /// Close an account (its owner or an admin)
    ///
    /// Erases the personal data and signs the account out everywhere. Its
    /// bookings, payments and reviews stay, attributed to a deleted user;
    /// its listings leave search. Refused (409) while a stay it takes part
    /// in is pending, confirmed and not over.
    #[oai(path = "/users/:user_id", method = "delete", operation_id = "deleteUser")]
    async fn delete(&self, auth: BearerAuth, user_id: Path<Uuid>) -> Result<DeleteUserResponse> {
        let id = UserId(user_id.0);
        self.visible_user(&auth.0, id).await?;
        let mut tx = self.state.db.begin().await?;
        users::close(&mut tx, id).await?;
        self.state.sessions.revoke_all(id).await?;
        tx.commit().await?;
        // Its listings left search.
        self.state.cache.bump(&crate::cache::listings_changed()).await;
        tracing::info!(user_id = %id, "account deleted");
        Ok(DeleteUserResponse::Deleted)
    }
}
