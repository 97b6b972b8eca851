//! Marketplace data for tests: listings, bookings and ended stays, made
//! through the API (and the database only where time must be bent).

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use testkit::TestApp;

use crate::helpers::{Account, assert_json};

/// A valid listing body; `overrides` replace or add fields.
pub fn listing(overrides: Value) -> Value {
    let mut body = json!({
        "name": "Sea cottage",
        "description": "A quiet cottage by the beach",
        "address": "1 Shore Road",
        "city": "Lisbon",
        "country": "Portugal",
        "price_per_night": 10_000,
        "cleaning_fee": 2_500,
        "currency": "EUR",
        "max_guests": 4,
        "bedrooms": 2,
        "bathrooms": 1,
        "amenities": ["wifi", "kitchen"],
        "photos": ["https://example.com/1.jpg"],
        "cancellation_policy": "moderate"
    });
    if let (Some(base), Some(extra)) = (body.as_object_mut(), overrides.as_object()) {
        for (key, value) in extra {
            base.insert(key.clone(), value.clone());
        }
    }
    body
}

/// Lists a property as `host` (asserting 201) and returns its JSON.
pub async fn create_property(app: &TestApp, host: &Account, overrides: Value) -> Value {
    assert_json(app.post("/properties", &listing(overrides), Some(&host.access_token)).await, 201).await
}

/// The id field of a JSON object.
pub fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("no id in {value}")).to_owned()
}

/// A date `days` from today (UTC), as `YYYY-MM-DD`.
pub fn day(days: i64) -> String {
    (Utc::now().date_naive() + Duration::days(days)).format("%Y-%m-%d").to_string()
}

/// A booking body.
pub fn stay(property_id: &str, check_in: &str, check_out: &str, guests: i64) -> Value {
    json!({"property_id": property_id, "check_in": check_in, "check_out": check_out, "guests": guests})
}

/// Books as `guest` (asserting 201) and returns the booking JSON.
pub async fn book(app: &TestApp, guest: &Account, property_id: &str, check_in: &str, check_out: &str) -> Value {
    let body = stay(property_id, check_in, check_out, 2);
    assert_json(app.post("/bookings", &body, Some(&guest.access_token)).await, 201).await
}

/// Sets a booking's status in the database, bypassing the payment flow:
/// `confirmed` as if paid, with the succeeded payment that paying leaves.
pub async fn set_status(app: &TestApp, booking_id: &str, status: &str) {
    sqlx::query("update bookings set status = $2::booking_status, expires_at = null where booking_id = $1::uuid")
        .bind(booking_id)
        .bind(status)
        .execute(&app.db)
        .await
        .expect("set the booking's status");
    if status == "confirmed" {
        record_payment(app, booking_id).await;
    }
}

/// A succeeded payment of a booking's total, as the payment flow records it.
pub async fn record_payment(app: &TestApp, booking_id: &str) {
    sqlx::query(
        "insert into payments (booking_id, amount, currency, status, payment_method, provider_reference)
         select booking_id, total_price, currency, 'succeeded', 'pm_card_visa', 'pi_fixture_' || booking_id
         from bookings where booking_id = $1::uuid",
    )
    .bind(booking_id)
    .execute(&app.db)
    .await
    .expect("record a payment");
}

/// A confirmed stay of `guest` at `property_id` that ended yesterday: booked
/// for the future through the API, then moved into the past in the
/// database (nothing else can make a stay end during a test).
pub async fn ended_stay(app: &TestApp, guest: &Account, property_id: &str) -> Value {
    let booking = book(app, guest, property_id, &day(300), &day(302)).await;
    let yesterday: NaiveDate = Utc::now().date_naive() - Duration::days(1);
    sqlx::query(
        "update bookings set status = 'confirmed', expires_at = null,
             check_in = $2, check_out = $3
         where booking_id = $1::uuid",
    )
    .bind(id(&booking))
    .bind(yesterday - Duration::days(2))
    .bind(yesterday)
    .execute(&app.db)
    .await
    .expect("move the stay into the past");
    record_payment(app, &id(&booking)).await;
    booking
}
