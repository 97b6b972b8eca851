use std::sync::Arc;

use redis::aio::ConnectionManager;
use shared::{Config, db::Session, domain::PropertyId, jobs::Queues, outbox::Relay, properties::TermsCache};
use sqlx::PgPool;

use crate::{
    auth::{Sessions, TokenIssuer},
    cache::{self, Cache},
};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: PgPool,
    /// Reads that may lag the primary by a replica's delay: the lists and
    /// search pages after the first (first pages and details are cached, and
    /// the cache must only ever hold what the primary had).
    pub read_db: PgPool,
    /// Sessions planned for the walk of one city, newest first: that
    /// search's first pages, then its later ones (see
    /// `shared::properties::search`).
    pub walk_db: PgPool,
    pub read_walk_db: PgPool,
    pub redis: ConnectionManager,
    pub tokens: TokenIssuer,
    pub sessions: Sessions,
    /// Woken after each commit that wrote to the outbox.
    pub relay: Relay,
    pub cache: Cache,
    /// Listings' terms that bookings are quoted from (checked as written).
    pub terms: Arc<TermsCache>,
    pub writes: Writes,
}

/// The writes under way, which run to their end even when their client
/// has gone (see `startup::to_completion`): each holds a share of a lock
/// that shutdown waits to take whole.
#[derive(Clone, Default)]
pub struct Writes(Arc<tokio::sync::RwLock<()>>);

impl Writes {
    /// Marks a write under way until the guard drops.
    pub async fn start(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        Arc::clone(&self.0).read_owned().await
    }

    /// Resolves once no write is under way (and none starts after).
    pub async fn finished(&self) {
        drop(self.0.write().await);
    }
}

impl AppState {
    /// After a committed change to bookings (created, changed, cancelled):
    /// searches by availability are stale, and the jobs it wrote to the
    /// outbox should leave now.
    pub async fn bookings_changed(&self) {
        self.cache.bump(&cache::availability_changed()).await;
        self.relay.wake();
    }

    /// After a committed change to a listing's reviews: its rating changed.
    pub async fn reviews_changed(&self, property: PropertyId) {
        self.cache.bump(&cache::property_changed(property)).await;
    }

    /// Builds the state with lazy connections: nothing is contacted yet, so
    /// a process starts while PostgreSQL or Redis is down.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let db = shared::db::pool(&config)?;
        let read_db = shared::db::read_pool(&config, &db, Session::Default)?;
        let walk_db = shared::db::pool_with(&config, Session::Walk)?;
        let read_walk_db = shared::db::read_pool(&config, &walk_db, Session::Walk)?;
        let redis = shared::redis::connect(&config)?;
        Ok(Self {
            tokens: TokenIssuer::new(&config.jwt_secret, config.access_token_ttl),
            sessions: Sessions::new(redis.clone(), config.redis_key("session:"), config.refresh_token_ttl),
            cache: Cache::new(redis.clone(), config.redis_key("cache:"), config.cache_enabled),
            relay: Relay::new(db.clone(), Queues::new(redis.clone(), &config), config.outbox_poll_interval),
            db,
            read_db,
            walk_db,
            read_walk_db,
            redis,
            config: Arc::new(config),
            terms: Arc::default(),
            writes: Writes::default(),
        })
    }
}
