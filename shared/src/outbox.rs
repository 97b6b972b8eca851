//! Transactional outbox: jobs written with the change that causes them, and
//! the relay that moves them onto their Redis queues.
//!
//! A job is a row until Redis has it. If Redis is down, or the process dies
//! between the commit and the push, the row stays and a relay (any API or
//! worker process runs one) pushes it later. Rows are claimed with
//! `for update skip locked`, so relays in many processes never push one row
//! at the same time; a row pushed twice after a crash keeps its task id and
//! is queued once.

use std::{sync::Arc, time::Duration};

use futures::FutureExt;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::jobs::{EmailJob, Job, Outgoing, Party, Queues};

/// Writes `job` to the outbox inside the caller's transaction.
pub async fn enqueue<J: Job>(conn: &mut PgConnection, job: &J, request_id: Option<&str>) -> anyhow::Result<()> {
    enqueue_at(conn, job, None, request_id).await
}

/// Writes `job` to the outbox, to be queued once `due` (now when `None`):
/// the relay leaves the row until then, so a job scheduled for an hour
/// later survives restarts like any other.
pub async fn enqueue_at<J: Job>(
    conn: &mut PgConnection,
    job: &J,
    due: Option<chrono::DateTime<chrono::Utc>>,
    request_id: Option<&str>,
) -> anyhow::Result<()> {
    enqueue_all(conn, &[Entry::new(job, due)?], request_id).await
}

/// A job to write to the outbox with others in one statement
/// ([`enqueue_all`]).
#[derive(Debug)]
pub struct Entry {
    queue: &'static str,
    payload: serde_json::Value,
    due: Option<chrono::DateTime<chrono::Utc>>,
}

impl Entry {
    /// `job`, to be queued once `due` (now when `None`).
    pub fn new<J: Job>(job: &J, due: Option<chrono::DateTime<chrono::Utc>>) -> anyhow::Result<Self> {
        Ok(Self { queue: J::QUEUE, payload: serde_json::to_value(job)?, due })
    }

    /// The email `job` builds for each party of a booking, guest first.
    pub fn to_both_parties(job: impl Fn(Party) -> EmailJob) -> anyhow::Result<[Self; 2]> {
        Ok([Self::new(&job(Party::Guest), None)?, Self::new(&job(Party::Host), None)?])
    }
}

/// Writes the email `job` builds for each party of a booking to the outbox
/// inside the caller's transaction.
pub async fn notify_parties(
    conn: &mut PgConnection,
    job: impl Fn(Party) -> EmailJob,
    request_id: Option<&str>,
) -> anyhow::Result<()> {
    enqueue_all(conn, &Entry::to_both_parties(job)?, request_id).await
}

/// Writes `entries` to the outbox inside the caller's transaction, in one
/// round trip, in order.
pub async fn enqueue_all(conn: &mut PgConnection, entries: &[Entry], request_id: Option<&str>) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let sql = Rows::insert_sql(1, "true");
    Rows::new(entries, request_id).bind(sqlx::query(sqlx::AssertSqlSafe(sql))).execute(conn).await?;
    Ok(())
}

/// Entries as the values of one `insert into outbox`, for statements that
/// write them along with something else.
pub(crate) struct Rows<'a> {
    request_id: Option<&'a str>,
    ids: Vec<Uuid>,
    queues: Vec<&'static str>,
    payloads: Vec<&'a serde_json::Value>,
    dues: Vec<Option<chrono::DateTime<chrono::Utc>>>,
}

impl<'a> Rows<'a> {
    pub(crate) fn new(entries: &'a [Entry], request_id: Option<&'a str>) -> Self {
        Self {
            request_id,
            ids: entries.iter().map(|_| Uuid::now_v7()).collect(),
            queues: entries.iter().map(|e| e.queue).collect(),
            payloads: entries.iter().map(|e| &e.payload).collect(),
            dues: entries.iter().map(|e| e.due).collect(),
        }
    }

    /// The insert, taking the values [`bind`](Self::bind) adds as
    /// parameters `$first` to `$first + 4`, and writing the rows only where
    /// `condition` (SQL) holds.
    pub(crate) fn insert_sql(first: usize, condition: &str) -> String {
        let [request_id, ids, queues, payloads, dues] = std::array::from_fn(|n| first + n);
        format!(
            "insert into outbox (outbox_id, queue, payload, request_id, available_at)
             select id, queue, payload, ${request_id}, coalesce(due, now())
             from unnest(${ids}::uuid[], ${queues}::text[], ${payloads}::jsonb[], ${dues}::timestamptz[])
                 as t (id, queue, payload, due)
             where {condition}"
        )
    }

    /// Binds the values, in the order [`insert_sql`](Self::insert_sql) takes them.
    pub(crate) fn bind<'q, Q: Bind<'q>>(self, query: Q) -> Q
    where
        'a: 'q,
    {
        query
            .bind_value(self.request_id)
            .bind_value(self.ids)
            .bind_value(self.queues)
            .bind_value(self.payloads)
            .bind_value(self.dues)
    }
}

/// What `bind` is on both of sqlx's query types.
pub(crate) trait Bind<'q>: Sized {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>;
}

impl<'q> Bind<'q> for sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        self.bind(value)
    }
}

impl<'q, O> Bind<'q> for sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        self.bind(value)
    }
}

/// The due jobs of one queue still in the outbox: waiting for room in
/// their Redis queue, or for Redis.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Backlog {
    pub queue: String,
    pub due: i64,
    /// How long the oldest of them has been due.
    pub oldest_secs: f64,
}

/// The due jobs still in the outbox, by queue (queues with none left out).
pub async fn backlog(pool: &PgPool) -> sqlx::Result<Vec<Backlog>> {
    sqlx::query_as(
        "select queue, count(*) as due,
                extract(epoch from now() - min(available_at))::float8 as oldest_secs
         from outbox where available_at <= now()
         group by queue",
    )
    .fetch_all(pool)
    .await
}

/// Moves outbox rows onto their queues.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    queues: Queues,
    wake: Arc<Notify>,
    poll_interval: Duration,
}

/// Rows a pass claims at most per queue.
const BATCH: usize = 100;

/// How soon a relay looks again while a queue is at its bound: soon enough
/// that a worker taking 2,000 jobs a second never runs out of the
/// [`MAX_QUEUED`](crate::jobs::MAX_QUEUED) it was given. The delay doubles
/// (up to the poll interval) while the relay finds no room, so that a queue
/// no worker takes from costs each relay about one look per poll interval.
const FULL_QUEUE_RECHECK: Duration = Duration::from_millis(50);

/// What one relay pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Rows pushed onto their queues and deleted.
    pub pushed: usize,
    /// Some queue gave a whole batch: more rows may be due. The relay
    /// goes straight on, and the next pass sees whether they fit.
    pub more: bool,
    /// Some queue is at its bound (it was, or this pass filled it), so its
    /// due rows, if any, wait for a worker to make room.
    pub held_back: bool,
}

impl Relay {
    pub fn new(pool: PgPool, queues: Queues, poll_interval: Duration) -> Self {
        Self { pool, queues, wake: Arc::new(Notify::new()), poll_interval }
    }

    /// The queues it pushes to.
    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// Asks the relay to look at the outbox now (after a commit that wrote to it).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Relays until `shutdown` resolves: at once when woken, every poll
    /// interval for rows left behind by a crash or an outage, and more
    /// often while a queue is full, to refill it as workers take from it.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut recheck = FULL_QUEUE_RECHECK;
        loop {
            let pause = match self.relay_batch().await {
                Ok(pass) => {
                    if pass.pushed > 0 {
                        recheck = FULL_QUEUE_RECHECK;
                    }
                    if pass.more {
                        // Straight to the next batch, unless asked to stop.
                        if (&mut shutdown).now_or_never().is_some() {
                            break;
                        }
                        continue;
                    }
                    if pass.held_back {
                        let pause = recheck;
                        recheck = (recheck * 2).min(self.poll_interval.max(FULL_QUEUE_RECHECK));
                        pause
                    } else {
                        self.poll_interval
                    }
                }
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "outbox relay failed; rows stay for the next pass");
                    self.poll_interval
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Pushes the due rows of each queue, oldest first, as many as the
    /// queue has room for and one batch at most. A row whose push fails
    /// stays, due again after a growing delay; a row of a full queue just
    /// stays, for a pass once a worker has made room.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn relay_batch(&self) -> anyhow::Result<Pass> {
        let room = self.queues.room().await?;
        let held_back = room.iter().any(|(_, room)| *room == 0);
        let (names, limits): (Vec<&str>, Vec<i64>) =
            room.iter().filter(|(_, room)| *room > 0).map(|(queue, room)| (*queue, (*room).min(BATCH) as i64)).unzip();
        if names.is_empty() {
            return Ok(Pass { held_back, ..Pass::default() });
        }
        let mut tx = self.pool.begin().await?;
        // Each queue's due rows in the order of `outbox_queue_due_idx`, so
        // the scan stops after its batch whatever the planner believes
        // about the table, and a full queue's backlog is never read.
        let rows = sqlx::query!(
            r#"select o.outbox_id as "outbox_id!", o.queue as "queue!", o.payload as "payload!",
                      o.request_id, o.attempts as "attempts!"
               from unnest($1::text[], $2::int8[]) as q (queue, room)
               cross join lateral (
                   select outbox_id, queue, payload, request_id, attempts from outbox
                   where outbox.queue = q.queue and available_at <= now()
                   order by available_at, created_at
                   limit q.room
                   for update skip locked
               ) as o"#,
            &names as &[&str],
            &limits,
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(Pass { held_back, ..Pass::default() });
        }
        // One Redis call per queue, the rows in their outbox order.
        let mut by_queue: Vec<(String, Vec<Outgoing>, Vec<i32>)> = Vec::new();
        for row in rows {
            let outgoing = Outgoing { job_id: row.outbox_id, payload: row.payload, request_id: row.request_id };
            match by_queue.iter_mut().find(|(queue, _, _)| *queue == row.queue) {
                Some((_, group, attempts)) => {
                    group.push(outgoing);
                    attempts.push(row.attempts);
                }
                None => by_queue.push((row.queue, vec![outgoing], vec![row.attempts])),
            }
        }
        // A queue that gave a whole batch may have more due; one that gave
        // all it had room for is full now.
        let more = by_queue.iter().any(|(_, group, _)| group.len() == BATCH);
        let held_back = held_back
            || by_queue.iter().any(|(queue, group, _)| room.iter().any(|(q, room)| q == queue && group.len() == *room));
        let mut pushed = Vec::new();
        let mut failed: Vec<(Uuid, i32, String)> = Vec::new();
        let mut queues: Vec<String> = Vec::new();
        for (queue, group, attempts) in by_queue {
            let ids: Vec<Uuid> = group.iter().map(|row| row.job_id).collect();
            match self.queues.push_batch(&queue, group).await {
                Ok(rejected) => {
                    for (id, why) in &rejected {
                        tracing::warn!(outbox_id = %id, queue, why, "job cannot be queued");
                    }
                    if rejected.len() < ids.len() {
                        queues.push(queue.clone());
                    }
                    for (id, attempt) in ids.into_iter().zip(attempts) {
                        match rejected.iter().find(|(bad, _)| *bad == id) {
                            Some((_, why)) => failed.push((id, attempt, why.clone())),
                            None => pushed.push(id),
                        }
                    }
                }
                Err(error) => {
                    // Redis is most likely down: the other queues would fail alike.
                    tracing::warn!(queue, rows = ids.len(), error = format!("{error:#}"), "jobs not pushed yet");
                    failed.extend(ids.into_iter().zip(attempts).map(|(id, a)| (id, a, format!("{error:#}"))));
                    break;
                }
            }
        }
        for (id, attempts, error) in failed {
            let delay_secs = 2_f64.powi(attempts.min(6)); // 1 s, 2 s, … 64 s
            sqlx::query!(
                r#"update outbox set attempts = attempts + 1, last_error = $2,
                                  available_at = now() + make_interval(secs => $3)
                           where outbox_id = $1"#,
                id,
                error,
                delay_secs,
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!("delete from outbox where outbox_id = any($1)", &pushed).execute(&mut *tx).await?;
        tx.commit().await?;
        for queue in &queues {
            self.queues.announce(queue).await;
        }
        if !pushed.is_empty() {
            tracing::debug!(count = pushed.len(), "outbox rows pushed");
        }
        Ok(Pass { pushed: pushed.len(), more, held_back })
    }
}
