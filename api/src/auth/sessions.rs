//! Refresh-token sessions in Redis.
//!
//! A sign-in starts a *family*. Each refresh token is single-use: refreshing
//! marks it used and issues the next token of the same family. Presenting a
//! used token again means it was copied, so the whole family is revoked
//! (OAuth 2.0 Security BCP, refresh token rotation). Logout revokes the
//! family; a password change or account deletion revokes every family of
//! the user. Redis holds only SHA-256 hashes of tokens, never tokens.
//!
//! Keys, under `<namespace>:session:`: `t:<hash>` (hash: user, family,
//! used), `f:<family>` (set of token hashes), `u:<user>` (set of families).
//! Every change runs as one Lua script, so concurrent refreshes of one
//! token cannot both succeed.

use std::{sync::LazyLock, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use redis::{Script, aio::ConnectionManager};
use sha2::{Digest, Sha256};
use shared::domain::UserId;
use uuid::Uuid;

/// Refresh-token store.
#[derive(Clone)]
pub struct Sessions {
    conn: ConnectionManager,
    prefix: String,
    ttl_secs: u64,
}

/// Why a refresh token was refused.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("the refresh token is unknown, expired or revoked")]
    Invalid,
    #[error("the refresh token was already used; its sign-in has been revoked")]
    Reused,
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

static ISSUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local p, hash, user, family, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
        redis.call('HSET', p..'t:'..hash, 'user', user, 'family', family, 'used', '0')
        redis.call('EXPIRE', p..'t:'..hash, ttl)
        redis.call('SADD', p..'f:'..family, hash)
        redis.call('EXPIRE', p..'f:'..family, ttl)
        redis.call('SADD', p..'u:'..user, family)
        redis.call('EXPIRE', p..'u:'..user, ttl)
        return 1
        ",
    )
});

// Revoking a family deletes its tokens, itself and its entry in the user set.
const REVOKE_FAMILY: &str = r"
    local function revoke_family(p, user, family)
        for _, h in ipairs(redis.call('SMEMBERS', p..'f:'..family)) do
            redis.call('DEL', p..'t:'..h)
        end
        redis.call('DEL', p..'f:'..family)
        redis.call('SREM', p..'u:'..user, family)
    end
";

static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{REVOKE_FAMILY}
        local p, old, new, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
        local t = redis.call('HMGET', p..'t:'..old, 'user', 'family', 'used')
        local user, family, used = t[1], t[2], t[3]
        if not user then return {{'invalid'}} end
        if used == '1' then
            revoke_family(p, user, family)
            return {{'reused', user}}
        end
        if redis.call('EXISTS', p..'f:'..family) == 0 then return {{'invalid'}} end
        redis.call('HSET', p..'t:'..old, 'used', '1')
        redis.call('HSET', p..'t:'..new, 'user', user, 'family', family, 'used', '0')
        redis.call('EXPIRE', p..'t:'..new, ttl)
        redis.call('SADD', p..'f:'..family, new)
        redis.call('EXPIRE', p..'f:'..family, ttl)
        redis.call('EXPIRE', p..'u:'..user, ttl)
        return {{'ok', user}}
        "
    ))
});

static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{REVOKE_FAMILY}
        local p, hash = ARGV[1], ARGV[2]
        local t = redis.call('HMGET', p..'t:'..hash, 'user', 'family')
        if not t[1] then return 0 end
        revoke_family(p, t[1], t[2])
        return 1
        "
    ))
});

static REVOKE_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{REVOKE_FAMILY}
        local p, user = ARGV[1], ARGV[2]
        local families = redis.call('SMEMBERS', p..'u:'..user)
        for _, family in ipairs(families) do revoke_family(p, user, family) end
        redis.call('DEL', p..'u:'..user)
        return #families
        "
    ))
});

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

impl Sessions {
    pub fn new(conn: ConnectionManager, prefix: String, ttl: Duration) -> Self {
        Self { conn, prefix, ttl_secs: ttl.as_secs().max(1) }
    }

    /// Starts a session family for a fresh sign-in; returns its first token.
    pub async fn start(&self, user: UserId) -> Result<String, redis::RedisError> {
        let token = new_token();
        let mut conn = self.conn.clone();
        let _: i64 = ISSUE
            .arg(&self.prefix)
            .arg(digest(&token))
            .arg(user.to_string())
            .arg(Uuid::now_v7().to_string())
            .arg(self.ttl_secs)
            .invoke_async(&mut conn)
            .await?;
        Ok(token)
    }

    /// Spends `token` and returns its user and the family's next token.
    pub async fn rotate(&self, token: &str) -> Result<(UserId, String), RotateError> {
        let next = new_token();
        let mut conn = self.conn.clone();
        let reply: Vec<String> = ROTATE
            .arg(&self.prefix)
            .arg(digest(token))
            .arg(digest(&next))
            .arg(self.ttl_secs)
            .invoke_async(&mut conn)
            .await?;
        let user = || reply.get(1).and_then(|u| u.parse().ok()).map(UserId).ok_or(RotateError::Invalid);
        match reply.first().map(String::as_str) {
            Some("ok") => Ok((user()?, next)),
            Some("reused") => {
                tracing::warn!(user_id = %user()?, "refresh token reused; session family revoked");
                Err(RotateError::Reused)
            }
            _ => Err(RotateError::Invalid),
        }
    }

    /// Ends the sign-in `token` belongs to; unknown tokens are ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let _: i64 = REVOKE.arg(&self.prefix).arg(digest(token)).invoke_async(&mut conn).await?;
        Ok(())
    }

    /// Ends every sign-in of `user`.
    pub async fn revoke_all(&self, user: UserId) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let revoked: i64 = REVOKE_ALL.arg(&self.prefix).arg(user.to_string()).invoke_async(&mut conn).await?;
        tracing::info!(user_id = %user, revoked, "all sessions revoked");
        Ok(())
    }
}
