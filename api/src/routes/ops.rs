use std::{fmt::Write, sync::atomic::Ordering, time::Duration};

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, PlainText},
};

use shared::{jobs::QUEUES, outbox};

use crate::{routes::Tag, state::AppState};

pub struct OpsApi {
    pub state: AppState,
}

/// State of the process and of what it depends on.
#[derive(Object)]
#[oai(rename = "ServiceStatus")]
struct Status {
    /// `ok` when everything checked is up.
    status: String,
    /// PostgreSQL answers (readiness only).
    #[oai(skip_serializing_if_is_none)]
    database: Option<bool>,
    /// Redis answers (readiness only).
    #[oai(skip_serializing_if_is_none)]
    redis: Option<bool>,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// PostgreSQL and Redis answer.
    #[oai(status = 200)]
    Ready(Json<Status>),
    /// PostgreSQL or Redis does not answer; the body says which.
    #[oai(status = 503)]
    NotReady(Json<Status>),
}

#[OpenApi(tag = "Tag::Ops")]
impl OpsApi {
    /// Liveness: the process is up
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Status> {
        Json(Status { status: "ok".into(), database: None, redis: None })
    }

    /// Metrics in the Prometheus text format
    ///
    /// The cache counters of this process since it started (the Redis cache
    /// of reads, and the listings' terms bookings are quoted from), and the job
    /// backlog as it stands: due jobs still in the outbox and jobs waiting
    /// in each Redis queue. A backlog figure whose store does not answer
    /// within 2 s is left out.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self) -> PlainText<String> {
        const BUDGET: Duration = Duration::from_secs(2);
        let stats = &self.state.cache.stats;
        let (hits, misses) = (stats.hits.load(Ordering::Relaxed), stats.misses.load(Ordering::Relaxed));
        let terms = &self.state.terms;
        let (terms_hits, terms_misses) = (terms.hits.load(Ordering::Relaxed), terms.misses.load(Ordering::Relaxed));
        let mut text = format!(
            "# HELP cache_hits_total Reads answered from the Redis cache.\n\
             # TYPE cache_hits_total counter\n\
             cache_hits_total {hits}\n\
             # HELP cache_misses_total Cacheable reads answered from PostgreSQL.\n\
             # TYPE cache_misses_total counter\n\
             cache_misses_total {misses}\n\
             # HELP terms_cache_hits_total Bookings that found their listing's terms in this process (checked as written).\n\
             # TYPE terms_cache_hits_total counter\n\
             terms_cache_hits_total {terms_hits}\n\
             # HELP terms_cache_misses_total Bookings that found no terms of their listing in this process.\n\
             # TYPE terms_cache_misses_total counter\n\
             terms_cache_misses_total {terms_misses}\n"
        );
        let (backlog, waiting) = tokio::join!(
            tokio::time::timeout(BUDGET, outbox::backlog(&self.state.db)),
            tokio::time::timeout(BUDGET, self.state.relay.queues().waiting()),
        );
        if let Ok(Ok(backlog)) = backlog {
            let of = |queue: &str| backlog.iter().find(|b| b.queue == queue);
            text.push_str(
                "# HELP outbox_due_jobs Due jobs still in the outbox, waiting for room in their queue or for Redis.\n\
                 # TYPE outbox_due_jobs gauge\n",
            );
            for queue in QUEUES {
                let _ = writeln!(text, "outbox_due_jobs{{queue=\"{queue}\"}} {}", of(queue).map_or(0, |b| b.due));
            }
            text.push_str(
                "# HELP outbox_oldest_due_seconds How long the oldest due job in the outbox has waited.\n\
                 # TYPE outbox_oldest_due_seconds gauge\n",
            );
            for queue in QUEUES {
                let secs = of(queue).map_or(0.0, |b| b.oldest_secs);
                let _ = writeln!(text, "outbox_oldest_due_seconds{{queue=\"{queue}\"}} {secs:.3}");
            }
        }
        if let Ok(Ok(waiting)) = waiting {
            text.push_str(
                "# HELP queue_waiting_jobs Jobs in a Redis queue that no worker has fetched yet.\n\
                 # TYPE queue_waiting_jobs gauge\n",
            );
            for (queue, jobs) in waiting {
                let _ = writeln!(text, "queue_waiting_jobs{{queue=\"{queue}\"}} {jobs}");
            }
        }
        PlainText(text)
    }

    /// Readiness: PostgreSQL and Redis answer
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> ReadyResponse {
        let database =
            tokio::time::timeout(std::time::Duration::from_secs(2), sqlx::query("select 1").execute(&self.state.db))
                .await
                .is_ok_and(|r| r.is_ok());
        let redis = shared::redis::ping(&self.state.redis).await;
        let ok = database && redis;
        let status = Status {
            status: if ok { "ok" } else { "unavailable" }.into(),
            database: Some(database),
            redis: Some(redis),
        };
        if ok { ReadyResponse::Ready(Json(status)) } else { ReadyResponse::NotReady(Json(status)) }
    }
}
