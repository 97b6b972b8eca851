//! `Idempotency-Key`: a retried write returns the first response.
//!
//! The key is recorded in the same transaction as the write it guards, with
//! a hash of the request. A concurrent retry waits on the first one's row;
//! a retry after it committed gets the stored response replayed; the same
//! key with another request is a 422. A write that failed stored nothing,
//! so its retry runs afresh. Keys are per user and kept 24 hours.

use poem_openapi::types::{ParseFromJSON, ToJSON};
use sha2::{Digest, Sha256};
use shared::domain::UserId;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{ApiError, Result};

/// Validates an `Idempotency-Key` header value.
pub fn parse_key(raw: Option<String>) -> Result<Option<String>> {
    match raw {
        None => Ok(None),
        Some(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(key)),
        Some(_) => Err(ApiError::invalid_field("Idempotency-Key", "must be 1 to 255 visible ASCII characters")),
    }
}

/// A guarded write in progress, or the response to replay.
pub enum Begun {
    Fresh(Guard),
    Replay(serde_json::Value),
}

/// The transaction of a guarded write; [`Guard::finish`] stores the
/// response and commits.
pub struct Guard {
    pub tx: Transaction<'static, Postgres>,
    key: Option<(UserId, String)>,
}

fn fingerprint(operation: &str, body: &impl ToJSON) -> String {
    let canonical = body.to_json_string();
    let digest = Sha256::digest(format!("{operation}\n{canonical}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens the write's transaction and claims `key` for this request.
pub async fn begin(
    db: &PgPool,
    user: UserId,
    key: Option<String>,
    operation: &str,
    body: &impl ToJSON,
) -> Result<Begun> {
    let mut tx = db.begin().await?;
    let Some(key) = key else {
        return Ok(Begun::Fresh(Guard { tx, key: None }));
    };
    let hash = fingerprint(operation, body);
    // A key older than its 24 hours is free again, even before the sweep.
    sqlx::query!(
        "delete from idempotency_keys
         where user_id = $1 and idempotency_key = $2 and created_at < now() - interval '24 hours'",
        user as UserId,
        key,
    )
    .execute(&mut *tx)
    .await?;
    let claimed = sqlx::query!(
        "insert into idempotency_keys (user_id, idempotency_key, request_hash) values ($1, $2, $3)
         on conflict do nothing",
        user as UserId,
        key,
        hash,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(Begun::Fresh(Guard { tx, key: Some((user, key)) }));
    }
    let stored = sqlx::query!(
        "select request_hash, response_body from idempotency_keys where user_id = $1 and idempotency_key = $2",
        user as UserId,
        key,
    )
    .fetch_one(&mut *tx)
    .await?;
    if stored.request_hash != hash {
        return Err(ApiError::invalid_field("Idempotency-Key", "was already used for a different request"));
    }
    let body = stored
        .response_body
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("idempotency key without a response")))?;
    Ok(Begun::Replay(serde_json::from_slice(&body).map_err(|e| ApiError::internal(anyhow::Error::from(e)))?))
}

impl Guard {
    /// Stores `response` under the key (if any) and commits the write.
    pub async fn finish(mut self, status: u16, response: &impl ToJSON) -> Result<()> {
        if let Some((user, key)) = &self.key {
            sqlx::query!(
                "update idempotency_keys set response_status = $3, response_body = $4
                 where user_id = $1 and idempotency_key = $2",
                *user as UserId,
                key,
                status as i16,
                response.to_json_string().into_bytes(),
            )
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// Decodes a replayed response body into its response type.
pub fn replayed<T: ParseFromJSON>(body: serde_json::Value) -> Result<T> {
    T::parse_from_json(Some(body))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("replaying a stored response: {}", e.into_message())))
}
