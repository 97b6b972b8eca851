//! The outbox relay pushes a queue's rows in one Redis call, and a row it
//! cannot turn into a job stays behind, visibly, without holding back the
//! others.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::{jobs::Queues, outbox::Relay};
use testkit::TestApp;

#[tokio::test]
async fn a_batch_reaches_its_queues_and_a_malformed_row_stays_with_its_error() {
    let app = TestApp::spawn().await;
    let config = &app.config;
    let relay = Relay::new(
        app.db.clone(),
        Queues::new(shared::redis::connect(config).unwrap(), config),
        config.outbox_poll_interval,
    );
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
