//! A Redis cache of hot reads: property details and the first pages of
//! searches. An accelerator only: every Redis call has a 100 ms budget and
//! any failure reads from PostgreSQL instead.
//!
//! Freshness comes from versions, not deletes. Each write bumps the version
//! of what it changed after its commit and before its response; entries
//! are stored under the versions current when their reader started, which
//! it reads before the database. A reader racing a write can thus only
//! fill an entry under the old version, which nobody reads again: no
//! cached answer is older than the last write whose response was sent.
//!
//! `CACHE=off` (`Config::cache_enabled`) makes [`Cache::versions`] answer
//! `None`, so every read goes to PostgreSQL and nothing is stored; writes
//! still bump versions for processes that cache.
//!
//! Versions: `property:<id>` (its detail), `properties` (every detail, when
//! listings change in bulk, e.g. a host's account is deleted) and `search`
//! (every cached search; bumped by any change to listings, availability or
//! ratings).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use redis::{AsyncCommands, aio::ConnectionManager};
use serde::{Serialize, de::DeserializeOwned};
use shared::domain::PropertyId;

const BUDGET: Duration = Duration::from_millis(100);
pub const DETAIL_TTL: Duration = Duration::from_secs(60);
pub const SEARCH_TTL: Duration = Duration::from_secs(30);

/// Hits and misses since start.
#[derive(Debug, Default)]
pub struct Stats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

#[derive(Clone)]
pub struct Cache {
    redis: ConnectionManager,
    prefix: String,
    enabled: bool,
    pub stats: Arc<Stats>,
}

/// The versions an entry was read under; part of its key.
#[derive(Clone, Debug)]
pub struct Versions(String);

async fn within<T>(future: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
    match tokio::time::timeout(BUDGET, future).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::debug!(%error, "cache unavailable");
            None
        }
        Err(_) => {
            tracing::debug!("cache too slow");
            None
        }
    }
}

impl Cache {
    /// A cache under `prefix`; when not `enabled`, reads bypass it.
    pub fn new(redis: ConnectionManager, prefix: String, enabled: bool) -> Self {
        Self { redis, prefix, enabled, stats: Arc::default() }
    }

    fn version_key(&self, scope: &str) -> String {
        format!("{}v:{scope}", self.prefix)
    }

    /// The current versions of `scopes`, read before the database; `None`
    /// (read from the database, store nothing) when the cache is off or
    /// unreachable.
    pub async fn versions(&self, scopes: &[String]) -> Option<Versions> {
        if !self.enabled {
            return None;
        }
        let keys: Vec<String> = scopes.iter().map(|s| self.version_key(s)).collect();
        let mut conn = self.redis.clone();
        let values: Vec<Option<u64>> = within(conn.mget(&keys)).await?;
        Some(Versions(values.iter().map(|v| v.unwrap_or(0).to_string()).collect::<Vec<_>>().join(".")))
    }

    /// The entry `key` stored under `versions`, counting the hit or miss.
    pub async fn get<T: DeserializeOwned>(&self, key: &str, versions: &Versions) -> Option<T> {
        let mut conn = self.redis.clone();
        let raw: Option<Vec<u8>> = within(conn.get(format!("{}{key}@{}", self.prefix, versions.0))).await.flatten();
        let value = raw.and_then(|raw| serde_json::from_slice(&raw).ok());
        let counter = if value.is_some() { &self.stats.hits } else { &self.stats.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }

    /// Stores `value` under `key` at `versions` for `ttl`.
    pub async fn put<T: Serialize>(&self, key: &str, versions: &Versions, value: &T, ttl: Duration) {
        let Ok(raw) = serde_json::to_vec(value) else { return };
        let mut conn = self.redis.clone();
        let _: Option<()> =
            within(conn.set_ex(format!("{}{key}@{}", self.prefix, versions.0), raw, ttl.as_secs())).await;
    }

    /// Makes every entry read under `scopes` unreachable. Call after the
    /// write committed and before its response is sent.
    pub async fn bump(&self, scopes: &[String]) {
        let mut pipe = redis::pipe();
        for scope in scopes {
            pipe.incr(self.version_key(scope), 1).ignore();
        }
        let mut conn = self.redis.clone();
        if within(pipe.query_async::<()>(&mut conn)).await.is_none() {
            tracing::warn!(?scopes, "cache versions not bumped; entries expire within their TTL");
        }
    }
}

/// The version scopes of one listing's detail.
pub fn property_scopes(id: PropertyId) -> Vec<String> {
    vec![format!("property:{id}"), "properties".to_owned()]
}

/// Scopes a change to one listing (its fields, its reviews) invalidates.
pub fn property_changed(id: PropertyId) -> Vec<String> {
    vec![format!("property:{id}"), "search".to_owned()]
}

/// Scopes a change of availability (a booking made, moved or cancelled)
/// invalidates.
pub fn availability_changed() -> Vec<String> {
    vec!["search".to_owned()]
}

/// Scopes a bulk change of listings invalidates.
pub fn listings_changed() -> Vec<String> {
    vec!["properties".to_owned(), "search".to_owned()]
}
