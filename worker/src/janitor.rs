//! Trims finished jobs from Redis.
//!
//! apalis-redis keeps every finished job's payload (`<queue>:data`), its
//! metadata (`<queue>:meta:<id>`) and its id (`<queue>:done`) forever. The
//! janitor removes those of jobs finished longer ago than the retention.
//! Dead jobs stay for an operator to inspect.

use std::{sync::LazyLock, time::Duration};

use redis::{Script, aio::ConnectionManager};
use shared::Config;
use tokio_util::sync::CancellationToken;

/// Finished jobs stay this long (a retried outbox push within it is still
/// recognised as a duplicate by its task id).
pub const RETENTION: Duration = Duration::from_secs(3600);
const EVERY: Duration = Duration::from_secs(600);
/// Jobs removed per script call, so that one call never blocks Redis long.
const BATCH: usize = 1000;

static TRIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local q, cutoff, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
        local removed = 0
        local cursor = '0'
        repeat
            local page = redis.call('SSCAN', q..':done', cursor, 'COUNT', 200)
            cursor = page[1]
            for _, id in ipairs(page[2]) do
                local done_at = tonumber(redis.call('HGET', q..':meta:'..id, 'done_at'))
                if done_at == nil or done_at <= cutoff then
                    redis.call('HDEL', q..':data', id)
                    redis.call('DEL', q..':meta:'..id)
                    redis.call('SREM', q..':done', id)
                    removed = removed + 1
                end
            end
        until cursor == '0' or removed >= batch
        return removed
        ",
    )
});

/// Removes jobs of `queue` (its full name) finished before `retention` ago;
/// returns how many.
pub async fn trim(redis: &ConnectionManager, queue: &str, retention: Duration) -> redis::RedisResult<usize> {
    let cutoff = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(retention)
        .as_secs();
    let mut conn = redis.clone();
    let mut total = 0;
    loop {
        let removed: usize = TRIM.arg(queue).arg(cutoff).arg(BATCH).invoke_async(&mut conn).await?;
        total += removed;
        if removed < BATCH {
            return Ok(total);
        }
    }
}

/// Trims every queue every ten minutes until `stop` is cancelled.
pub async fn run(config: &Config, redis: ConnectionManager, stop: CancellationToken) {
    loop {
        for queue in shared::jobs::QUEUES {
            let name = config.redis_key(queue);
            match trim(&redis, &name, RETENTION).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(queue = name, removed, "finished jobs trimmed"),
                Err(error) => tracing::warn!(queue = name, %error, "trimming finished jobs failed"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
