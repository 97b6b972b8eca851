//! Bookings: holds priced by the server, double booking under concurrency,
//! who sees, changes and cancels what, refunds by policy, the emails each
//! change queues, `Idempotency-Key` retries, and bad input.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use testkit::{TestApp, until_a_statement_waits_on_a_lock};

use crate::{
    fixtures::{book, create_property, day, ended_stay, id, set_status, stay},
    helpers::{
        Account, assert_json, assert_problem, assert_unauthorized, error_fields, redis_connection, send_raw, sign_up,
    },
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A fresh host and one listing of it (the fixture's defaults: 10 000 a
/// night, 2 500 cleaning, EUR, moderate, 4 guests, unless `overrides` say
/// otherwise). Returns the host and the property's id.
async fn listed(app: &TestApp, overrides: Value) -> (Account, String) {
    let host = sign_up(app, "host").await;
    let property = create_property(app, &host, overrides).await;
    (host, id(&property))
}

/// `/bookings/{id}` of a booking.
fn path(booking: &Value) -> String {
    format!("/bookings/{}", id(booking))
}

/// `POST /bookings` as `who`, whatever the answer.
async fn try_book(app: &TestApp, who: &Account, body: &Value) -> Response {
    app.post("/bookings", body, Some(&who.access_token)).await
}

/// `POST /bookings` with an `Idempotency-Key`.
async fn post_with_key(app: &TestApp, who: &Account, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/bookings"))
        .bearer_auth(&who.access_token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("POST /bookings")
}

/// How many bookings are stored, whatever their status.
async fn booking_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from bookings").fetch_one(&app.db).await.expect("count bookings")
}

/// How many bookings of `property_id` hold their dates (pending or confirmed).
async fn active_bookings_of(app: &TestApp, property_id: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from bookings where property_id = $1::uuid and status in ('pending', 'confirmed')",
    )
    .bind(property_id)
    .fetch_one(&app.db)
    .await
    .expect("count active bookings")
}

/// The status of a booking as stored.
async fn stored_status(app: &TestApp, booking_id: &str) -> String {
    sqlx::query_scalar("select status::text from bookings where booking_id = $1::uuid")
        .bind(booking_id)
        .fetch_one(&app.db)
        .await
        .expect("read the booking's status")
}

/// Dates, guests and total of a booking as stored.
async fn stored_stay(app: &TestApp, booking_id: &str) -> (String, String, i32, i64) {
    sqlx::query_as(
        "select check_in::text, check_out::text, guests, total_price from bookings where booking_id = $1::uuid",
    )
    .bind(booking_id)
    .fetch_one(&app.db)
    .await
    .expect("read the booking's stay")
}

/// Makes a pending hold lapse, as if its 30 minutes had passed.
async fn lapse(app: &TestApp, booking_id: &str) {
    sqlx::query("update bookings set expires_at = now() - interval '1 minute' where booking_id = $1::uuid")
        .bind(booking_id)
        .execute(&app.db)
        .await
        .expect("make the hold lapse");
}

/// An RFC 3339 timestamp field.
fn timestamp(value: &Value, field: &str) -> DateTime<Utc> {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no timestamp `{field}` in {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("`{field}` is not RFC 3339 ({e}): {value}"))
}

/// The ids of a list page's items.
fn ids(page: &Value) -> HashSet<String> {
    page["items"].as_array().unwrap_or_else(|| panic!("no items in {page}")).iter().map(id).collect()
}

/// The ids of the given bookings.
fn set(bookings: &[&Value]) -> HashSet<String> {
    bookings.iter().map(|b| id(b)).collect()
}

/// `GET /bookings{query}` as `who`, asserting 200; the ids listed.
async fn listed_ids(app: &TestApp, who: &Account, query: &str) -> HashSet<String> {
    let page = assert_json(app.get(&format!("/bookings{query}"), Some(&who.access_token)).await, 200).await;
    assert!(page.get("next_cursor").is_none_or(Value::is_null), "more than one page for {query}: {page}");
    ids(&page)
}

/// Waits (3 s at most) for the outbox relay to push every due row to Redis
/// (scheduled ones, such as a hold's expiry, wait for their time), then
/// returns the envelopes on the `emails` queue about `booking_id`.
async fn emails_about(app: &TestApp, booking_id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let rows: i64 = sqlx::query_scalar("select count(*) from outbox where available_at <= now()")
            .fetch_one(&app.db)
            .await
            .unwrap();
        if rows == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox relay left {rows} due rows for 3 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jobs: Vec<String> = redis::cmd("HVALS")
        .arg(app.config.redis_key("emails:data"))
        .query_async(&mut redis_connection(app).await)
        .await
        .expect("read the emails queue");
    jobs.iter()
        .map(|job| serde_json::from_str::<Value>(job).unwrap_or_else(|e| panic!("job is not JSON ({e}): {job}")))
        .filter(|envelope| envelope["job"]["booking_id"] == booking_id)
        .collect()
}

/// The recipients (`guest`, `host`) of the `kind` emails among `envelopes`.
fn recipients(envelopes: &[Value], kind: &str) -> Vec<String> {
    let mut to: Vec<String> = envelopes
        .iter()
        .filter(|e| e["job"]["kind"] == kind)
        .map(|e| e["job"]["to"].as_str().unwrap_or_else(|| panic!("no recipient in {e}")).to_owned())
        .collect();
    to.sort();
    to
}

// ---------------------------------------------------------------------------
// Double booking
// ---------------------------------------------------------------------------

/// Five fresh guests, for requests from several callers at once.
async fn five_guests(app: &TestApp) -> Vec<Account> {
    let mut guests = Vec::new();
    for _ in 0..5 {
        guests.push(sign_up(app, "guest").await);
    }
    guests
}

/// Sends every `(who, body)` as `POST /bookings` at once, each with an
/// `Idempotency-Key` of its own when `keyed`; each answer's status,
/// content type and body, in order.
async fn book_at_once(
    app: &TestApp,
    requests: Vec<(&Account, Value)>,
    keyed: bool,
) -> Vec<(u16, Option<String>, String)> {
    let start = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks = requests.into_iter().map(|(who, body)| {
        let mut request = app.client.post(app.url("/bookings")).bearer_auth(&who.access_token).json(&body);
        if keyed {
            request = request.header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        }
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            let response = request.send().await.expect("POST /bookings");
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            let body = response.text().await.expect("a body");
            (status, content_type, body)
        })
    });
    futures::future::join_all(tasks).await.into_iter().map(|r| r.expect("a request task")).collect()
}

/// Asserts that of `results`, exactly one made a booking and every other
/// was refused as dates unavailable; returns the booking.
fn exactly_one_booked(results: &[(u16, Option<String>, String)]) -> Value {
    for (status, _, body) in results {
        assert!(*status == 201 || *status == 409, "a request got {status} (not 201 or 409): {body}");
    }
    let created: Vec<Value> =
        results.iter().filter(|r| r.0 == 201).map(|r| serde_json::from_str(&r.2).unwrap()).collect();
    assert_eq!(created.len(), 1, "expected exactly one booking to be made, got {}", created.len());
    let conflicts: Vec<_> = results.iter().filter(|r| r.0 == 409).collect();
    assert_eq!(conflicts.len(), results.len() - 1);
    for (_, content_type, body) in conflicts {
        assert!(content_type.as_deref().unwrap_or_default().starts_with("application/problem+json"), "{body}");
        let problem: Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["type"], "/problems/dates-unavailable", "{problem}");
    }
    created.into_iter().next().expect("one booking")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_for_overlapping_dates_make_exactly_one_booking() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guests = five_guests(&app).await;
    // [10, 13), [11, 14) and [12, 15) all hold the night of day 12: any two overlap.
    let requests = (0..50)
        .map(|i| {
            let shift = (i % 3) as i64;
            (&guests[i % guests.len()], stay(&pid, &day(10 + shift), &day(13 + shift), 2))
        })
        .collect();

    let created = exactly_one_booked(&book_at_once(&app, requests, false).await);

    assert_eq!(active_bookings_of(&app, &pid).await, 1);
    assert_eq!(booking_count(&app).await, 1, "a refused request left a row");
    assert_eq!(stored_status(&app, &id(&created)).await, "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_keyed_requests_for_taken_dates_are_each_refused_or_booked_once() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let requests = (0..20).map(|_| (&guest, stay(&pid, &day(10), &day(13), 2))).collect();

    exactly_one_booked(&book_at_once(&app, requests, true).await);

    assert_eq!(active_bookings_of(&app, &pid).await, 1);
}

/// Every request finds the dates held, so each takes the locked path that
/// expires lapsed holds; two of those at once must not deadlock, with or
/// without an `Idempotency-Key` (with one, inside the key's transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_the_dates_of_a_lapsed_hold_make_exactly_one_booking() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guests = five_guests(&app).await;
    for round in 0..4 {
        let (from, to) = (10 + 10 * round, 15 + 10 * round);
        let lapsed = book(&app, &guests[0], &pid, &day(from), &day(to)).await;
        lapse(&app, &id(&lapsed)).await;
        let requests =
            (0..20).map(|i| (&guests[1 + i % (guests.len() - 1)], stay(&pid, &day(from + 1), &day(to), 2))).collect();

        let created = exactly_one_booked(&book_at_once(&app, requests, round % 2 == 1).await);

        assert_eq!(stored_status(&app, &id(&lapsed)).await, "expired");
        assert_eq!(stored_status(&app, &id(&created)).await, "pending");
    }
    assert_eq!(active_bookings_of(&app, &pid).await, 4);
}

#[tokio::test]
async fn stays_that_only_touch_at_check_out_and_check_in_both_succeed() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;

    book(&app, &guest, &pid, &day(10), &day(12)).await;
    book(&app, &other, &pid, &day(12), &day(14)).await;
    book(&app, &other, &pid, &day(8), &day(10)).await;

    assert_eq!(active_bookings_of(&app, &pid).await, 3);
}

#[tokio::test]
async fn a_stay_overlapping_an_active_booking_is_refused_as_dates_unavailable() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    book(&app, &guest, &pid, &day(10), &day(15)).await;
    let confirmed = book(&app, &guest, &pid, &day(20), &day(25)).await;
    set_status(&app, &id(&confirmed), "confirmed").await;

    // Inside, around, over either end — of a pending and of a confirmed booking.
    for (check_in, check_out) in [(11, 13), (9, 16), (8, 11), (14, 16), (10, 15), (21, 22), (19, 26), (24, 27)] {
        let body = stay(&pid, &day(check_in), &day(check_out), 2);
        let problem = assert_problem(try_book(&app, &other, &body).await, 409).await;
        assert_eq!(problem["type"], "/problems/dates-unavailable", "for days {check_in}..{check_out}");
    }

    assert_eq!(booking_count(&app).await, 2, "a refused booking was stored");
}

#[tokio::test]
async fn the_same_dates_at_two_properties_do_not_conflict() {
    let app = TestApp::spawn().await;
    let (_host, first) = listed(&app, json!({})).await;
    let (_other_host, second) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    book(&app, &guest, &first, &day(10), &day(12)).await;
    book(&app, &guest, &second, &day(10), &day(12)).await;

    assert_eq!(booking_count(&app).await, 2);
}

#[tokio::test]
async fn the_dates_of_a_cancelled_booking_can_be_booked_again() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    let first = book(&app, &guest, &pid, &day(10), &day(12)).await;
    assert_problem(try_book(&app, &other, &stay(&pid, &day(10), &day(12), 2)).await, 409).await;

    assert_json(app.delete(&path(&first), Some(&guest.access_token)).await, 200).await;
    let second = book(&app, &other, &pid, &day(10), &day(12)).await;

    assert_ne!(id(&first), id(&second));
    assert_eq!(stored_status(&app, &id(&first)).await, "cancelled");
    assert_eq!(active_bookings_of(&app, &pid).await, 1);
}

#[tokio::test]
async fn an_expired_hold_no_longer_blocks_its_dates_and_reads_expired() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    let hold = book(&app, &guest, &pid, &day(10), &day(12)).await;
    lapse(&app, &id(&hold)).await;

    let read = assert_json(app.get(&path(&hold), Some(&guest.access_token)).await, 200).await;
    assert_eq!(read["status"], "expired", "a lapsed hold reads as pending");

    let replacement = book(&app, &other, &pid, &day(11), &day(13)).await;

    assert_eq!(replacement["status"], "pending");
    assert_eq!(stored_status(&app, &id(&hold)).await, "expired");
    let read = assert_json(app.get(&path(&hold), Some(&guest.access_token)).await, 200).await;
    assert_eq!(read["status"], "expired");
    assert_eq!(active_bookings_of(&app, &pid).await, 1);
    let notices = emails_about(&app, &id(&hold)).await;
    assert_eq!(notices.iter().filter(|e| e["job"]["kind"] == "hold_expired").count(), 1, "{notices:?}");
}

// ---------------------------------------------------------------------------
// Price and shape
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_server_prices_a_stay_and_copies_the_propertys_currency_and_policy() {
    let app = TestApp::spawn().await;
    let overrides =
        json!({ "price_per_night": 10_000, "cleaning_fee": 2_500, "currency": "USD", "cancellation_policy": "strict" });
    let (host, pid) = listed(&app, overrides).await;
    let guest = sign_up(&app, "guest").await;

    let before = Utc::now();
    let response = try_book(&app, &guest, &stay(&pid, &day(10), &day(13), 3)).await;
    let after = Utc::now();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let replayed = response.headers().get("idempotent-replayed").cloned();
    let booking = assert_json(response, 201).await;

    assert_eq!(location, Some(path(&booking)));
    assert!(replayed.is_none(), "a first request is marked as replayed");
    for (field, expected) in [
        ("property_id", json!(pid)),
        ("guest_id", json!(guest.id)),
        ("host_id", json!(host.id)),
        ("check_in", json!(day(10))),
        ("check_out", json!(day(13))),
        ("guests", json!(3)),
        ("nights", json!(3)),
        ("nightly_price", json!(10_000)),
        ("nightly_subtotal", json!(30_000)),
        ("cleaning_fee", json!(2_500)),
        ("service_fee", json!(4_200)),
        ("total_price", json!(36_700)),
        ("currency", json!("USD")),
        ("cancellation_policy", json!("strict")),
        ("status", json!("pending")),
    ] {
        assert_eq!(booking[field], expected, "`{field}` of {booking}");
    }
    for field in ["cancelled_at", "cancelled_by", "refund_amount"] {
        assert!(booking.get(field).is_none_or(Value::is_null), "`{field}` is set on a new booking: {booking}");
    }
    let expires_at = timestamp(&booking, "expires_at");
    let slack = chrono::Duration::seconds(5);
    let hold = chrono::Duration::minutes(30);
    assert!(
        expires_at >= before + hold - slack && expires_at <= after + hold + slack,
        "the hold lasts until {expires_at}, not about 30 minutes after {before}"
    );
    let created_at = timestamp(&booking, "created_at");
    assert!(created_at >= before - slack && created_at <= after + slack, "created_at {created_at}");

    let stored: (i64, i64, i64, i64, String, String, String) = sqlx::query_as(
        "select nightly_subtotal, cleaning_fee, service_fee, total_price, currency::text, cancellation_policy::text,
             status::text
         from bookings where booking_id = $1::uuid",
    )
    .bind(id(&booking))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, (30_000, 2_500, 4_200, 36_700, "USD".to_owned(), "strict".to_owned(), "pending".to_owned()));
}

#[tokio::test]
async fn the_service_fee_is_fourteen_percent_of_the_nights_rounded_half_up() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;

    // (price, nights, service fee): 14.98 → 15, 14.42 → 14, 3.5 → 4, 10.5 → 11, 0.14 → 0, 44.94 → 45.
    for (price, nights, fee) in [(107, 1, 15), (103, 1, 14), (25, 1, 4), (75, 1, 11), (1, 1, 0), (107, 3, 45)] {
        let property = create_property(&app, &host, json!({ "price_per_night": price, "cleaning_fee": 0 })).await;
        let booking = book(&app, &guest, &id(&property), &day(10), &day(10 + nights)).await;
        assert_eq!(booking["nightly_subtotal"], json!(price * nights), "{booking}");
        assert_eq!(booking["service_fee"], json!(fee), "14% of {price} × {nights}");
        assert_eq!(booking["total_price"], json!(price * nights + fee), "{booking}");
    }
}

#[tokio::test]
async fn a_new_price_applies_to_new_bookings_and_leaves_existing_ones_alone() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let old = book(&app, &guest, &pid, &day(10), &day(12)).await;

    let body = json!({ "price_per_night": 20_000, "cleaning_fee": 1_000 });
    assert_json(app.put(&format!("/properties/{pid}"), &body, Some(&host.access_token)).await, 200).await;
    let new = book(&app, &guest, &pid, &day(20), &day(22)).await;

    assert_eq!(new["total_price"], json!(40_000 + 1_000 + 5_600));
    let old_now = assert_json(app.get(&path(&old), Some(&guest.access_token)).await, 200).await;
    assert_eq!(old_now["total_price"], json!(20_000 + 2_500 + 2_800));
    assert_eq!(old_now["nightly_price"], json!(10_000));
}

/// Bookings are quoted from the terms the API last read of a listing;
/// terms that no longer hold are read again. Here the terms read by the
/// first booking say four guests at most, and the host has since raised it
/// to six: six guests are booked, where the terms as first read refused.
#[tokio::test]
async fn a_listing_that_now_takes_more_guests_is_booked_for_them() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({ "max_guests": 4 })).await;
    let guest = sign_up(&app, "guest").await;
    book(&app, &guest, &pid, &day(10), &day(12)).await;

    let body = json!({ "max_guests": 6 });
    assert_json(app.put(&format!("/properties/{pid}"), &body, Some(&host.access_token)).await, 200).await;
    let six = assert_json(try_book(&app, &guest, &stay(&pid, &day(20), &day(22), 6)).await, 201).await;

    assert_eq!(six["guests"], json!(6));
}

#[tokio::test]
async fn a_price_change_committed_while_a_hold_is_written_prices_that_hold() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    // The host's change, not yet committed: the booking reads 10 000 a night.
    let mut change = app.db.begin().await.expect("begin");
    sqlx::query("update properties set price_per_night = 20000 where property_id = $1::uuid")
        .bind(&pid)
        .execute(&mut *change)
        .await
        .expect("change the price");

    let request = json!({ "property_id": pid, "check_in": day(10), "check_out": day(12), "guests": 1 });
    let commit_once_the_booking_waits = async {
        // The write of the hold waits for the changed row; without that
        // wait it would be stored at the price it read.
        until_a_statement_waits_on_a_lock(&app.db).await;
        change.commit().await.expect("commit the change");
    };
    let (response, ()) = tokio::join!(try_book(&app, &guest, &request), commit_once_the_booking_waits);

    let booking = assert_json(response, 201).await;
    assert_eq!(booking["nightly_price"], json!(20_000));
    assert_eq!(booking["total_price"], json!(40_000 + 2_500 + 5_600));
    let (stored_price,): (i64,) = sqlx::query_as("select nightly_price from bookings where booking_id = $1::uuid")
        .bind(id(&booking))
        .fetch_one(&app.db)
        .await
        .expect("stored booking");
    assert_eq!(stored_price, 20_000);
}

// ---------------------------------------------------------------------------
// Mass assignment
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_booking_request_cannot_set_its_price_status_or_parties() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    for (field, value) in [
        ("total_price", json!(1)),
        ("nightly_price", json!(1)),
        ("service_fee", json!(0)),
        ("cleaning_fee", json!(0)),
        ("status", json!("confirmed")),
        ("guest_id", json!(host.id)),
        ("host_id", json!(guest.id)),
        ("id", json!(uuid::Uuid::new_v4())),
        ("currency", json!("USD")),
        ("cancellation_policy", json!("flexible")),
        ("expires_at", json!("2100-01-01T00:00:00Z")),
        ("refund_amount", json!(100)),
    ] {
        let mut body = stay(&pid, &day(10), &day(12), 2);
        body[field] = value;
        let problem = assert_problem(try_book(&app, &guest, &body).await, 400).await;
        assert_eq!(problem["type"], "/problems/malformed-body", "for {field}");
    }

    assert_eq!(booking_count(&app).await, 0);
}

#[tokio::test]
async fn a_booking_change_cannot_set_its_status_price_or_parties() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    for (field, value) in [
        ("status", json!("confirmed")),
        ("total_price", json!(1)),
        ("nightly_price", json!(1)),
        ("guest_id", json!(host.id)),
        ("property_id", json!(uuid::Uuid::new_v4())),
        ("expires_at", json!("2100-01-01T00:00:00Z")),
    ] {
        let body = json!({ field: value, "guests": 3 });
        assert_problem(app.put(&path(&booking), &body, Some(&guest.access_token)).await, 400).await;
    }

    assert_eq!(stored_status(&app, &id(&booking)).await, "pending");
    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 2, 25_300));
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Posts `body` as `who`, asserts a `status` problem and that nothing was
/// stored; returns the problem.
async fn refused(app: &TestApp, who: &Account, body: &Value, status: u16) -> Value {
    let before = booking_count(app).await;
    let problem = assert_problem(try_book(app, who, body).await, status).await;
    assert_eq!(booking_count(app).await, before, "a refused booking was stored: {body}");
    problem
}

#[tokio::test]
async fn a_check_in_in_the_past_is_unprocessable() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    let problem = refused(&app, &guest, &stay(&pid, &day(-1), &day(2), 2), 422).await;

    assert_eq!(error_fields(&problem), ["check_in"]);
    book(&app, &guest, &pid, &day(0), &day(1)).await;
}

#[tokio::test]
async fn a_check_out_on_or_before_check_in_is_unprocessable() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    for check_out in [10, 9] {
        let problem = refused(&app, &guest, &stay(&pid, &day(10), &day(check_out), 2), 422).await;
        assert_eq!(error_fields(&problem), ["check_out"], "check-out on day {check_out}");
    }
}

#[tokio::test]
async fn a_stay_of_more_than_ninety_nights_is_unprocessable() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    let problem = refused(&app, &guest, &stay(&pid, &day(10), &day(101), 2), 422).await;

    assert_eq!(error_fields(&problem), ["check_out"]);
    let longest = book(&app, &guest, &pid, &day(10), &day(100)).await;
    assert_eq!(longest["nights"], 90);
}

#[tokio::test]
async fn a_check_in_more_than_two_years_ahead_is_unprocessable() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    let problem = refused(&app, &guest, &stay(&pid, &day(731), &day(733), 2), 422).await;

    assert_eq!(error_fields(&problem), ["check_in"]);
    book(&app, &guest, &pid, &day(730), &day(732)).await;
}

#[tokio::test]
async fn more_guests_than_the_property_takes_is_unprocessable() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({ "max_guests": 4 })).await;
    let guest = sign_up(&app, "guest").await;

    let problem = refused(&app, &guest, &stay(&pid, &day(10), &day(12), 5), 422).await;

    assert_eq!(error_fields(&problem), ["guests"]);
    let full = assert_json(try_book(&app, &guest, &stay(&pid, &day(10), &day(12), 4)).await, 201).await;
    assert_eq!(full["guests"], 4);
}

#[tokio::test]
async fn a_guest_count_outside_one_to_a_hundred_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    for guests in [0, -1, 101] {
        refused(&app, &guest, &stay(&pid, &day(10), &day(12), guests), 400).await;
    }
}

#[tokio::test]
async fn booking_an_unknown_property_is_not_found() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;

    refused(&app, &guest, &stay(&uuid::Uuid::new_v4().to_string(), &day(10), &day(12), 2), 404).await;
}

#[tokio::test]
async fn booking_a_removed_property_is_not_found() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let response = app.delete(&format!("/properties/{pid}"), Some(&host.access_token)).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap_or_default());

    refused(&app, &guest, &stay(&pid, &day(10), &day(12), 2), 404).await;
}

#[tokio::test]
async fn a_malformed_date_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;

    for bad in [json!("2027-13-01"), json!("2027-02-30"), json!("tomorrow"), json!("01/02/2027"), json!(20270101)] {
        let mut body = stay(&pid, &day(10), &day(12), 2);
        body["check_in"] = bad.clone();
        refused(&app, &guest, &body, 400).await;
        let mut body = stay(&pid, &day(10), &day(12), 2);
        body["check_out"] = bad;
        refused(&app, &guest, &body, 400).await;
    }
}

#[tokio::test]
async fn a_host_cannot_book_its_own_property() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let admin = sign_up(&app, "admin").await;
    let admins_own = id(&create_property(&app, &admin, json!({})).await);

    refused(&app, &host, &stay(&pid, &day(10), &day(12), 2), 403).await;
    refused(&app, &admin, &stay(&admins_own, &day(10), &day(12), 2), 403).await;
    // Hosts book other hosts' places like anyone.
    book(&app, &host, &admins_own, &day(10), &day(12)).await;
}

#[tokio::test]
async fn booking_anonymously_or_with_a_bad_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let body = stay(&pid, &day(10), &day(12), 2);

    assert_unauthorized(app.post("/bookings", &body, None).await).await;
    assert_unauthorized(app.post("/bookings", &body, Some("not.a.jwt")).await).await;

    assert_eq!(booking_count(&app).await, 0);
}

/// `POST /bookings` does not read the account when it checks the token:
/// the hold's statement requires it open. A closed account's token is
/// still refused as on every other route, with the same 401 whatever else
/// is wrong with the request, and books nothing; with an idempotency key
/// it replays nothing either.
#[tokio::test]
async fn a_closed_account_s_token_books_nothing_and_replays_nothing() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let body = stay(&pid, &day(10), &day(12), 2);
    let first = assert_json(post_with_key(&app, &guest, "before-closing", &body).await, 201).await;
    assert_json(app.delete(&path(&first), Some(&guest.access_token)).await, 200).await;
    let closed = app.delete(&guest.path(), Some(&guest.access_token)).await;
    assert_eq!(closed.status(), 204, "{}", closed.text().await.unwrap_or_default());

    let elsewhere = assert_unauthorized(app.get("/users/me", Some(&guest.access_token)).await).await;
    let unknown = stay(&uuid::Uuid::new_v4().to_string(), &day(10), &day(12), 2);
    let too_many = stay(&pid, &day(10), &day(12), 9);
    for answer in [
        try_book(&app, &guest, &body).await,
        post_with_key(&app, &guest, "before-closing", &body).await,
        post_with_key(&app, &guest, "after-closing", &body).await,
        // Refused for the account before anything else is said of the request.
        try_book(&app, &guest, &unknown).await,
        try_book(&app, &guest, &too_many).await,
        post_with_key(&app, &guest, "", &body).await,
    ] {
        let problem = assert_unauthorized(answer).await;
        assert_eq!(problem["detail"], elsewhere["detail"]);
        assert_eq!(problem["type"], elsewhere["type"]);
    }
    assert_eq!(booking_count(&app).await, 1, "only the booking made before closing");
}

// ---------------------------------------------------------------------------
// Who sees, changes and cancels what
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_guest_the_host_and_an_admin_read_a_booking() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let admin = sign_up(&app, "admin").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    for who in [&guest, &host, &admin] {
        let read = assert_json(app.get(&path(&booking), Some(&who.access_token)).await, 200).await;
        assert_eq!(read, booking, "{} reads another booking", who.email);
    }
}

#[tokio::test]
async fn another_guest_or_host_cannot_see_change_or_cancel_a_booking() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let (other_host, _) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other_guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    for who in [&other_guest, &other_host] {
        let token = Some(who.access_token.as_str());
        assert_problem(app.get(&path(&booking), token).await, 404).await;
        assert_problem(app.put(&path(&booking), &json!({ "guests": 1 }), token).await, 404).await;
        assert_problem(app.delete(&path(&booking), token).await, 404).await;
    }

    assert_eq!(stored_status(&app, &id(&booking)).await, "pending");
    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 2, 25_300));
}

#[tokio::test]
async fn a_missing_booking_is_not_found_for_everyone_including_admins() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let missing = format!("/bookings/{}", uuid::Uuid::new_v4());
    let token = Some(admin.access_token.as_str());

    assert_problem(app.get(&missing, token).await, 404).await;
    assert_problem(app.put(&missing, &json!({ "guests": 1 }), token).await, 404).await;
    assert_problem(app.delete(&missing, token).await, 404).await;
}

#[tokio::test]
async fn only_the_guest_changes_a_booking() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let admin = sign_up(&app, "admin").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    for who in [&host, &admin] {
        let response = app.put(&path(&booking), &json!({ "guests": 1 }), Some(&who.access_token)).await;
        assert_problem(response, 403).await;
    }
    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 2, 25_300));

    let changed =
        assert_json(app.put(&path(&booking), &json!({ "guests": 1 }), Some(&guest.access_token)).await, 200).await;
    assert_eq!(changed["guests"], 1);
}

#[tokio::test]
async fn the_guest_the_host_or_an_admin_cancels_a_booking() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let admin = sign_up(&app, "admin").await;

    for (n, who) in [&guest, &host, &admin].into_iter().enumerate() {
        let start = 10 + 5 * n as i64;
        let booking = book(&app, &guest, &pid, &day(start), &day(start + 2)).await;
        let cancelled = assert_json(app.delete(&path(&booking), Some(&who.access_token)).await, 200).await;
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["cancelled_by"], json!(who.id), "cancelled by {}", who.email);
        assert_eq!(stored_status(&app, &id(&booking)).await, "cancelled");
    }
}

#[tokio::test]
async fn bookings_routes_need_a_signed_in_caller() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    assert_unauthorized(app.get("/bookings", None).await).await;
    assert_unauthorized(app.get(&path(&booking), None).await).await;
    assert_unauthorized(app.put(&path(&booking), &json!({ "guests": 1 }), None).await).await;
    assert_unauthorized(app.delete(&path(&booking), None).await).await;

    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 2, 25_300));
    assert_eq!(stored_status(&app, &id(&booking)).await, "pending");
}

// ---------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------

/// Two hosts with a property each; two guests; the second host also books
/// the first host's place.
struct Marketplace {
    first_host: Account,
    second_host: Account,
    first: String,
    second: String,
    guest: Account,
    other_guest: Account,
    admin: Account,
    /// guest at first, days 10..12
    a: Value,
    /// guest at second, days 20..22
    b: Value,
    /// other_guest at first, days 30..32
    c: Value,
    /// second_host as a guest at first, days 40..42
    d: Value,
}

async fn marketplace(app: &TestApp) -> Marketplace {
    let (first_host, first) = listed(app, json!({})).await;
    let (second_host, second) = listed(app, json!({})).await;
    let guest = sign_up(app, "guest").await;
    let other_guest = sign_up(app, "guest").await;
    let admin = sign_up(app, "admin").await;
    let a = book(app, &guest, &first, &day(10), &day(12)).await;
    let b = book(app, &guest, &second, &day(20), &day(22)).await;
    let c = book(app, &other_guest, &first, &day(30), &day(32)).await;
    let d = book(app, &second_host, &first, &day(40), &day(42)).await;
    Marketplace { first_host, second_host, first, second, guest, other_guest, admin, a, b, c, d }
}

#[tokio::test]
async fn each_caller_lists_only_the_bookings_it_is_a_party_to() {
    let app = TestApp::spawn().await;
    let m = marketplace(&app).await;

    assert_eq!(listed_ids(&app, &m.guest, "").await, set(&[&m.a, &m.b]));
    assert_eq!(listed_ids(&app, &m.other_guest, "").await, set(&[&m.c]));
    assert_eq!(listed_ids(&app, &m.first_host, "").await, set(&[&m.a, &m.c, &m.d]));
    assert_eq!(listed_ids(&app, &m.second_host, "").await, set(&[&m.b, &m.d]));
    assert_eq!(listed_ids(&app, &m.admin, "").await, set(&[&m.a, &m.b, &m.c, &m.d]));
}

#[tokio::test]
async fn the_role_filter_splits_a_hosts_own_stays_from_those_at_its_places() {
    let app = TestApp::spawn().await;
    let m = marketplace(&app).await;

    assert_eq!(listed_ids(&app, &m.second_host, "?role=host").await, set(&[&m.b]));
    assert_eq!(listed_ids(&app, &m.second_host, "?role=guest").await, set(&[&m.d]));
    assert_eq!(listed_ids(&app, &m.first_host, "?role=guest").await, set(&[]));
    assert_eq!(listed_ids(&app, &m.guest, "?role=host").await, set(&[]));
    assert_eq!(listed_ids(&app, &m.admin, "?role=guest").await, set(&[]), "an admin's own stays are none");
}

#[tokio::test]
async fn the_bookings_list_filters_by_status_property_and_dates() {
    let app = TestApp::spawn().await;
    let m = marketplace(&app).await;
    assert_json(app.delete(&path(&m.c), Some(&m.other_guest.access_token)).await, 200).await;
    set_status(&app, &id(&m.b), "confirmed").await;
    let admin = &m.admin;

    assert_eq!(listed_ids(&app, admin, "?status=cancelled").await, set(&[&m.c]));
    assert_eq!(listed_ids(&app, admin, "?status=confirmed").await, set(&[&m.b]));
    assert_eq!(listed_ids(&app, admin, "?status=pending").await, set(&[&m.a, &m.d]));
    assert_eq!(listed_ids(&app, admin, &format!("?property_id={}", m.second)).await, set(&[&m.b]));
    assert_eq!(listed_ids(&app, admin, &format!("?property_id={}", m.first)).await, set(&[&m.a, &m.c, &m.d]));
    let query = format!("?property_id={}&status=pending", m.first);
    assert_eq!(listed_ids(&app, admin, &query).await, set(&[&m.a, &m.d]));
    // A property filter does not widen what a caller sees.
    let query = format!("?property_id={}", m.first);
    assert_eq!(listed_ids(&app, &m.other_guest, &query).await, set(&[&m.c]));
    // Stays overlapping [from, to): half-open at both ends.
    assert_eq!(listed_ids(&app, admin, &format!("?from={}&to={}", day(11), day(12))).await, set(&[&m.a]));
    assert_eq!(listed_ids(&app, admin, &format!("?from={}&to={}", day(12), day(20))).await, set(&[]));
    assert_eq!(listed_ids(&app, admin, &format!("?from={}&to={}", day(21), day(41))).await, set(&[&m.b, &m.c, &m.d]));
    assert_eq!(listed_ids(&app, &m.guest, &format!("?from={}&to={}", day(0), day(100))).await, set(&[&m.a, &m.b]));
}

#[tokio::test]
async fn the_status_filter_agrees_with_the_status_each_booking_reads() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let live = book(&app, &guest, &pid, &day(10), &day(12)).await;
    let lapsed = book(&app, &guest, &pid, &day(20), &day(22)).await;
    lapse(&app, &id(&lapsed)).await;
    let read = assert_json(app.get(&path(&lapsed), Some(&guest.access_token)).await, 200).await;
    assert_eq!(read["status"], "expired");

    let pending = assert_json(app.get("/bookings?status=pending", Some(&guest.access_token)).await, 200).await;
    let statuses: Vec<&Value> = pending["items"].as_array().unwrap().iter().map(|b| &b["status"]).collect();
    assert!(statuses.iter().all(|s| *s == "pending"), "status=pending lists bookings reading {statuses:?}");
    assert_eq!(ids(&pending), set(&[&live]));
    assert_eq!(listed_ids(&app, &guest, "?status=expired").await, set(&[&lapsed]));
}

#[tokio::test]
async fn the_bookings_list_pages_through_every_booking_exactly_once_newest_first() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let mut expected = HashSet::new();
    for n in 0..7 {
        expected.insert(id(&book(&app, &guest, &pid, &day(10 + 3 * n), &day(12 + 3 * n)).await));
    }

    let mut seen = Vec::new();
    let mut created = Vec::new();
    let mut query = "/bookings?limit=2".to_owned();
    for _ in 0..10 {
        let page = assert_json(app.get(&query, Some(&guest.access_token)).await, 200).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2, "a page is longer than its limit: {page}");
        seen.extend(items.iter().map(id));
        created.extend(items.iter().map(|b| timestamp(b, "created_at")));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("/bookings?limit=2&cursor={cursor}"),
            None => break,
        }
    }

    let distinct: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "a booking was listed twice: {seen:?}");
    assert_eq!(distinct, expected);
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "not newest first: {created:?}");
}

#[tokio::test]
async fn bad_list_parameters_are_refused() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;
    let token = Some(guest.access_token.as_str());

    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=ten",
        "?status=bogus",
        "?role=admin",
        "?property_id=not-a-uuid",
        "?from=2027-13-01&to=2027-12-02",
    ] {
        assert_problem(app.get(&format!("/bookings{query}"), token).await, 400).await;
    }
    for (query, field) in [
        ("?cursor=not-a-cursor".to_owned(), "cursor"),
        (format!("?from={}", day(1)), "to"),
        (format!("?to={}", day(1)), "to"),
        (format!("?from={}&to={}", day(5), day(5)), "to"),
    ] {
        let problem = assert_problem(app.get(&format!("/bookings{query}"), token).await, 422).await;
        assert_eq!(error_fields(&problem), [field], "for {query}");
    }
}

// ---------------------------------------------------------------------------
// Changes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_changed_booking_is_priced_again_at_the_propertys_current_rates() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    assert_eq!(booking["total_price"], 25_300);
    let body = json!({ "price_per_night": 20_000, "cleaning_fee": 1_000 });
    assert_json(app.put(&format!("/properties/{pid}"), &body, Some(&host.access_token)).await, 200).await;

    let changed = assert_json(
        app.put(&path(&booking), &json!({ "check_out": day(13), "guests": 3 }), Some(&guest.access_token)).await,
        200,
    )
    .await;

    for (field, expected) in [
        ("check_in", json!(day(10))),
        ("check_out", json!(day(13))),
        ("guests", json!(3)),
        ("nights", json!(3)),
        ("nightly_price", json!(20_000)),
        ("nightly_subtotal", json!(60_000)),
        ("cleaning_fee", json!(1_000)),
        ("service_fee", json!(8_400)),
        ("total_price", json!(69_400)),
        ("status", json!("pending")),
    ] {
        assert_eq!(changed[field], expected, "`{field}` of {changed}");
    }
    assert_eq!(changed["expires_at"], booking["expires_at"], "a change extended the hold");
    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(13), 3, 69_400));
}

#[tokio::test]
async fn a_change_of_guests_alone_keeps_the_dates_and_respects_the_maximum() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({ "max_guests": 4 })).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    let token = Some(guest.access_token.as_str());

    let problem = assert_problem(app.put(&path(&booking), &json!({ "guests": 5 }), token).await, 422).await;
    assert_eq!(error_fields(&problem), ["guests"]);
    assert_problem(app.put(&path(&booking), &json!({ "guests": 0 }), token).await, 400).await;
    let changed = assert_json(app.put(&path(&booking), &json!({ "guests": 4 }), token).await, 200).await;

    assert_eq!((changed["check_in"].as_str(), changed["check_out"].as_str()), (Some(&*day(10)), Some(&*day(12))));
    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 4, 25_300));
}

#[tokio::test]
async fn a_change_breaking_a_date_rule_is_unprocessable_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    let token = Some(guest.access_token.as_str());

    for (body, field) in [
        (json!({ "check_out": day(10) }), "check_out"),
        (json!({ "check_in": day(12) }), "check_out"),
        (json!({ "check_in": day(-1) }), "check_in"),
        (json!({ "check_out": day(101) }), "check_out"),
    ] {
        let problem = assert_problem(app.put(&path(&booking), &body, token).await, 422).await;
        assert_eq!(error_fields(&problem), [field], "for {body}");
    }
    assert_problem(app.put(&path(&booking), &json!({ "check_in": "2027-13-01" }), token).await, 400).await;

    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 2, 25_300));
}

#[tokio::test]
async fn moving_a_booking_onto_another_bookings_dates_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    let mine = book(&app, &guest, &pid, &day(10), &day(12)).await;
    book(&app, &other, &pid, &day(20), &day(22)).await;

    let body = json!({ "check_in": day(19), "check_out": day(21) });
    let problem = assert_problem(app.put(&path(&mine), &body, Some(&guest.access_token)).await, 409).await;

    assert_eq!(problem["type"], "/problems/dates-unavailable");
    assert_eq!(stored_stay(&app, &id(&mine)).await, (day(10), day(12), 2, 25_300));
    // Right up to the other stay, and over its own old nights, is fine.
    let body = json!({ "check_in": day(11), "check_out": day(20) });
    let moved = assert_json(app.put(&path(&mine), &body, Some(&guest.access_token)).await, 200).await;
    assert_eq!(moved["nights"], 9);
}

#[tokio::test]
async fn a_booking_can_move_onto_the_dates_of_a_lapsed_hold() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    let mine = book(&app, &guest, &pid, &day(10), &day(12)).await;
    let lapsed = book(&app, &other, &pid, &day(20), &day(22)).await;
    lapse(&app, &id(&lapsed)).await;

    let body = json!({ "check_in": day(20), "check_out": day(22) });
    let moved = assert_json(app.put(&path(&mine), &body, Some(&guest.access_token)).await, 200).await;

    assert_eq!(moved["check_in"], json!(day(20)));
    assert_eq!(stored_status(&app, &id(&lapsed)).await, "expired");
    assert_eq!(active_bookings_of(&app, &pid).await, 1);
}

#[tokio::test]
async fn a_re_priced_booking_carries_the_currency_its_amounts_are_in() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({ "currency": "EUR" })).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    assert_eq!(booking["currency"], "EUR");
    let body = json!({ "currency": "USD", "price_per_night": 20_000 });
    assert_json(app.put(&format!("/properties/{pid}"), &body, Some(&host.access_token)).await, 200).await;

    let changed =
        assert_json(app.put(&path(&booking), &json!({ "guests": 3 }), Some(&guest.access_token)).await, 200).await;

    assert_eq!(changed["total_price"], json!(40_000 + 2_500 + 5_600));
    assert_eq!(changed["currency"], "USD", "USD amounts labelled {}: {changed}", changed["currency"]);
    let stored: String = sqlx::query_scalar("select currency::text from bookings where booking_id = $1::uuid")
        .bind(id(&booking))
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, "USD");
}

#[tokio::test]
async fn only_a_pending_booking_can_change() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let token = Some(guest.access_token.as_str());
    let confirmed = book(&app, &guest, &pid, &day(10), &day(12)).await;
    set_status(&app, &id(&confirmed), "confirmed").await;
    let cancelled = book(&app, &guest, &pid, &day(20), &day(22)).await;
    assert_json(app.delete(&path(&cancelled), token).await, 200).await;
    let expired = book(&app, &guest, &pid, &day(30), &day(32)).await;
    lapse(&app, &id(&expired)).await;

    for booking in [&confirmed, &cancelled, &expired] {
        let response = app.put(&path(booking), &json!({ "guests": 1 }), token).await;
        let problem = assert_problem(response, 409).await;
        assert_eq!(problem["type"], "/problems/booking-not-pending", "{problem}");
        let (_, _, guests, _) = stored_stay(&app, &id(booking)).await;
        assert_eq!(guests, 2);
    }
    assert_eq!(stored_status(&app, &id(&confirmed)).await, "confirmed");
}

// ---------------------------------------------------------------------------
// Cancellations and refunds
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cancelling_a_pending_booking_keeps_the_row_records_who_and_refunds_nothing() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({ "cancellation_policy": "flexible" })).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(30), &day(32)).await;

    let before = Utc::now();
    let cancelled = assert_json(app.delete(&path(&booking), Some(&guest.access_token)).await, 200).await;

    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], json!(guest.id));
    assert_eq!(cancelled["refund_amount"], 0, "an unpaid hold refunds money");
    let at = timestamp(&cancelled, "cancelled_at");
    assert!((at - before).num_seconds().abs() < 5, "cancelled_at is {at}");
    let read = assert_json(app.get(&path(&booking), Some(&guest.access_token)).await, 200).await;
    assert_eq!(read["status"], "cancelled");
    assert_eq!(read["total_price"], booking["total_price"]);
    let stored: (String, Option<String>, Option<i64>) = sqlx::query_as(
        "select status::text, cancelled_by::text, refund_amount from bookings where booking_id = $1::uuid",
    )
    .bind(id(&booking))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, ("cancelled".to_owned(), Some(guest.id.clone()), Some(0)));
}

/// A confirmed two-night stay (total 25 300) from `check_in` days ahead at a
/// new property with `policy`, cancelled by `who` (`guest` or `host`);
/// returns the cancelled booking.
async fn cancel_confirmed(app: &TestApp, policy: &str, check_in: i64, who: &str) -> Value {
    let (host, pid) = listed(app, json!({ "cancellation_policy": policy })).await;
    let guest = sign_up(app, "guest").await;
    let booking = book(app, &guest, &pid, &day(check_in), &day(check_in + 2)).await;
    assert_eq!(booking["total_price"], 25_300);
    assert_eq!(booking["cancellation_policy"], policy);
    set_status(app, &id(&booking), "confirmed").await;
    let canceller = match who {
        "guest" => guest,
        "host" => host,
        _ => sign_up(app, "admin").await,
    };
    let cancelled = assert_json(app.delete(&path(&booking), Some(&canceller.access_token)).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], json!(canceller.id));
    let stored: Option<i64> = sqlx::query_scalar("select refund_amount from bookings where booking_id = $1::uuid")
        .bind(id(&booking))
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, cancelled["refund_amount"].as_i64(), "the stored refund differs from the answer");
    cancelled
}

#[tokio::test]
async fn a_guest_cancelling_a_paid_stay_a_month_ahead_is_refunded_by_the_policy() {
    let app = TestApp::spawn().await;

    for (policy, refund) in [("flexible", 25_300), ("moderate", 25_300), ("strict", 12_650)] {
        let cancelled = cancel_confirmed(&app, policy, 30, "guest").await;
        assert_eq!(cancelled["refund_amount"], refund, "{policy}");
    }
}

#[tokio::test]
async fn a_guest_cancelling_a_paid_stay_two_days_ahead_is_refunded_by_the_policy() {
    let app = TestApp::spawn().await;

    // Check-in is 15:00 UTC on day 2: between 39 and 63 hours away.
    for (policy, refund) in [("flexible", 25_300), ("moderate", 12_650), ("strict", 0)] {
        let cancelled = cancel_confirmed(&app, policy, 2, "guest").await;
        assert_eq!(cancelled["refund_amount"], refund, "{policy}");
    }
}

#[tokio::test]
async fn a_host_or_an_admin_cancelling_a_paid_stay_refunds_it_in_full() {
    let app = TestApp::spawn().await;

    for who in ["host", "admin"] {
        let cancelled = cancel_confirmed(&app, "strict", 2, who).await;
        assert_eq!(cancelled["refund_amount"], 25_300, "cancelled by the {who}");
    }
}

#[tokio::test]
async fn the_refund_follows_the_policy_at_booking_time() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({ "cancellation_policy": "flexible" })).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(30), &day(32)).await;
    set_status(&app, &id(&booking), "confirmed").await;
    let body = json!({ "cancellation_policy": "strict" });
    assert_json(app.put(&format!("/properties/{pid}"), &body, Some(&host.access_token)).await, 200).await;

    let cancelled = assert_json(app.delete(&path(&booking), Some(&guest.access_token)).await, 200).await;

    assert_eq!(cancelled["cancellation_policy"], "flexible");
    assert_eq!(cancelled["refund_amount"], 25_300);
}

#[tokio::test]
async fn cancelling_twice_is_a_conflict_and_keeps_the_first_cancellation() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    let first = assert_json(app.delete(&path(&booking), Some(&guest.access_token)).await, 200).await;

    for who in [&guest, &host] {
        let problem = assert_problem(app.delete(&path(&booking), Some(&who.access_token)).await, 409).await;
        assert_eq!(problem["type"], "/problems/booking-not-active");
    }

    let read = assert_json(app.get(&path(&booking), Some(&guest.access_token)).await, 200).await;
    assert_eq!(read["cancelled_by"], json!(guest.id));
    assert_eq!(read["cancelled_at"], first["cancelled_at"]);
}

#[tokio::test]
async fn an_expired_hold_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    lapse(&app, &id(&booking)).await;

    let problem = assert_problem(app.delete(&path(&booking), Some(&guest.access_token)).await, 409).await;

    assert_eq!(problem["type"], "/problems/booking-not-active");
    assert_ne!(stored_status(&app, &id(&booking)).await, "cancelled");
}

#[tokio::test]
async fn a_stay_that_is_over_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = ended_stay(&app, &guest, &pid).await;

    for who in [&guest, &host] {
        let problem = assert_problem(app.delete(&path(&booking), Some(&who.access_token)).await, 409).await;
        assert_eq!(problem["type"], "/problems/stay-over");
    }

    assert_eq!(stored_status(&app, &id(&booking)).await, "confirmed");
}

// ---------------------------------------------------------------------------
// Emails
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_booking_queues_a_request_email_to_its_guest_and_its_host() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let response = app
        .client
        .post(app.url("/bookings"))
        .bearer_auth(&guest.access_token)
        .header("x-request-id", "booking-42")
        .json(&stay(&pid, &day(10), &day(12), 2))
        .send()
        .await
        .unwrap();
    let booking = assert_json(response, 201).await;

    let emails = emails_about(&app, &id(&booking)).await;

    assert_eq!(emails.len(), 2, "{emails:?}");
    assert_eq!(recipients(&emails, "booking_requested"), ["guest", "host"]);
    assert!(emails.iter().all(|e| e["request_id"] == "booking-42"), "the request id was lost: {emails:?}");
}

#[tokio::test]
async fn a_change_queues_a_changed_email_to_both_parties() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    assert_json(app.put(&path(&booking), &json!({ "guests": 3 }), Some(&guest.access_token)).await, 200).await;
    let emails = emails_about(&app, &id(&booking)).await;

    assert_eq!(recipients(&emails, "booking_changed"), ["guest", "host"], "{emails:?}");
    assert_eq!(emails.len(), 4, "{emails:?}");
}

#[tokio::test]
async fn a_cancellation_queues_a_cancelled_email_to_both_parties() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    assert_json(app.delete(&path(&booking), Some(&host.access_token)).await, 200).await;
    let emails = emails_about(&app, &id(&booking)).await;

    assert_eq!(recipients(&emails, "booking_cancelled"), ["guest", "host"], "{emails:?}");
    assert_eq!(emails.len(), 4, "{emails:?}");
}

#[tokio::test]
async fn a_refused_booking_or_change_queues_no_email() {
    let app = TestApp::spawn().await;
    let (host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    assert_problem(try_book(&app, &guest, &stay(&pid, &day(11), &day(13), 2)).await, 409).await;
    assert_problem(app.put(&path(&booking), &json!({ "guests": 9 }), Some(&guest.access_token)).await, 422).await;
    assert_problem(app.put(&path(&booking), &json!({ "guests": 3 }), Some(&host.access_token)).await, 403).await;

    let emails = emails_about(&app, &id(&booking)).await;
    assert_eq!(recipients(&emails, "booking_requested"), ["guest", "host"]);
    assert_eq!(emails.len(), 2, "a refused request queued an email: {emails:?}");
    let all: i64 = redis::cmd("HLEN")
        .arg(app.config.redis_key("emails:data"))
        .query_async(&mut redis_connection(&app).await)
        .await
        .unwrap();
    // Two welcome emails (host and guest) and the two about the booking.
    assert_eq!(all, 4);
}

// ---------------------------------------------------------------------------
// Idempotency-Key
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_replays_the_first_booking() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let body = stay(&pid, &day(10), &day(12), 2);

    let first = post_with_key(&app, &guest, "retry-1", &body).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = assert_json(first, 201).await;
    let second = post_with_key(&app, &guest, "retry-1", &body).await;
    let replayed = second.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned());
    let location = second.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let second = assert_json(second, 201).await;

    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(location, Some(path(&first)));
    assert_eq!(second, first);
    assert_eq!(booking_count(&app).await, 1);
    assert_eq!(emails_about(&app, &id(&first)).await.len(), 2, "a replay queued emails again");
}

#[tokio::test]
async fn reusing_a_key_for_another_request_is_unprocessable() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    assert_json(post_with_key(&app, &guest, "key-1", &stay(&pid, &day(10), &day(12), 2)).await, 201).await;

    for other in [stay(&pid, &day(20), &day(22), 2), stay(&pid, &day(10), &day(12), 3)] {
        let problem = assert_problem(post_with_key(&app, &guest, "key-1", &other).await, 422).await;
        assert_eq!(error_fields(&problem), ["Idempotency-Key"]);
    }

    assert_eq!(booking_count(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_make_one_booking() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let body = stay(&pid, &day(10), &day(12), 2);
    const RETRIES: usize = 10;
    let start = Arc::new(tokio::sync::Barrier::new(RETRIES));

    let tasks = (0..RETRIES).map(|_| {
        let request = app
            .client
            .post(app.url("/bookings"))
            .bearer_auth(&guest.access_token)
            .header("Idempotency-Key", "same-key")
            .json(&body);
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            let response = request.send().await.expect("POST /bookings");
            let replayed = response.headers().get("idempotent-replayed").is_some();
            let status = response.status().as_u16();
            (status, replayed, response.text().await.expect("a body"))
        })
    });
    let results: Vec<_> =
        futures::future::join_all(tasks).await.into_iter().map(|r| r.expect("a request task")).collect();

    for (status, _, body) in &results {
        assert_eq!(*status, 201, "a retry was refused: {body}");
    }
    let ids: HashSet<String> = results.iter().map(|r| id(&serde_json::from_str(&r.2).unwrap())).collect();
    assert_eq!(ids.len(), 1, "retries made different bookings: {ids:?}");
    assert_eq!(results.iter().filter(|r| !r.1).count(), 1, "expected one fresh answer and the rest replayed");
    assert_eq!(booking_count(&app).await, 1);
}

#[tokio::test]
async fn an_idempotency_key_must_be_one_to_255_visible_characters() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let body = stay(&pid, &day(10), &day(12), 2);

    for bad in ["k".repeat(256), String::new(), "has space".to_owned()] {
        let problem = assert_problem(post_with_key(&app, &guest, &bad, &body).await, 422).await;
        assert_eq!(error_fields(&problem), ["Idempotency-Key"], "for {bad:?}");
    }
    assert_eq!(booking_count(&app).await, 0);

    assert_json(post_with_key(&app, &guest, &"k".repeat(255), &body).await, 201).await;
}

#[tokio::test]
async fn different_users_use_the_same_key_independently() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;

    let mine = assert_json(post_with_key(&app, &guest, "shared", &stay(&pid, &day(10), &day(12), 2)).await, 201).await;
    let response = post_with_key(&app, &other, "shared", &stay(&pid, &day(20), &day(22), 2)).await;
    assert!(response.headers().get("idempotent-replayed").is_none());
    let theirs = assert_json(response, 201).await;

    assert_ne!(id(&mine), id(&theirs));
    assert_eq!(theirs["guest_id"], json!(other.id));
    assert_eq!(booking_count(&app).await, 2);
}

#[tokio::test]
async fn a_refused_request_does_not_use_up_its_key() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    let blocker = book(&app, &other, &pid, &day(10), &day(12)).await;
    let body = stay(&pid, &day(10), &day(12), 2);

    assert_problem(post_with_key(&app, &guest, "after-409", &body).await, 409).await;
    assert_json(app.delete(&path(&blocker), Some(&other.access_token)).await, 200).await;
    let response = post_with_key(&app, &guest, "after-409", &body).await;

    assert!(response.headers().get("idempotent-replayed").is_none(), "a failure was stored and replayed");
    let booking = assert_json(response, 201).await;
    assert_eq!(booking["guest_id"], json!(guest.id));
}

/// The dates are held by a lapsed hold, so the booking takes its locked
/// pass inside the key's transaction (in a savepoint): the hold expires, the
/// booking is written, and a retry replays it.
#[tokio::test]
async fn a_keyed_booking_on_the_dates_of_a_lapsed_hold_is_written_once() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    let lapsed = book(&app, &other, &pid, &day(10), &day(12)).await;
    lapse(&app, &id(&lapsed)).await;
    let body = stay(&pid, &day(10), &day(12), 2);

    let first = assert_json(post_with_key(&app, &guest, "over-lapsed", &body).await, 201).await;
    let retry = post_with_key(&app, &guest, "over-lapsed", &body).await;

    assert_eq!(retry.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(assert_json(retry, 201).await, first);
    assert_eq!(stored_status(&app, &id(&lapsed)).await, "expired");
    assert_eq!(stored_status(&app, &id(&first)).await, "pending");
    assert_eq!(active_bookings_of(&app, &pid).await, 1);
    assert_eq!(emails_about(&app, &id(&first)).await.len(), 2, "one request email each to guest and host");
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_on_booking_routes_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    let token = Some(guest.access_token.as_str());

    for body in ["", "not json", "{\"property_id\": ", "[]", "null", "42"] {
        let response = send_raw(&app, Method::POST, "/bookings", Some("application/json"), body, token).await;
        assert_problem(response, 400).await;
        let response = send_raw(&app, Method::PUT, &path(&booking), Some("application/json"), body, token).await;
        assert_problem(response, 400).await;
    }
    let json = stay(&pid, &day(20), &day(22), 2).to_string();
    let response = send_raw(&app, Method::POST, "/bookings", Some("text/plain"), &json, token).await;
    assert_problem(response, 415).await;

    assert_eq!(booking_count(&app).await, 1);
    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 2, 25_300));
}

#[tokio::test]
async fn fields_of_the_wrong_type_or_missing_are_a_bad_request() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;

    for (field, value) in [
        ("property_id", json!(5)),
        ("property_id", json!("not-a-uuid")),
        ("property_id", json!(null)),
        ("guests", json!("2")),
        ("guests", json!(2.5)),
        ("guests", json!(null)),
        ("check_in", json!(null)),
        ("check_out", json!([day(12)])),
    ] {
        let mut body = stay(&pid, &day(20), &day(22), 2);
        body[field] = value.clone();
        let problem = refused(&app, &guest, &body, 400).await;
        assert_eq!(problem["type"], "/problems/malformed-body", "{field}: {value}");
        let body = json!({ field: value });
        // In a change, `null` leaves a field as it is.
        if field != "property_id" && !value.is_null() {
            let response = app.put(&path(&booking), &body, Some(&guest.access_token)).await;
            assert_problem(response, 400).await;
        }
    }
    for field in ["property_id", "check_in", "check_out", "guests"] {
        let mut body = stay(&pid, &day(20), &day(22), 2);
        body.as_object_mut().unwrap().remove(field);
        refused(&app, &guest, &body, 400).await;
    }

    assert_eq!(stored_stay(&app, &id(&booking)).await, (day(10), day(12), 2, 25_300));
}

#[tokio::test]
async fn a_malformed_booking_id_in_the_path_is_not_found() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;
    let token = Some(guest.access_token.as_str());

    for id in ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"] {
        let path = format!("/bookings/{id}");
        assert_problem(app.get(&path, token).await, 404).await;
        assert_problem(app.put(&path, &json!({ "guests": 1 }), token).await, 404).await;
        assert_problem(app.delete(&path, token).await, 404).await;
    }
}

#[tokio::test]
async fn an_unsupported_method_on_a_booking_is_a_problem() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let booking = book(&app, &guest, &pid, &day(10), &day(12)).await;
    let token = Some(guest.access_token.as_str());

    let body = json!({ "status": "cancelled" }).to_string();
    let response = send_raw(&app, Method::PATCH, &path(&booking), Some("application/json"), &body, token).await;
    assert_problem(response, 405).await;

    assert_eq!(stored_status(&app, &id(&booking)).await, "pending");
}

#[tokio::test]
async fn booking_routes_accept_a_trailing_slash() {
    let app = TestApp::spawn().await;
    let (_host, pid) = listed(&app, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let token = Some(guest.access_token.as_str());

    let booking = assert_json(app.post("/bookings/", &stay(&pid, &day(10), &day(12), 2), token).await, 201).await;
    let slashed = format!("{}/", path(&booking));

    assert_eq!(ids(&assert_json(app.get("/bookings/", token).await, 200).await), set(&[&booking]));
    assert_json(app.get(&slashed, token).await, 200).await;
    assert_json(app.put(&slashed, &json!({ "guests": 3 }), token).await, 200).await;
    let cancelled = assert_json(app.delete(&slashed, token).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
}
