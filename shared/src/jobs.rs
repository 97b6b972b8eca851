//! Job payloads and queue names: the contract between the API (producer) and
//! the worker (consumer). Both compile these same types.
//!
//! Payloads carry ids, not personal data: the worker reads what it needs at
//! run time, so a job never outlives the data it refers to in Redis.
//! New fields must have `#[serde(default)]`, so that jobs already queued
//! still decode after a deploy.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::RedisStorage;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::{BookingId, PaymentId, UserId};

/// A kind of job and the queue it travels on.
pub trait Job: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    /// Queue name, without the deployment's namespace.
    const QUEUE: &'static str;
}

/// What travels on a queue: the job, with the id it got in the outbox (also
/// its apalis task id, so a row pushed twice is queued once) and the id of
/// the request that caused it, for tracing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope<J> {
    pub job_id: Uuid,
    #[serde(default)]
    pub request_id: Option<String>,
    pub job: J,
}

/// Which side of a booking an email goes to.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Guest,
    Host,
}

impl Party {
    fn as_str(self) -> &'static str {
        match self {
            Party::Guest => "guest",
            Party::Host => "host",
        }
    }
}

impl<J: Job> Envelope<J> {
    /// The span of one run of this job: its queue, id, attempt, and the
    /// request that caused it, so logs link a request to its jobs.
    /// `queued_ms` is the time from the job's enqueueing (the commit that
    /// wrote it to the outbox) to this run's start; for a job scheduled
    /// ahead, it includes the wait until due.
    pub fn span(&self, attempt: usize) -> tracing::Span {
        let queued_ms =
            self.enqueued_at().map(|at| (Utc::now() - at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
        tracing::info_span!(
            "job",
            queue = J::QUEUE,
            job_id = %self.job_id,
            request_id = self.request_id.as_deref().unwrap_or(""),
            attempt,
            queued_ms,
        )
    }

    /// When the job was enqueued: its id is the UUIDv7 the outbox gave it.
    pub fn enqueued_at(&self) -> Option<DateTime<Utc>> {
        let (secs, nanos) = self.job_id.get_timestamp()?.to_unix();
        DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
    }
}

/// Emails to send; each names the event it announces.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailJob {
    /// Sent once after registration.
    Welcome { user_id: UserId },
    /// A booking was made (a hold awaiting payment).
    BookingRequested { booking_id: BookingId, to: Party },
    /// The dates or guests of a pending booking changed at `at`.
    BookingChanged { booking_id: BookingId, to: Party, at: DateTime<Utc> },
    /// A booking was cancelled (with the refund due, if any).
    BookingCancelled { booking_id: BookingId, to: Party },
    /// An unpaid hold timed out; the guest is told.
    HoldExpired { booking_id: BookingId },
    /// A stay ended; the guest is invited to review it.
    ReviewInvitation { booking_id: BookingId },
    /// A payment succeeded: the guest's receipt.
    PaymentReceipt { payment_id: PaymentId },
    /// A payment confirmed the booking; both parties hear.
    BookingConfirmed { booking_id: BookingId, to: Party },
    /// A card was declined; the guest may retry while the hold lasts.
    PaymentFailed { payment_id: PaymentId },
    /// Money went back to the guest (cancellation or a booking lost meanwhile).
    RefundIssued { payment_id: PaymentId, to: Party },
}

impl EmailJob {
    /// Identifies the event, so that its email is sent once however often
    /// the job runs.
    pub fn dedup_key(&self) -> String {
        match self {
            EmailJob::Welcome { user_id } => format!("welcome:{user_id}"),
            EmailJob::BookingRequested { booking_id, to } => format!("booking_requested:{booking_id}:{}", to.as_str()),
            EmailJob::BookingChanged { booking_id, to, at } => {
                format!("booking_changed:{booking_id}:{}:{}", to.as_str(), at.timestamp_micros())
            }
            EmailJob::BookingCancelled { booking_id, to } => format!("booking_cancelled:{booking_id}:{}", to.as_str()),
            EmailJob::HoldExpired { booking_id } => format!("hold_expired:{booking_id}"),
            EmailJob::ReviewInvitation { booking_id } => format!("review_invitation:{booking_id}"),
            EmailJob::PaymentReceipt { payment_id } => format!("payment_receipt:{payment_id}"),
            EmailJob::BookingConfirmed { booking_id, to } => format!("booking_confirmed:{booking_id}:{}", to.as_str()),
            EmailJob::PaymentFailed { payment_id } => format!("payment_failed:{payment_id}"),
            EmailJob::RefundIssued { payment_id, to } => format!("refund_issued:{payment_id}:{}", to.as_str()),
        }
    }

    /// The template's name, as recorded in `sent_emails`.
    pub fn template(&self) -> &'static str {
        match self {
            EmailJob::Welcome { .. } => "welcome",
            EmailJob::BookingRequested { .. } => "booking_requested",
            EmailJob::BookingChanged { .. } => "booking_changed",
            EmailJob::BookingCancelled { .. } => "booking_cancelled",
            EmailJob::HoldExpired { .. } => "hold_expired",
            EmailJob::ReviewInvitation { .. } => "review_invitation",
            EmailJob::PaymentReceipt { .. } => "payment_receipt",
            EmailJob::BookingConfirmed { .. } => "booking_confirmed",
            EmailJob::PaymentFailed { .. } => "payment_failed",
            EmailJob::RefundIssued { .. } => "refund_issued",
        }
    }
}

impl Job for EmailJob {
    const QUEUE: &'static str = "emails";
}

/// Card payments, run by the worker against Stripe.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentJob {
    /// Charge a pending payment (create and confirm its PaymentIntent).
    Charge { payment_id: PaymentId },
    /// Give `amount` of a succeeded payment back.
    Refund { payment_id: PaymentId, amount: i64 },
}

impl Job for PaymentJob {
    const QUEUE: &'static str = "payments";
}

/// A booking's moves in time, each queued to run when it is due.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BookingJob {
    /// The hold may have lapsed: expire it if it is still unpaid and due.
    ExpireHold { booking_id: BookingId },
    /// The check-out day has come: complete the stay if it is confirmed.
    CompleteStay { booking_id: BookingId },
}

impl Job for BookingJob {
    const QUEUE: &'static str = "bookings";
}

/// Queue names this deployment uses, for listing and clean-up.
pub const QUEUES: &[&str] = &[EmailJob::QUEUE, PaymentJob::QUEUE, BookingJob::QUEUE];

/// The apalis queue settings shared by producers and consumers.
pub fn queue_config(config: &Config, queue: &str) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(config.redis_key(queue))
        .batch_size(config.worker_concurrency.max(1))
        .heartbeat_interval(config.worker_heartbeat)
        .missed_heartbeats(3)
}

/// The storage of one job kind's queue.
pub fn storage<J: Job>(conn: ConnectionManager, config: &Config) -> RedisStorage<Envelope<J>> {
    RedisStorage::new(conn).with_config(queue_config(config, J::QUEUE))
}

/// The Redis channel on which producers announce pushes: each message is
/// the name of a queue that has new jobs, and workers poll it at once
/// rather than at their next interval.
pub fn wake_channel(config: &Config) -> String {
    config.redis_key("wake")
}

/// Producer side of every queue.
#[derive(Clone)]
pub struct Queues {
    emails: RedisStorage<Envelope<EmailJob>>,
    payments: RedisStorage<Envelope<PaymentJob>>,
    bookings: RedisStorage<Envelope<BookingJob>>,
    conn: ConnectionManager,
    wake_channel: String,
}

impl Queues {
    pub fn new(conn: ConnectionManager, config: &Config) -> Self {
        Self {
            emails: storage(conn.clone(), config),
            payments: storage(conn.clone(), config),
            bookings: storage(conn.clone(), config),
            conn,
            wake_channel: wake_channel(config),
        }
    }

    /// Tells the workers that `queue` has new jobs. Best effort: a lost
    /// announcement only delays the job until the workers' next poll.
    pub async fn announce(&self, queue: &str) {
        const ANNOUNCE_TIMEOUT: Duration = Duration::from_millis(500);
        let mut conn = self.conn.clone();
        let mut command = redis::cmd("PUBLISH");
        command.arg(&self.wake_channel).arg(queue);
        let publish = command.query_async::<i64>(&mut conn);
        match tokio::time::timeout(ANNOUNCE_TIMEOUT, publish).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(%error, queue, "push not announced"),
            Err(_) => tracing::debug!(queue, "push not announced: Redis did not answer"),
        }
    }

    /// How many jobs each queue holds that no worker has fetched yet
    /// (pushed and due, or waiting for a retry), in one Redis call.
    pub async fn waiting(&self) -> anyhow::Result<Vec<(&'static str, usize)>> {
        let queues = [
            (EmailJob::QUEUE, self.emails.get_config()),
            (PaymentJob::QUEUE, self.payments.get_config()),
            (BookingJob::QUEUE, self.bookings.get_config()),
        ];
        let mut pipe = redis::pipe();
        for (_, config) in &queues {
            pipe.zcard(config.scheduled_jobs_set()).llen(config.active_jobs_list());
        }
        let mut conn = self.conn.clone();
        let depths: Vec<usize> = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut conn))
            .await
            .map_err(|_| anyhow::anyhow!("reading the queues' lengths timed out"))??;
        Ok(queues.iter().zip(depths.chunks(2)).map(|((queue, _), depth)| (*queue, depth.iter().sum())).collect())
    }

    /// How many more jobs each queue takes before it holds [`MAX_QUEUED`].
    pub async fn room(&self) -> anyhow::Result<Vec<(&'static str, usize)>> {
        Ok(self
            .waiting()
            .await?
            .into_iter()
            .map(|(queue, waiting)| (queue, MAX_QUEUED.saturating_sub(waiting)))
            .collect())
    }

    /// Pushes outbox rows of one queue in one Redis call, each under its
    /// outbox id as task id. Answers the rows it could not even build a
    /// task from (an unknown queue, a payload of another shape), with why;
    /// an error means nothing was pushed.
    pub async fn push_batch(&self, queue: &str, rows: Vec<Outgoing>) -> anyhow::Result<Vec<(Uuid, String)>> {
        let push = async {
            match queue {
                EmailJob::QUEUE => push_envelopes(&self.emails, rows).await,
                PaymentJob::QUEUE => push_envelopes(&self.payments, rows).await,
                BookingJob::QUEUE => push_envelopes(&self.bookings, rows).await,
                other => Ok(rows.into_iter().map(|row| (row.job_id, format!("no queue named {other:?}"))).collect()),
            }
        };
        tokio::time::timeout(REDIS_TIMEOUT, push)
            .await
            .map_err(|_| anyhow::anyhow!("pushing to the {queue} queue timed out"))?
    }
}

/// How long the relay waits on Redis for one call.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);

/// An outbox row on its way to its queue.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub job_id: Uuid,
    pub payload: serde_json::Value,
    pub request_id: Option<String>,
}

/// Jobs a queue holds at most in Redis, pushed and not yet fetched by a
/// worker; the rest wait in the outbox until there is room
/// ([`Queues::room`]).
///
/// Two costs of apalis-redis 1.0 grow with what a queue holds:
/// - A worker starts each job it fetched with an `LREM` of the job from the
///   queue's list, which the fetch has already trimmed it off: a scan of
///   every job still waiting, per job, on Redis's one core (224 µs a job
///   with some 20,000 waiting).
/// - Its fetch moves every due job of the scheduled set to that list in
///   one Lua `unpack`, which fails from 8,000 on: a queue that grew past it
///   while no worker ran could never be fetched from again.
///
/// Relays that race each other past the bound overshoot it by one batch
/// (100) each at most, so up to some 70 processes filling a queue no worker
/// takes from stay clear of the 8,000.
pub const MAX_QUEUED: usize = 1_000;

async fn push_envelopes<J: Job>(
    storage: &RedisStorage<Envelope<J>>,
    rows: Vec<Outgoing>,
) -> anyhow::Result<Vec<(Uuid, String)>> {
    let mut storage = storage.clone();
    let mut tasks = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    for row in rows {
        match serde_json::from_value::<J>(row.payload) {
            Ok(job) => tasks.push(
                TaskBuilder::new(Envelope { job_id: row.job_id, request_id: row.request_id, job })
                    .task_id(TaskId::from_string(row.job_id.to_string()))
                    .build(),
            ),
            Err(error) => rejected.push((row.job_id, format!("payload of another shape: {error}"))),
        }
    }
    if !tasks.is_empty() {
        storage.push_all(futures::stream::iter(tasks)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_was_enqueued_when_its_outbox_id_was_made() {
        let before = Utc::now();
        let envelope = Envelope {
            job_id: Uuid::now_v7(),
            request_id: None,
            job: EmailJob::Welcome { user_id: UserId(Uuid::nil()) },
        };
        let at = envelope.enqueued_at().expect("a UUIDv7 has a time");
        assert!(at >= before - chrono::Duration::milliseconds(1) && at <= Utc::now(), "{at} vs {before}");
        assert_eq!(Envelope { job_id: Uuid::new_v4(), ..envelope }.enqueued_at(), None);
    }

    #[test]
    fn an_email_job_has_a_stable_wire_format() {
        let user_id = UserId(Uuid::nil());
        let envelope = Envelope { job_id: Uuid::nil(), request_id: None, job: EmailJob::Welcome { user_id } };
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["job"], serde_json::json!({"kind": "welcome", "user_id": Uuid::nil()}));
        assert_eq!(serde_json::from_value::<Envelope<EmailJob>>(json).unwrap(), envelope);
        assert_eq!(envelope.job.dedup_key(), format!("welcome:{}", Uuid::nil()));
    }
}
