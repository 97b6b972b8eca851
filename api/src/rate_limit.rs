//! Request budgets in Redis, shared by every API process: fixed windows
//! counted with one atomic script per check.
//!
//! - every request: a budget per client (the signed-in user, else the IP);
//! - sign-in: failed attempts per account, and every attempt per IP.
//!
//! Over budget: 429 problem+json with `Retry-After`. Every counted response
//! carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
//! While Redis is unreachable requests are let through: the limits guard
//! capacity, not correctness.

use std::{net::IpAddr, sync::LazyLock, time::Duration};

use poem::{Endpoint, IntoResponse, Request, Response, http::HeaderValue};
use redis::{Script, aio::ConnectionManager};

use shared::config::IpRange;

use crate::{error::ApiError, state::AppState};

/// Where a counter stands after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub used: u64,
    /// Seconds until the window resets.
    pub reset: u64,
}

impl Budget {
    pub fn exceeded(&self) -> bool {
        self.used > self.limit
    }

    /// Adds the `RateLimit-*` headers to `response`.
    pub fn annotate(&self, response: &mut Response) {
        let headers = response.headers_mut();
        let remaining = self.limit.saturating_sub(self.used);
        for (name, value) in
            [("ratelimit-limit", self.limit), ("ratelimit-remaining", remaining), ("ratelimit-reset", self.reset)]
        {
            headers.insert(name, HeaderValue::from(value));
        }
    }

    /// The 429 for a budget spent.
    pub fn refusal(&self, what: &str) -> ApiError {
        ApiError::too_many_requests(format!("Too many {what}; retry in {} s.", self.reset), self.reset.max(1))
    }
}

static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local used = redis.call('INCRBY', KEYS[1], ARGV[2])
        if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return {used, redis.call('PTTL', KEYS[1])}
        ",
    )
});

/// Counts `cost` (0 to only read) against `key` in a window of `window`.
/// `None` when Redis cannot be asked.
pub async fn count(redis: &ConnectionManager, key: &str, cost: u64, limit: u64, window: Duration) -> Option<Budget> {
    let mut conn = redis.clone();
    let counted: redis::RedisResult<(u64, i64)> =
        COUNT.key(key).arg(window.as_millis() as u64).arg(cost).invoke_async(&mut conn).await;
    match counted {
        Ok((used, ttl_ms)) => Some(Budget { limit, used, reset: (ttl_ms.max(0) as u64).div_ceil(1000) }),
        Err(error) => {
            tracing::warn!(%error, "rate limit unavailable; letting the request through");
            None
        }
    }
}

/// Forgets `key` (a successful sign-in clears its account's failures).
pub async fn clear(redis: &ConnectionManager, key: &str) {
    let mut conn = redis.clone();
    let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
}

/// The client a request comes from: its user when it carries a valid
/// access token, else its IP address.
fn client(state: &AppState, request: &Request) -> String {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    match bearer.and_then(|token| state.tokens.verify(token)) {
        Some(actor) => format!("user:{}", actor.user_id),
        None => format!("ip:{}", client_ip(&state.config.rate_limits.trusted_proxies, request)),
    }
}

/// The address of a request's client: the connection's peer, or, when the
/// peer is a trusted proxy, the nearest address in `X-Forwarded-For` that
/// is not one (entries to its left could be forged by the client).
pub fn client_ip(trusted: &[IpRange], request: &Request) -> String {
    let Some(peer) = request.remote_addr().as_socket_addr().map(|addr| addr.ip()) else {
        return "unknown".to_owned();
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    if !is_trusted(peer) {
        return peer.to_string();
    }
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    // From the nearest hop outwards: each trusted proxy vouches for the
    // address it appended; an unparsable entry ends what can be believed.
    let mut client = peer;
    for part in forwarded.iter().rev() {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client.to_string()
}

/// Middleware: the per-client budget of every request but the probes.
pub async fn per_client<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let state = request.data::<AppState>().expect("BUG: AppState is attached to every route").clone();
    let limits = &state.config.rate_limits;
    let path = request.uri().path();
    if !limits.enabled || matches!(path, "/health" | "/ready" | "/metrics") {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    let key = state.config.redis_key(&format!("ratelimit:client:{}", client(&state, &request)));
    let budget = count(&state.redis, &key, 1, limits.requests_per_client, limits.requests_window).await;
    if let Some(budget) = budget
        && budget.exceeded()
    {
        let mut response = budget.refusal("requests").into_response();
        budget.annotate(&mut response);
        return Ok(response);
    }
    let mut response = next.call(request).await?.into_response();
    if let Some(budget) = budget {
        budget.annotate(&mut response);
    }
    Ok(response)
}
