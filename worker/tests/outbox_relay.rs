//! The outbox relay pushes a queue's rows in one Redis call, and a row it
//! cannot turn into a job stays behind, visibly, without holding back the
//! others; a queue in Redis holds a bounded number of jobs, the rest wait
//! in the outbox without holding back the other queues.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::{
    jobs::{MAX_QUEUED, QUEUES},
    outbox::Pass,
};
use testkit::{TestApp, TestWorker};

#[tokio::test]
async fn a_batch_reaches_its_queues_and_a_malformed_row_stays_with_its_error() {
    let app = TestApp::spawn().await;
    let config = &app.config;
    let relay = app.relay(&app.db);
    let booking = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into outbox (queue, payload)
         select 'bookings', jsonb_build_object('kind', 'expire_hold', 'booking_id', $1::uuid)
         from generate_series(1, 30)
         union all select 'bookings', '{\"kind\": \"no_such_job\"}'::jsonb
         union all select 'emails', jsonb_build_object('kind', 'hold_expired', 'booking_id', $1::uuid)",
    )
    .bind(booking)
    .execute(&app.db)
    .await
    .unwrap();

    // The API's own relay may take some rows first: either way, all but one leave.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        relay.relay_batch().await.unwrap();
        let left: i64 = sqlx::query_scalar("select count(*) from outbox").fetch_one(&app.db).await.unwrap();
        if left == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} rows still in the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (payload, attempts, error): (serde_json::Value, i32, String) =
        sqlx::query_as("select payload, attempts, last_error from outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(payload, json!({"kind": "no_such_job"}));
    assert!(attempts >= 1, "its failure is counted");
    assert!(error.contains("another shape"), "{error}");

    let mut redis = shared::redis::connect(config).unwrap();
    let queued = |queue: &str| config.redis_key(&format!("{queue}:scheduled"));
    let (bookings, emails): (i64, i64) =
        redis::pipe().zcard(queued("bookings")).zcard(queued("emails")).query_async(&mut redis).await.unwrap();
    assert_eq!((bookings, emails), (30, 1), "every well-formed row is queued once");
}

#[tokio::test]
async fn a_relay_pass_reads_the_due_rows_by_index_not_the_whole_outbox() {
    let app = TestApp::spawn().await;
    // 50k jobs due tomorrow, with statistics from when they were due: the
    // planner believes every row is due, which made a scan of the whole
    // table and a sort look cheaper than an index that did not match the
    // ordering. (One transaction, so no relay sees them due meanwhile.)
    // One connection for all of it, so that its table statistics, the
    // update's sequential scan among them, are flushed before the count.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(app.db.connect_options().as_ref().clone())
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for statement in [
        "insert into outbox (queue, payload, available_at)
         select 'bookings', jsonb_build_object('kind', 'expire_hold', 'booking_id', gen_random_uuid()),
                now() - interval '1 hour'
         from generate_series(1, 50000)",
        "analyze outbox",
        "update outbox set available_at = now() + interval '1 day'",
    ] {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let scans = || async {
        sqlx::query("select pg_stat_force_next_flush()").execute(&pool).await.unwrap();
        sqlx::query_as::<_, (i64, i64)>(
            "select seq_scan, coalesce(idx_scan, 0) from pg_stat_user_tables where relname = 'outbox'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = scans().await;
    let relay = app.relay(&pool);
    assert_eq!(relay.relay_batch().await.unwrap().pushed, 0, "nothing is due");
    let after = scans().await;
    assert_eq!(after.0 - before.0, 0, "no sequential scan of the outbox");
    assert!(after.1 > before.1, "the pass read through an index");
}

#[tokio::test]
async fn a_queue_without_a_worker_fills_to_its_bound_and_a_worker_that_comes_back_takes_every_job() {
    let app = TestApp::spawn().await;
    let config = &app.config;
    let relay = app.relay(&app.db);
    // More welcome emails than apalis-redis can move from its scheduled set
    // in one fetch (8,000), to accounts that do not exist: each job is a
    // read, then skipped.
    const JOBS: i64 = 9_000;
    sqlx::query(
        "insert into outbox (queue, payload)
         select 'emails', jsonb_build_object('kind', 'welcome', 'user_id', gen_random_uuid())
         from generate_series(1, $1)",
    )
    .bind(JOBS)
    .execute(&app.db)
    .await
    .unwrap();

    // No worker: the relays (this one and the API's) stop at the bound.
    let mut redis = shared::redis::connect(config).unwrap();
    let queued = || {
        let mut redis = redis.clone();
        let (scheduled, list) = (config.redis_key("emails:scheduled"), config.redis_key("emails:active"));
        async move {
            let (scheduled, listed): (usize, usize) =
                redis::pipe().zcard(scheduled).llen(list).query_async(&mut redis).await.unwrap();
            scheduled + listed
        }
    };
    // A pass finds the queue full once it holds the bound; from then on
    // none pushes more.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pass = relay.relay_batch().await.unwrap();
        if pass.held_back {
            assert!(queued().await >= MAX_QUEUED, "held back at {} jobs", queued().await);
            break;
        }
        assert!(Instant::now() < deadline, "{} jobs queued", queued().await);
    }
    for _ in 0..20 {
        let pass = relay.relay_batch().await.unwrap();
        assert_eq!(pass.pushed, 0, "nothing more is pushed");
        assert!(pass.held_back);
    }
    let in_redis = queued().await;
    assert!(in_redis <= MAX_QUEUED + 200, "{in_redis} jobs queued, at most {MAX_QUEUED} and a batch per relay");
    // The API's relay may not have committed its last pass's deletes yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (kept, failed): (i64, i64) =
            sqlx::query_as("select count(*), count(*) filter (where attempts > 0 or available_at > now()) from outbox")
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(failed, 0, "waiting for room is not a failed push: no row was put off");
        if kept == JOBS - in_redis as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "{kept} rows in the outbox and {in_redis} jobs queued of {JOBS}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The other queues go on meanwhile.
    sqlx::query(
        "insert into outbox (queue, payload)
         values ('bookings', jsonb_build_object('kind', 'expire_hold', 'booking_id', gen_random_uuid()))",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        relay.relay_batch().await.unwrap();
        let bookings: i64 = sqlx::query_scalar("select count(*) from outbox where queue = 'bookings'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        if bookings == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the bookings job waits behind the emails");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A worker comes back: it takes what is queued, and the API's relay
    // refills the queue as it goes.
    let worker = TestWorker::spawn(config.clone());
    let done = config.redis_key("emails:done");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let finished: i64 = redis::cmd("SCARD").arg(&done).query_async(&mut redis).await.unwrap();
        if finished == JOBS {
            break;
        }
        assert!(Instant::now() < deadline, "{finished} of {JOBS} jobs done");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left: i64 = sqlx::query_scalar("select count(*) from outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    worker.stop().await;
}

#[tokio::test]
async fn the_outbox_takes_rows_of_the_queues_that_exist_only() {
    let app = TestApp::spawn().await;
    let mut tx = app.db.begin().await.unwrap();
    for queue in QUEUES {
        sqlx::query("insert into outbox (queue, payload) values ($1, '{}')")
            .bind(queue)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|error| panic!("a row of the {queue} queue: {error}"));
    }
    tx.rollback().await.unwrap();
    // No relay claims from a queue it does not know: such a row would
    // wait for ever.
    let error = sqlx::query("insert into outbox (queue, payload) values ('sms', '{}')")
        .execute(&app.db)
        .await
        .expect_err("an unknown queue is refused");
    let error = error.as_database_error().expect("a database error");
    assert_eq!(error.constraint(), Some("outbox_queue_name"));
}

#[tokio::test]
async fn a_pass_that_fills_its_queue_says_so_rather_than_asking_for_another_at_once() {
    // The API's own relay sleeps through this test: only ours moves rows.
    let app = TestApp::spawn_with(|config| config.outbox_poll_interval = Duration::from_secs(3600)).await;
    let config = &app.config;
    let relay = app.relay(&app.db);
    sqlx::query(
        "insert into outbox (queue, payload)
         select 'emails', jsonb_build_object('kind', 'welcome', 'user_id', gen_random_uuid())
         from generate_series(1, 1500)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let mut pushed = 0;
    loop {
        let pass = relay.relay_batch().await.unwrap();
        pushed += pass.pushed;
        if !pass.more {
            assert!(pass.held_back, "{pass:?}");
            break;
        }
    }
    assert_eq!(pushed, MAX_QUEUED, "no other relay ran");

    // A worker takes 30 jobs: the next pass fills that room and is done,
    // so that the relay waits for more room instead of spinning (and
    // missing its shutdown signal) while a worker drains a backlog.
    let mut redis = shared::redis::connect(config).unwrap();
    let _: Vec<String> =
        redis::cmd("ZPOPMIN").arg(config.redis_key("emails:scheduled")).arg(30).query_async(&mut redis).await.unwrap();
    let pass = relay.relay_batch().await.unwrap();
    assert_eq!(pass, Pass { pushed: 30, more: false, held_back: true });
}
