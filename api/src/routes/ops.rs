use std::sync::atomic::Ordering;

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, PlainText},
};

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
    /// Counters of this process since it started.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self) -> PlainText<String> {
        let stats = &self.state.cache.stats;
        let (hits, misses) = (stats.hits.load(Ordering::Relaxed), stats.misses.load(Ordering::Relaxed));
        PlainText(format!(
            "# HELP cache_hits_total Reads answered from the Redis cache.\n\
             # TYPE cache_hits_total counter\n\
             cache_hits_total {hits}\n\
             # HELP cache_misses_total Cacheable reads answered from PostgreSQL.\n\
             # TYPE cache_misses_total counter\n\
             cache_misses_total {misses}\n"
        ))
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
