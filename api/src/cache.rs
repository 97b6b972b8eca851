//! A Redis cache of hot reads: property details and the first pages of
//! searches (stored when asked for again, see [`Cache::admit`]). An
//! accelerator only: every Redis call has a 100 ms budget and
//! any failure reads from PostgreSQL instead.
//!
//! Freshness comes from versions, not deletes. Each write bumps the version
//! of what it changed after its commit and before its response; an entry
//! carries the versions current when its reader started, which it read
//! before the database, and is served only while they are still current.
//! A reader racing a write can thus only fill an entry tagged with the old
//! versions, which nobody is served again: no cached answer is older than
//! the last write whose response was sent. A lookup reads the versions and
//! the entry in one `MGET`.
//!
//! `CACHE=off` (`Config::cache_enabled`) makes [`Cache::lookup`] answer
//! `None`, so every read goes to PostgreSQL and nothing is stored; writes
//! still bump versions for processes that cache.
//!
//! Versions: `property:<id>` (its detail), `properties` (every detail, when
//! listings change in bulk, e.g. a host's account is deleted) and `search`
//! (every cached search; bumped by any change to listings, availability or
//! ratings).

use std::{
    hash::{BuildHasher, RandomState},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use redis::{AsyncCommands, aio::ConnectionManager};
use serde::Serialize;
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
    seen: Arc<Doorkeeper>,
}

/// Remembers recent misses, so that only what is asked for again is
/// stored: most searches (a city, a price range, the guest's own dates) are
/// made once, and storing each one would cost an encoding and a Redis write
/// that nobody reads. A direct-mapped table of key hashes, as TinyLFU's
/// doorkeeper: a key is admitted when its slot still holds it from an
/// earlier miss. At 2,000 distinct searches a second a slot is overwritten
/// after ~16 s on average, about the search TTL.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
    hasher: RandomState,
}

impl Doorkeeper {
    const SLOTS: usize = 1 << 15;

    fn new() -> Self {
        Self { slots: (0..Self::SLOTS).map(|_| AtomicU64::new(0)).collect(), hasher: RandomState::new() }
    }

    /// Whether `key` missed recently; notes this miss either way.
    fn admit(&self, key: &str) -> bool {
        let hash = self.hasher.hash_one(key);
        let slot = &self.slots[hash as usize % Self::SLOTS];
        slot.swap(hash, Ordering::Relaxed) == hash
    }
}

/// The versions an entry was read under; part of its key.
#[derive(Clone, Debug)]
pub struct Versions(String);

/// What [`Cache::lookup`] found: the versions to store a fresh read under,
/// and the entry, if one is stored under them.
#[derive(Debug)]
pub struct Lookup {
    pub versions: Versions,
    pub entry: Option<Vec<u8>>,
}

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
        Self { redis, prefix, enabled, stats: Arc::default(), seen: Arc::new(Doorkeeper::new()) }
    }

    /// Whether an entry that missed is worth storing: true when `key` has
    /// missed before, recently, in this process.
    pub fn admit(&self, key: &str) -> bool {
        self.seen.admit(key)
    }

    fn version_key(&self, scope: &str) -> String {
        format!("{}v:{scope}", self.prefix)
    }

    /// The current versions of `scopes` and the entry `key`, if it was
    /// stored under them, in one round trip. `None` (read from the
    /// database, store nothing) when the cache is off or unreachable;
    /// counts the hit or miss.
    pub async fn lookup(&self, key: &str, scopes: &[String]) -> Option<Lookup> {
        if !self.enabled {
            return None;
        }
        let mut keys: Vec<String> = scopes.iter().map(|s| self.version_key(s)).collect();
        keys.push(format!("{}{key}", self.prefix));
        let mut conn = self.redis.clone();
        let mut values: Vec<Option<Vec<u8>>> = within(conn.mget(&keys)).await?;
        let stored = values.pop().flatten();
        let mut versions = String::new();
        for (n, value) in values.iter().enumerate() {
            if n > 0 {
                versions.push('.');
            }
            // INCR wrote them: decimal integers; absent ones count as 0.
            versions.push_str(value.as_deref().map_or(Some("0"), |v| std::str::from_utf8(v).ok())?);
        }
        // Stored as `<versions>\n<entry>`.
        let tag = versions.len();
        let entry = stored.filter(|s| s.starts_with(versions.as_bytes()) && s.get(tag) == Some(&b'\n')).map(|mut s| {
            s.drain(..=tag);
            s
        });
        let counter = if entry.is_some() { &self.stats.hits } else { &self.stats.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(Lookup { versions: Versions(versions), entry })
    }

    /// Stores `value` as JSON under `key` at `versions` for `ttl`.
    pub async fn put<T: Serialize>(&self, key: &str, versions: &Versions, value: &T, ttl: Duration) {
        if let Ok(raw) = serde_json::to_vec(value) {
            self.put_raw(key, versions, &raw, ttl).await;
        }
    }

    /// Stores `raw` as `key` for `ttl`, tagged with `versions`. Of two
    /// readers racing, the last one's entry stays; if its versions are
    /// stale, the next lookup misses and refills it.
    pub async fn put_raw(&self, key: &str, versions: &Versions, raw: &[u8], ttl: Duration) {
        let mut tagged = Vec::with_capacity(versions.0.len() + 1 + raw.len());
        tagged.extend_from_slice(versions.0.as_bytes());
        tagged.push(b'\n');
        tagged.extend_from_slice(raw);
        let mut conn = self.redis.clone();
        let _: Option<()> = within(conn.set_ex(format!("{}{key}", self.prefix), tagged, ttl.as_secs())).await;
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

#[cfg(test)]
mod tests {
    use super::Doorkeeper;

    #[test]
    fn a_key_is_admitted_on_its_second_miss_while_its_slot_still_holds_it() {
        let seen = Doorkeeper::new();
        assert!(!seen.admit("search:a"), "first miss");
        assert!(seen.admit("search:a"), "second miss");
        assert!(seen.admit("search:a"));
        assert!(!seen.admit("search:b"));
        // Enough other keys overwrite every slot.
        for n in 0..Doorkeeper::SLOTS * 20 {
            seen.admit(&format!("search:{n}"));
        }
        assert!(!seen.admit("search:a"), "forgotten");
    }
}
