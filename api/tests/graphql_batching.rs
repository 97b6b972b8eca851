//! Nested GraphQL fields load in batches: a page of properties with their
//! hosts and their reviews' authors costs the same few SQL statements
//! whether it holds 5 properties or 50.
//!
//! Statements are counted from sqlx's own per-statement events, under the
//! span of the request that ran them (found by its request id). This file
//! is a test binary of its own because it installs the process's tracing
//! subscriber.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use testkit::TestApp;
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

/// Statements run per request id.
type Counts = Arc<Mutex<HashMap<String, usize>>>;

/// Counts sqlx statements under `http_request` spans, by request id.
struct StatementCounter(Counts);

/// The request id of an `http_request` span.
struct RequestIdOf(String);

/// The value of one field of a span or event.
struct FieldValue(&'static str, Option<String>);

impl Visit for FieldValue {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.0 {
            self.1 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.0 {
            self.1 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StatementCounter {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "http_request" {
            return;
        }
        let mut visitor = FieldValue("request_id", None);
        attrs.record(&mut visitor);
        if let (Some(request_id), Some(span)) = (visitor.1, ctx.span(id)) {
            span.extensions_mut().insert(RequestIdOf(request_id));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        // Only reads of data count: not the transaction and `set local` a
        // search runs in, nor the session set-up of a connection the pool
        // opens meanwhile, nor the driver's type lookups (pg_type).
        let mut summary = FieldValue("summary", None);
        event.record(&mut summary);
        let reads_data =
            summary.1.is_some_and(|s| s.to_lowercase().starts_with("select") && !s.starts_with("SELECT pg_type.oid"));
        if !reads_data {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else { return };
        for span in scope {
            if let Some(RequestIdOf(request_id)) = span.extensions().get::<RequestIdOf>() {
                *self.0.lock().unwrap().entry(request_id.clone()).or_default() += 1;
                return;
            }
        }
    }
}

fn counts() -> &'static Counts {
    static COUNTS: OnceLock<Counts> = OnceLock::new();
    COUNTS.get_or_init(|| {
        let counts = Counts::default();
        tracing_subscriber::registry().with(StatementCounter(counts.clone())).init();
        counts
    })
}

/// Runs `query` under a fresh request id; returns the response and the
/// number of SQL statements it ran.
async fn counted(app: &TestApp, query: &str) -> (Value, usize) {
    let request_id = format!("count-{}", uuid::Uuid::new_v4());
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", &request_id)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("POST /graphql");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert!(body["errors"].is_null(), "{body}");
    let statements = counts().lock().unwrap().get(&request_id).copied().unwrap_or(0);
    (body, statements)
}

const PAGE: &str = "{ properties(first: FIRST) { nodes { id host { firstName } \
                    reviews(first: 5) { nodes { rating author { firstName } } } } } }";

#[tokio::test]
async fn nested_fields_cost_a_fixed_number_of_statements_whatever_the_page_size() {
    counts();
    let app = TestApp::spawn().await;
    let (_, host) = app.signed_in("host").await;
    let guests = [app.signed_in("guest").await.1, app.signed_in("guest").await.1];
    let today = Utc::now().date_naive();
    for i in 0..50 {
        let listing = json!({"name": format!("Flat {i}"), "address": "1 Main St", "city": "Rome", "country": "Italy",
                              "price_per_night": 9_000, "currency": "EUR", "max_guests": 2});
        let property: Value = app.post("/properties", &listing, Some(&host)).await.json().await.unwrap();
        for (n, guest) in guests.iter().enumerate() {
            let offset = 300 + 10 * n as i64;
            let stay = json!({"property_id": property["id"], "guests": 1,
                              "check_in": (today + Duration::days(offset)).to_string(),
                              "check_out": (today + Duration::days(offset + 2)).to_string()});
            let booking: Value = app.post("/bookings", &stay, Some(guest)).await.json().await.unwrap();
            // The stay ends in the past (nothing else makes one end during a test).
            let check_out = today - Duration::days(1 + 10 * n as i64);
            sqlx::query(
                "update bookings set status = 'confirmed', expires_at = null, check_in = $2, check_out = $3 \
                 where booking_id = $1::uuid",
            )
            .bind(booking["id"].as_str().unwrap())
            .bind(check_out - Duration::days(2))
            .bind(check_out)
            .execute(&app.db)
            .await
            .unwrap();
            let review = json!({"booking_id": booking["id"], "rating": 4, "comment": "Nice"});
            assert_eq!(app.post("/reviews", &review, Some(guest)).await.status(), 201);
        }
    }

    let (small, small_cost) = counted(&app, &PAGE.replace("FIRST", "5")).await;
    let (large, large_cost) = counted(&app, &PAGE.replace("FIRST", "50")).await;
    let nodes = large["data"]["properties"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    assert_eq!(small["data"]["properties"]["nodes"].as_array().unwrap().len(), 5);
    for node in nodes {
        assert!(node["host"]["firstName"].is_string(), "{node}");
        let reviews = node["reviews"]["nodes"].as_array().unwrap();
        assert_eq!(reviews.len(), 2, "{node}");
        assert!(reviews.iter().all(|r| r["author"]["firstName"].is_string()), "{node}");
    }
    // The search, the hosts, the reviews, their authors: four statements.
    // A loader gathers keys for a millisecond; a scheduler stall past that
    // window splits a level in two, hence the slack. Loading field by field
    // would cost 1 + 50 + 50 + 100 statements.
    assert!((3..=6).contains(&small_cost), "5 properties cost {small_cost} statements");
    assert!((3..=6).contains(&large_cost), "50 properties cost {large_cost} statements");
}
