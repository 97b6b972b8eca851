//! Probes, metrics and request ids.

use reqwest::Response;
use serde_json::json;
use testkit::TestApp;

use crate::helpers::{assert_json, registration, sign_up};

fn request_id(response: &Response) -> String {
    let id = response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on a {} response", response.status()));
    id.to_str().expect("an ASCII request id").to_owned()
}

async fn get_with_request_id(app: &TestApp, path: &str, id: &str) -> Response {
    app.client.get(app.url(path)).header("x-request-id", id).send().await.expect("GET")
}

#[tokio::test]
async fn health_answers_ok() {
    let app = TestApp::spawn().await;

    let body = assert_json(app.get("/health", None).await, 200).await;

    assert_eq!(body, json!({ "status": "ok" }));
}

/// The value of `line` (a metric with its labels) in `/metrics`.
async fn metric(app: &TestApp, line: &str) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{line} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {line} in {text}"))
}

#[tokio::test]
async fn metrics_show_the_job_backlog_in_the_outbox_and_in_redis() {
    // The API's relay sleeps through this test: only ours moves rows.
    let app = TestApp::spawn_with(|config| config.outbox_poll_interval = std::time::Duration::from_secs(3600)).await;
    sqlx::query(
        "insert into outbox (queue, payload, available_at)
         select 'emails', jsonb_build_object('kind', 'welcome', 'user_id', gen_random_uuid()),
                now() - interval '5 seconds'
         from generate_series(1, 3)
         union all
         select 'bookings', jsonb_build_object('kind', 'expire_hold', 'booking_id', gen_random_uuid()),
                now() + interval '1 hour'",
    )
    .execute(&app.db)
    .await
    .unwrap();

    assert_eq!(metric(&app, r#"outbox_due_jobs{queue="emails"}"#).await, 3.0);
    assert_eq!(metric(&app, r#"outbox_due_jobs{queue="bookings"}"#).await, 0.0, "not due yet");
    let oldest = metric(&app, r#"outbox_oldest_due_seconds{queue="emails"}"#).await;
    assert!((5.0..60.0).contains(&oldest), "{oldest}");
    assert_eq!(metric(&app, r#"queue_waiting_jobs{queue="emails"}"#).await, 0.0);

    assert_eq!(app.relay(&app.db).relay_batch().await.unwrap().pushed, 3);

    assert_eq!(metric(&app, r#"outbox_due_jobs{queue="emails"}"#).await, 0.0);
    assert_eq!(metric(&app, r#"queue_waiting_jobs{queue="emails"}"#).await, 3.0, "no worker took them");
    assert_eq!(metric(&app, r#"queue_waiting_jobs{queue="payments"}"#).await, 0.0);
}

#[tokio::test]
async fn ready_reports_the_database_and_redis_up() {
    let app = TestApp::spawn().await;

    let body = assert_json(app.get("/ready", None).await, 200).await;

    assert_eq!(body, json!({ "status": "ok", "database": true, "redis": true }));
}

#[tokio::test]
async fn ready_reports_redis_down_as_unavailable() {
    let dead_redis = format!("redis://127.0.0.1:{}", testkit::free_port());
    let app = TestApp::spawn_with(|c| c.redis_url = dead_redis.into()).await;

    let body = assert_json(app.get("/ready", None).await, 503).await;

    assert_eq!(body, json!({ "status": "unavailable", "database": true, "redis": false }));
}

// PostgreSQL going away (a restart, a fail-over) ends its sessions with
// "terminating connection due to administrator command": a request caught
// by it is told to retry, as when no connection can be had at all.
#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "guest").await;

    let responses = [
        app.get("/health", None).await,
        app.get("/users/me", Some(&user.access_token)).await,
        app.post("/users", &registration(&TestApp::unique_email("ana")), None).await,
        app.get("/users/me", None).await,
        app.get("/users", Some(&user.access_token)).await,
        app.get("/no/such/route", None).await,
        app.client.patch(app.url("/users")).send().await.unwrap(),
        app.post("/users", &json!({}), None).await,
        app.get("/openapi.json", None).await,
    ];

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 201, 401, 403, 404, 405, 400, 200]);
    let ids: std::collections::HashSet<String> = responses.iter().map(request_id).collect();
    assert_eq!(ids.len(), responses.len(), "request ids repeat: {ids:?}");
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_echoed_back() {
    let app = TestApp::spawn().await;

    for id in ["abc-123", "trace_1.2-x", &"a".repeat(64)] {
        assert_eq!(request_id(&get_with_request_id(&app, "/health", id).await), id);
    }
}

#[tokio::test]
async fn an_insane_incoming_request_id_is_replaced() {
    let app = TestApp::spawn().await;

    for insane in ["a".repeat(65), "a".repeat(200), "has spaces in it".to_owned(), "semi;colon".to_owned()] {
        let id = request_id(&get_with_request_id(&app, "/health", &insane).await);
        assert_ne!(id, insane);
        assert!(
            (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "the replacement {id:?} is not a sane request id"
        );
    }
}

#[tokio::test]
async fn lists_and_later_search_pages_read_the_replica_and_first_pages_the_primary() {
    // A replica nobody answers on: whatever reads it fails with 503.
    let app = TestApp::spawn_with(|c| {
        c.database_read_url = Some(secrecy::SecretString::from("postgres://postgres@127.0.0.1:9/replica".to_owned()))
    })
    .await;
    let host = sign_up(&app, "host").await;
    for name in ["One", "Two"] {
        crate::fixtures::create_property(&app, &host, json!({ "name": name })).await;
    }
    let first = assert_json(app.get("/properties?limit=1", None).await, 200).await;
    let property = crate::fixtures::id(&first["items"][0]);
    assert_json(app.get(&format!("/properties/{property}"), None).await, 200).await;

    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app.get(&format!("/properties?limit=1&cursor={cursor}"), None).await;
    assert_eq!(second.status(), 503, "a later page reads the replica");
    // In one city, newest first: the walk pools, of the primary then the replica.
    let city = first["items"][0]["city"].as_str().expect("a city").replace(' ', "%20");
    let first = assert_json(app.get(&format!("/properties?city={city}&limit=1"), None).await, 200).await;
    let cursor = first["next_cursor"].as_str().expect("a second page in the city");
    let second = app.get(&format!("/properties?city={city}&limit=1&cursor={cursor}"), None).await;
    assert_eq!(second.status(), 503, "a later page in one city reads the replica");
    for list in ["/bookings", "/payments"] {
        assert_eq!(app.get(list, Some(&host.access_token)).await.status(), 503, "{list} reads the replica");
    }
    assert_eq!(app.get(&format!("/reviews?property_id={property}"), None).await.status(), 503);
}
