//! What a statement read, from PostgreSQL's own counters: a check of the
//! plan a query gets that holds however fast the machine is.

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
