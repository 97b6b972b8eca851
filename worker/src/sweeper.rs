//! Moves data along in time: unpaid holds expire, finished stays complete,
//! stale idempotency keys go.
//!
//! Nothing else does these: no request arrives when a hold lapses or a stay
//! ends. Each step runs in a transaction of its own, so one failing (a lock
//! timeout, a bad row) leaves the others to do their work; it is logged and
//! tried again on the next pass. The emails the steps queue are written to
//! the outbox in the same transaction as the change they announce.

use std::time::Duration;

use anyhow::Context;
use shared::{bookings, outbox::Relay};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// How often the worker sweeps. A hold outlives its expiry by at most this
/// much in the database (reads already treat it as expired: see
/// `Booking::status_at`).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// What one pass did; `None` for a step that failed (and was logged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub holds_expired: Option<usize>,
    pub stays_completed: Option<usize>,
    pub idempotency_keys_purged: Option<u64>,
}

/// Sweeps now and then every `every` until `stop` is cancelled; wakes
/// `relay` after a step that queued emails.
pub async fn run(db: PgPool, relay: Relay, every: Duration, stop: CancellationToken) {
    loop {
        sweep(&db, &relay).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// One pass of every step.
pub async fn sweep(db: &PgPool, relay: &Relay) -> Sweep {
    let holds_expired = logged("expiring unpaid holds", expire_holds(db).await);
    let stays_completed = logged("completing finished stays", complete_stays(db).await);
    if holds_expired.unwrap_or(0) + stays_completed.unwrap_or(0) > 0 {
        relay.wake();
    }
    let idempotency_keys_purged = logged("purging old idempotency keys", purge_idempotency_keys(db).await);
    if let Some(purged @ 1..) = idempotency_keys_purged {
        tracing::info!(purged, "old idempotency keys purged");
    }
    Sweep { holds_expired, stays_completed, idempotency_keys_purged }
}

fn logged<T>(step: &'static str, result: anyhow::Result<T>) -> Option<T> {
    result.map_err(|error| tracing::warn!(step, error = format!("{error:#}"), "sweep step failed")).ok()
}

/// Expires every due hold, a batch per transaction.
async fn expire_holds(db: &PgPool) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let expired = bookings::expire_due_holds(&mut tx, bookings::Sweep::All, None).await?.len();
        tx.commit().await.context("committing the expiries")?;
        total += expired;
        if expired < bookings::SWEEP_BATCH {
            return Ok(total);
        }
    }
}

/// Completes every finished stay, a batch per transaction.
async fn complete_stays(db: &PgPool) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let completed = bookings::complete_finished_stays(&mut tx, bookings::Sweep::All, None).await?.len();
        tx.commit().await.context("committing the completions")?;
        total += completed;
        if completed < bookings::SWEEP_BATCH {
            return Ok(total);
        }
    }
}

/// Forgets idempotency keys after a day: a client retries a write within
/// minutes, and the stored responses would otherwise grow forever.
async fn purge_idempotency_keys(db: &PgPool) -> anyhow::Result<u64> {
    let purged = sqlx::query!("delete from idempotency_keys where created_at < now() - interval '24 hours'")
        .execute(db)
        .await?
        .rows_affected();
    Ok(purged)
}
