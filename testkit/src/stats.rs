//! What statements do, from PostgreSQL's own views: which plan a query
//! gets (entries read) and when one waits on a lock, checks that hold
//! however fast the machine is.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

/// Runs `work` in a transaction of a connection of its own and returns its
/// result with the number of entries of `index` it read (PostgreSQL 15 or
/// later: the session's counters are published with
/// `pg_stat_force_next_flush`).
pub async fn index_entries_read<T>(
    db: &PgPool,
    index: &str,
    work: impl AsyncFnOnce(&mut PgConnection) -> T,
) -> (T, i64) {
    let mut conn = db.acquire().await.expect("a connection");
    let before = entries_read(&mut conn, index).await;
    let mut tx = conn.begin().await.expect("begin");
    let result = work(&mut tx).await;
    tx.commit().await.expect("commit");
    let after = entries_read(&mut conn, index).await;
    (result, after - before)
}

async fn entries_read(conn: &mut PgConnection, index: &str) -> i64 {
    // Published when the session goes idle after this statement.
    sqlx::query("select pg_stat_force_next_flush()").execute(&mut *conn).await.expect("flush statistics");
    sqlx::query_scalar("select idx_tup_read from pg_stat_user_indexes where indexrelname = $1")
        .bind(index)
        .fetch_optional(&mut *conn)
        .await
        .expect("read index statistics")
        .unwrap_or_else(|| panic!("no index {index}"))
}

/// Waits until a statement on `db`'s database waits for a lock another
/// session holds; panics after 10 s.
pub async fn until_a_statement_waits_on_a_lock(db: &PgPool) {
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(db)
        .await
        .expect("waiting backends");
        if waiting > 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no statement waited on a lock within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
