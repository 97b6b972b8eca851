//! PostgreSQL pool and the workspace's migrations.

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::{PgPool, postgres::PgPoolOptions};

use crate::config::Config;

/// The schema, from `migrations/`; applied by the API at start and by tests.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How a pool's sessions are set up when they connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    /// Dates in UTC everywhere (check-in deadlines, `current_date`); plans
    /// as PostgreSQL chooses them.
    Default,
    /// As `Default`, and every prepared statement planned once for all its
    /// values, avoiding sorts: for the statement whose one good plan is an
    /// ordered index walk, whatever the values (`properties::search` in one
    /// city, newest first). Settings of the session, not of a transaction,
    /// so such a statement runs alone, in one round trip.
    Walk,
}

impl Session {
    fn setup(self) -> &'static str {
        match self {
            Session::Default => "set time zone 'UTC'",
            Session::Walk => "set time zone 'UTC'; set plan_cache_mode = force_generic_plan; set enable_sort = off",
        }
    }
}

/// A pool that connects lazily: a process starts while the database is down
/// and reports itself not ready until it is back. Queries time out instead
/// of hanging when no connection can be had.
pub fn pool(config: &Config) -> anyhow::Result<PgPool> {
    pool_with(config, Session::Default)
}

/// As [`pool`], with sessions set up as `session` says.
pub fn pool_with(config: &Config, session: Session) -> anyhow::Result<PgPool> {
    pool_at(config, config.database_url.expose_secret(), session).context("DATABASE_URL is not a valid PostgreSQL URL")
}

/// The pool of reads that may lag the primary (lists, later search pages):
/// the replica of `DATABASE_READ_URL`, else the primary's own pool.
pub fn read_pool(config: &Config, primary: &PgPool, session: Session) -> anyhow::Result<PgPool> {
    match &config.database_read_url {
        None => Ok(primary.clone()),
        Some(url) => {
            pool_at(config, url.expose_secret(), session).context("DATABASE_READ_URL is not a valid PostgreSQL URL")
        }
    }
}

fn pool_at(config: &Config, url: &str, session: Session) -> sqlx::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, session.setup()).await?;
                Ok(())
            })
        })
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(url)
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying database migrations")
}

/// True when `error` says the database is out of reach or going away (no
/// connection to be had, the connection lost, the server shutting down,
/// restarting or starting up): a retry later may succeed, and a client is
/// told 503, not 500.
pub fn unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        // SQLSTATE 57P01-03: admin_shutdown, crash_shutdown, cannot_connect_now;
        // class 08: connection exceptions (08P01, a protocol violation, is a bug).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(&*code, "57P01" | "57P02" | "57P03") || (code.starts_with("08") && code != "08P01")
        }),
        _ => false,
    }
}

/// True when PostgreSQL rolled the transaction back to let a concurrent one
/// through: the victim of a deadlock (40P01), or a serialization failure
/// (40001; on a replica also a query cancelled so that replay can go on).
/// The transaction left nothing behind, and the same request again normally
/// goes through: a client is told 503, not 500.
pub fn rolled_back_for_another(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// Maps a database error to the name of the constraint it violated, if any.
pub fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
