//! Redis connections with bounded waits, so an outage turns into errors that
//! callers handle instead of requests that hang.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::config::Config;

/// A self-reconnecting connection. It is created without connecting, so a
/// process starts while Redis is down and recovers when it returns.
pub fn connect(config: &Config) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(config.redis_url.expose_secret()).context("REDIS_URL is not a valid Redis URL")?;
    let settings = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, settings).context("creating the Redis connection manager")
}

/// True when Redis answers a PING.
pub async fn ping(conn: &ConnectionManager) -> bool {
    let mut conn = conn.clone();
    let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
    pong.is_ok()
}
