//! The dead set of a queue: jobs that failed every attempt (or could not
//! be decoded), kept with their last error for an operator to read and, once
//! the cause is fixed, to run again.
//!
//! Reads and writes apalis-redis's keys directly (`<queue>:dead`,
//! `<queue>:meta:<id>`, `<queue>:data`), since the 1.0 backend offers no
//! working API for either.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script, aio::ConnectionManager};
use shared::Config;

/// A job in a dead set.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadJob {
    pub id: String,
    pub attempts: Option<u32>,
    /// The last result apalis recorded (the error, as JSON).
    pub last_result: Option<String>,
    /// When it was given up, in unix seconds.
    pub done_at: Option<i64>,
    /// The job as queued.
    pub payload: Option<serde_json::Value>,
}

/// The dead jobs of `queue` (its name without the namespace).
pub async fn list(redis: &ConnectionManager, config: &Config, queue: &str) -> redis::RedisResult<Vec<DeadJob>> {
    let name = config.redis_key(queue);
    let mut conn = redis.clone();
    let mut ids: Vec<String> = conn.smembers(format!("{name}:dead")).await?;
    ids.sort();
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        let meta: std::collections::HashMap<String, String> = conn.hgetall(format!("{name}:meta:{id}")).await?;
        let data: Option<Vec<u8>> = conn.hget(format!("{name}:data"), &id).await?;
        jobs.push(DeadJob {
            attempts: meta.get("attempts").and_then(|a| a.parse().ok()),
            last_result: meta.get("result").cloned(),
            done_at: meta.get("done_at").and_then(|d| d.parse().ok()),
            payload: data.and_then(|d| serde_json::from_slice(&d).ok()),
            id,
        });
    }
    Ok(jobs)
}

static RETRY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local q, id = ARGV[1], ARGV[2]
        if redis.call('SREM', q..':dead', id) == 0 then return 0 end
        redis.call('HDEL', q..':meta:'..id, 'result', 'done_at', 'locked_at', 'locked_by')
        redis.call('HSET', q..':meta:'..id, 'status', 'Pending', 'attempts', 0)
        redis.call('RPUSH', q..':active', id)
        return 1
        ",
    )
});

/// Puts a dead job back on its queue with fresh attempts; false when `id`
/// is not in the dead set.
pub async fn retry(redis: &ConnectionManager, config: &Config, queue: &str, id: &str) -> redis::RedisResult<bool> {
    let mut conn = redis.clone();
    let moved: i64 = RETRY.arg(config.redis_key(queue)).arg(id).invoke_async(&mut conn).await?;
    Ok(moved == 1)
}
