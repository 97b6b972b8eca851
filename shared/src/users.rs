//! Queries on user accounts.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::domain::{Email, PersonName, PhoneNumber, Role, UserId};
use crate::error::DomainError;
use crate::pagination::{CursorTime, PageLimit};

/// A user account as stored (never its password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated registration, with its password already hashed.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub password_hash: String,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub phone_number: Option<PhoneNumber>,
    pub role: Role,
}

/// Validated changes to an account; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub email: Option<Email>,
    pub password_hash: Option<String>,
    pub first_name: Option<PersonName>,
    pub last_name: Option<PersonName>,
    /// `Some(None)` removes the phone number.
    pub phone_number: Option<Option<PhoneNumber>>,
    pub role: Option<Role>,
}

/// What sign-in needs to know about an account.
#[derive(Debug)]
pub struct Credentials {
    pub id: UserId,
    pub role: Role,
    /// `None` for a deleted account: nobody can sign in as it.
    pub password_hash: Option<String>,
}

/// What anyone may see of an account: a first name and since when it
/// exists (hosts of listings, authors of reviews).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Profile {
    #[sqlx(rename = "user_id")]
    pub id: UserId,
    pub first_name: String,
    pub created_at: DateTime<Utc>,
}

/// Profiles by id, deleted accounts included (under their erased name);
/// unknown ids are left out.
#[tracing::instrument(skip_all, fields(ids = ids.len()))]
pub async fn profiles(executor: impl PgExecutor<'_>, ids: &[UserId]) -> sqlx::Result<Vec<Profile>> {
    sqlx::query_as("select user_id, first_name, created_at from users where user_id = any($1)")
        .bind(ids)
        .fetch_all(executor)
        .await
}

/// Sort key of the user list (newest first).
pub type UserCursor = (CursorTime, UserId);

#[tracing::instrument(skip_all)]
pub async fn insert(conn: &mut PgConnection, user: &NewUser) -> sqlx::Result<User> {
    sqlx::query_as!(
        User,
        r#"insert into users (user_id, email, password_hash, first_name, last_name, phone_number, role)
           values ($1, $2, $3, $4, $5, $6, $7)
           returning user_id as "id: UserId", email, first_name, last_name, phone_number,
                     role as "role: Role", created_at, updated_at"#,
        UserId::new() as UserId,
        user.email.as_str(),
        user.password_hash,
        user.first_name.as_str(),
        user.last_name.as_str(),
        user.phone_number.as_ref().map(PhoneNumber::as_str),
        user.role as Role,
    )
    .fetch_one(conn)
    .await
}

/// A live (not deleted) account.
#[tracing::instrument(skip(executor))]
pub async fn find(executor: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"select user_id as "id: UserId", email, first_name, last_name, phone_number,
                  role as "role: Role", created_at, updated_at
           from users where user_id = $1 and deleted_at is null"#,
        id as UserId,
    )
    .fetch_optional(executor)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn credentials_by_email(executor: impl PgExecutor<'_>, email: &Email) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        r#"select user_id as "id: UserId", role as "role: Role", password_hash
           from users where lower(email) = $1"#,
        email.as_str(),
    )
    .fetch_optional(executor)
    .await
}

#[tracing::instrument(skip(executor))]
pub async fn credentials(executor: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        r#"select user_id as "id: UserId", role as "role: Role", password_hash
           from users where user_id = $1 and deleted_at is null"#,
        id as UserId,
    )
    .fetch_optional(executor)
    .await
}

/// Live accounts, newest first, after `cursor`; fetches `limit.fetch()` rows.
#[tracing::instrument(skip(executor))]
pub async fn list(
    executor: impl PgExecutor<'_>,
    limit: PageLimit,
    cursor: Option<UserCursor>,
) -> sqlx::Result<Vec<User>> {
    let (after_time, after_id) = cursor.map(|(time, id)| (time.0, id)).unzip();
    sqlx::query_as!(
        User,
        r#"select user_id as "id: UserId", email, first_name, last_name, phone_number,
                  role as "role: Role", created_at, updated_at
           from users
           where deleted_at is null
             and ($1::timestamptz is null or (created_at, user_id) < ($1, $2))
           order by created_at desc, user_id desc
           limit $3"#,
        after_time,
        after_id.map(|id| id.0),
        limit.fetch(),
    )
    .fetch_all(executor)
    .await
}

/// Applies `changes` to a live account; `None` when there is no such account.
#[tracing::instrument(skip(conn, changes))]
pub async fn update(conn: &mut PgConnection, id: UserId, changes: &UserChanges) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"update users set
               email = coalesce($2, email),
               password_hash = coalesce($3, password_hash),
               first_name = coalesce($4, first_name),
               last_name = coalesce($5, last_name),
               phone_number = case when $6 then $7 else phone_number end,
               role = coalesce($8, role)
           where user_id = $1 and deleted_at is null
           returning user_id as "id: UserId", email, first_name, last_name, phone_number,
                     role as "role: Role", created_at, updated_at"#,
        id as UserId,
        changes.email.as_ref().map(Email::as_str),
        changes.password_hash.as_deref(),
        changes.first_name.as_ref().map(PersonName::as_str),
        changes.last_name.as_ref().map(PersonName::as_str),
        changes.phone_number.is_some(),
        changes.phone_number.as_ref().and_then(|p| p.as_ref().map(PhoneNumber::as_str)),
        changes.role as Option<Role>,
    )
    .fetch_optional(conn)
    .await
}

/// True while the user has a stay, as guest or as host, that is still to
/// come or under way: deleting the account would strand the other party.
#[tracing::instrument(skip(executor))]
async fn has_open_stays(executor: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<bool> {
    let open = sqlx::query_scalar!(
        r#"select exists (
               select 1 from bookings b join properties p using (property_id)
               where (b.guest_id = $1 or p.host_id = $1)
                 and b.status in ('pending', 'confirmed')
                 and not (b.status = 'pending' and b.expires_at <= now())
                 and b.check_out >= current_date
           ) as "open!""#,
        id as UserId,
    )
    .fetch_one(executor)
    .await?;
    Ok(open)
}

/// A query for the account whose id is the statement's parameter `param`
/// (`"$3"`), while it is open, locked `for key share`: the lock the
/// foreign key of a row pointing at it takes anyway, but taken before the
/// row is written and with `deleted_at is null`. A statement that writes a
/// row for its actor only from this query's row waits for an account being
/// closed ([`close`] locks it first) and then finds none, where the foreign
/// key alone would be satisfied by the erased row.
pub fn lock_if_open(param: &str) -> String {
    format!("select user_id from users where user_id = {param} and deleted_at is null for key share")
}

/// Closes a live account in the caller's transaction: refused (409) while
/// it takes part in a stay that is not over, else erased (see [`erase`]).
///
/// The account and its listings are locked before the check, so that no
/// hold can slip in between the check and the erasure. A hold being
/// written meanwhile (holding a key-share lock on its guest's row and a
/// lock on its listing) is waited for, then counted; one written after
/// waits for this transaction, then finds its guest or listing gone.
#[tracing::instrument(skip(conn))]
pub async fn close(conn: &mut PgConnection, id: UserId) -> Result<(), DomainError> {
    let live = sqlx::query_scalar!(
        "select user_id from users where user_id = $1 and deleted_at is null for update",
        id as UserId
    )
    .fetch_optional(&mut *conn)
    .await?;
    if live.is_none() {
        return Err(DomainError::NotFound("user"));
    }
    sqlx::query_scalar!(
        "select property_id from properties where host_id = $1 and deleted_at is null for update",
        id as UserId
    )
    .fetch_all(&mut *conn)
    .await?;
    if has_open_stays(&mut *conn, id).await? {
        return Err(DomainError::conflict(
            "open-stays",
            "This account takes part in stays that are not over; cancel them first.",
        ));
    }
    erase(conn, id).await?;
    Ok(())
}

/// Erases the personal data of an account and closes it; the row stays so
/// that the bookings, payments and reviews that point at it stay whole.
/// Its listings leave search. Returns false when there is no live account.
/// Unchecked: accounts close through [`close`].
#[tracing::instrument(skip(conn))]
pub async fn erase(conn: &mut PgConnection, id: UserId) -> sqlx::Result<bool> {
    let erased = sqlx::query!(
        r#"update users set
               email = 'deleted-' || user_id || '@users.invalid',
               password_hash = null,
               first_name = 'Deleted',
               last_name = 'User',
               phone_number = null,
               deleted_at = now()
           where user_id = $1 and deleted_at is null"#,
        id as UserId,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if erased {
        sqlx::query!(
            "update properties set deleted_at = now() where host_id = $1 and deleted_at is null",
            id as UserId,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(erased)
}
