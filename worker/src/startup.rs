//! Builds the worker process and runs it until told to stop.

use std::{sync::Arc, time::Duration};

use apalis::{
    layers::retry::{
        HasherRng,
        backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::*,
};
use redis::aio::ConnectionManager;
use shared::{
    Config,
    jobs::{self, BookingJob, EmailJob, Job, PaymentJob, Queues},
    outbox::Relay,
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    bookings::{self, BookingDeps},
    emails::{self, EmailDeps},
    janitor,
    mailer::Mailer,
    payments::{self, PaymentDeps},
    sweeper,
    wake::Wakeups,
};

/// How long in-flight jobs may run on after SIGTERM before they are left to
/// be re-run by another worker.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Spawns the supervised consumer of one queue: `$job`'s storage, its
/// handler with `$deps`, the retry policy with `$max` attempts.
macro_rules! consumer {
    ($app:ident, $stop:ident, $job:ty, $deps:expr, $handler:path, $max:expr) => {{
        let (config, redis, deps, stop_consumer) = ($app.config.clone(), $app.redis.clone(), $deps, $stop.clone());
        let wakeups = $app.wakeups.clone();
        tokio::spawn(supervise(<$job>::QUEUE, $stop.clone(), move |name| {
            // At once when a push is announced, and every interval anyway.
            let polls = Strategy::new().stream(wakeups.of(<$job>::QUEUE)).interval(config.queue_poll_interval);
            WorkerBuilder::new(name)
                .backend(jobs::storage::<$job>(redis.clone(), &config).poll_with_strategy(polls))
                .data(deps.clone())
                .concurrency(config.worker_concurrency)
                .retry(retry_policy(config.job_retry_base, $max))
                .enable_tracing()
                .build($handler)
                .run_until(stopped(stop_consumer.clone()))
        }))
    }};
}

/// A worker process: consumers of every queue, plus an outbox relay, the
/// sweeper and the janitor.
pub struct Application {
    config: Arc<Config>,
    db: PgPool,
    redis: ConnectionManager,
    relay: Relay,
    emails: Arc<EmailDeps>,
    payments: Arc<PaymentDeps>,
    bookings: Arc<BookingDeps>,
    wakeups: Wakeups,
}

impl Application {
    /// Prepares connections (lazily: nothing is contacted yet).
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let db = shared::db::pool(&config)?;
        let redis = shared::redis::connect(&config)?;
        let mailer = Mailer::new(&config)?;
        let relay = Relay::new(db.clone(), Queues::new(redis.clone(), &config), config.outbox_poll_interval);
        Ok(Self {
            payments: Arc::new(PaymentDeps {
                db: db.clone(),
                stripe: payments::client(&config)?,
                relay: relay.clone(),
            }),
            bookings: Arc::new(BookingDeps { db: db.clone(), relay: relay.clone() }),
            wakeups: Wakeups::new(),
            relay,
            emails: Arc::new(EmailDeps { db: db.clone(), mailer }),
            db,
            redis,
            config: Arc::new(config),
        })
    }

    /// Runs until `shutdown` resolves, then stops taking jobs and lets the
    /// running ones finish (up to 30 s).
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let relay = tokio::spawn(self.relay.clone().run(stop.clone().cancelled_owned()));
        let janitor = {
            let (config, redis, stop) = (self.config.clone(), self.redis.clone(), stop.clone());
            tokio::spawn(async move { janitor::run(&config, redis, stop).await })
        };
        let wakeups = {
            let (config, wakeups, stop) = (self.config.clone(), self.wakeups.clone(), stop.clone());
            tokio::spawn(async move { wakeups.listen(&config, stop).await })
        };
        let sweeper =
            tokio::spawn(sweeper::run(self.db.clone(), self.relay.clone(), sweeper::SWEEP_INTERVAL, stop.clone()));
        let emails = consumer!(self, stop, EmailJob, self.emails.clone(), emails::handle, emails::MAX_ATTEMPTS);
        let payments =
            consumer!(self, stop, PaymentJob, self.payments.clone(), payments::handle, payments::MAX_ATTEMPTS);
        let bookings =
            consumer!(self, stop, BookingJob, self.bookings.clone(), bookings::handle, bookings::MAX_ATTEMPTS);
        tracing::info!(concurrency = self.config.worker_concurrency, "worker started");
        shutdown.await;
        tracing::info!("worker stopping: finishing in-flight jobs");
        stop.cancel();
        let _ = relay.await;
        let _ = janitor.await;
        let _ = sweeper.await;
        let _ = wakeups.await;
        let _ = emails.await;
        let _ = payments.await;
        let _ = bookings.await;
        tracing::info!("worker stopped");
        Ok(())
    }
}

/// A name no other live worker has: apalis refuses a name seen recently.
fn worker_name(queue: &str, generation: u32) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let nonce = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}-{}-{queue}-{generation}-{nonce}", std::process::id())
}

/// Exponential backoff between in-process retries: `base` doubling to 60 s,
/// jittered; the handler gives up (dead set) after its last attempt.
fn retry_policy(base: Duration, max_attempts: usize) -> BackoffRetryPolicy<ExponentialBackoff<HasherRng>> {
    let ceiling = Duration::from_secs(60).max(base);
    let backoff = ExponentialBackoffMaker::new(base, ceiling, 0.5, HasherRng::default())
        .expect("BUG: constant backoff bounds are valid")
        .make_backoff();
    RetryPolicy::retries(max_attempts - 1).with_backoff(backoff)
}

/// Runs a job's work on a task of its own and waits for it.
///
/// When a consumer stops on a backend error (a Redis connection that
/// breaks), apalis drops the futures of the jobs it was running, and
/// [`supervise`] starts a new consumer that runs them again. Work cut off
/// between its effect (an email accepted, a card charged) and the commit
/// that records it would then be done twice; on a task of its own it runs to
/// its end whatever becomes of the consumer, and the job's next run finds
/// it recorded.
pub(crate) async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::spawn(work).await.map_err(|error| anyhow::anyhow!("the job's task failed: {error}"))
}

/// A future that resolves when `stop` is cancelled, as apalis wants it.
async fn stopped(stop: CancellationToken) -> Result<(), std::io::Error> {
    stop.cancelled().await;
    Ok(())
}

/// Runs one queue's consumer until `stop` is cancelled, starting it again
/// (under a new name, after a growing pause) whenever it stops on a backend
/// error such as a Redis outage. `run` starts a consumer named as given.
async fn supervise<F, Fut>(queue: &'static str, stop: CancellationToken, mut run: F)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let mut generation = 0;
    let mut pause = Duration::from_millis(250);
    while !stop.is_cancelled() {
        generation += 1;
        let grace = async {
            stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            result = run(worker_name(queue, generation)) => match result {
                Ok(()) if stop.is_cancelled() => break,
                Ok(()) => tracing::warn!(queue, "consumer ended; starting it again"),
                Err(error) => tracing::error!(queue, %error, "consumer stopped; starting it again"),
            },
            () = grace => {
                tracing::warn!(queue, "jobs still running after the grace period; they will run again elsewhere");
                break;
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}
