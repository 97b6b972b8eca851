//! The `bookings` queue: a booking's moves in time. Each job is queued (via
//! the outbox) to become due when its move is: a hold's expiry, a stay's
//! check-out day. A job that finds nothing to do (the hold was paid, the
//! stay cancelled) does nothing; the sweeper catches any that were missed.

use std::sync::Arc;

use apalis::prelude::{AbortError, Attempt, BoxDynError, Data};
use shared::{
    bookings::{self, Sweep},
    jobs::{BookingJob, Envelope},
    outbox::Relay,
};
use sqlx::PgPool;
use tracing::Instrument;

/// What the bookings handler needs.
#[derive(Clone)]
pub struct BookingDeps {
    pub db: PgPool,
    pub relay: Relay,
}

/// Attempts before a job is left in the dead set (the sweeper still covers it).
pub const MAX_ATTEMPTS: usize = 6;

/// apalis handler: one booking job.
pub async fn handle(
    job: Envelope<BookingJob>,
    attempt: Attempt,
    deps: Data<Arc<BookingDeps>>,
) -> Result<(), BoxDynError> {
    let span = job.span(attempt.current());
    match run(&deps, &job).instrument(span.clone()).await {
        Ok(()) => Ok(()),
        Err(error) => {
            let _entered = span.enter();
            tracing::warn!(error = format!("{error:#}"), "booking job failed");
            if attempt.current() >= MAX_ATTEMPTS {
                return Err(AbortError::new(format!("{error:#}")).into());
            }
            Err(format!("{error:#}").into())
        }
    }
}

async fn run(deps: &BookingDeps, job: &Envelope<BookingJob>) -> anyhow::Result<()> {
    let moved = bookings::job_may_be_due(&deps.db, &job.job).await? && make_move(deps, job).await?;
    if moved {
        deps.relay.wake();
    }
    tracing::info!(moved, "booking job done");
    Ok(())
}

/// The job's move under its booking's lock; whether it was made.
async fn make_move(deps: &BookingDeps, job: &Envelope<BookingJob>) -> anyhow::Result<bool> {
    let request_id = job.request_id.as_deref();
    let mut tx = deps.db.begin().await?;
    let moved = match job.job {
        BookingJob::ExpireHold { booking_id } => {
            !bookings::expire_due_holds(&mut tx, Sweep::Booking(booking_id), request_id).await?.is_empty()
        }
        BookingJob::CompleteStay { booking_id } => {
            !bookings::complete_finished_stays(&mut tx, Sweep::Booking(booking_id), request_id).await?.is_empty()
        }
    };
    tx.commit().await?;
    Ok(moved)
}
