//! Reviews of ended stays: who may write, change and remove them, and the
//! property's rating aggregate that follows every change.

use std::collections::HashSet;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use futures::future::join_all;
use serde_json::{Value, json};
use testkit::TestApp;

use crate::{
    fixtures::{book, create_property, day, ended_stay, id},
    helpers::{Account, assert_json, assert_problem, assert_unauthorized, error_fields, sign_up},
};

/// A confirmed two-night stay of `guest` at `property_id` that ended
/// `1 + 3 * slot` days ago; distinct slots never overlap, so several guests
/// can have stayed at one property.
async fn past_stay(app: &TestApp, guest: &Account, property_id: &str, slot: i64) -> Value {
    let booking = book(app, guest, property_id, &day(100 + 3 * slot), &day(102 + 3 * slot)).await;
    let check_out = Utc::now().date_naive() - Duration::days(1 + 3 * slot);
    sqlx::query(
        "update bookings set status = 'confirmed', expires_at = null, check_in = $2, check_out = $3
         where booking_id = $1::uuid",
    )
    .bind(id(&booking))
    .bind(check_out - Duration::days(2))
    .bind(check_out)
    .execute(&app.db)
    .await
    .expect("move the stay into the past");
    booking
}

fn review_body(booking: &Value, rating: i64, comment: &str) -> Value {
    json!({ "booking_id": id(booking), "rating": rating, "comment": comment })
}

/// Reviews `booking` as `guest` (asserting 201) and returns the review.
async fn review(app: &TestApp, guest: &Account, booking: &Value, rating: i64) -> Value {
    let body = review_body(booking, rating, "A fine stay");
    assert_json(app.post("/reviews", &body, Some(&guest.access_token)).await, 201).await
}

fn path(review: &Value) -> String {
    format!("/reviews/{}", id(review))
}

/// The rating average and review count of a listing, as anyone reads them.
async fn rating(app: &TestApp, property: &Value) -> (Value, i64) {
    let read = assert_json(app.get(&format!("/properties/{}", id(property)), None).await, 200).await;
    (read["rating_average"].clone(), read["review_count"].as_i64().expect("review_count"))
}

async fn review_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from reviews").fetch_one(&app.db).await.expect("count reviews")
}

/// A host, a listing and a guest whose stay there has ended.
async fn stayed(app: &TestApp) -> (Account, Value, Account, Value) {
    let host = sign_up(app, "host").await;
    let property = create_property(app, &host, json!({})).await;
    let guest = sign_up(app, "guest").await;
    let booking = ended_stay(app, &guest, &id(&property)).await;
    (host, property, guest, booking)
}

#[tokio::test]
async fn a_guest_reviews_an_ended_stay_and_the_review_is_published_with_its_location() {
    let app = TestApp::spawn().await;
    let (_, property, guest, booking) = stayed(&app).await;

    let response = app.post("/reviews", &review_body(&booking, 5, "  Lovely place  "), Some(&guest.access_token)).await;

    let location = response.headers().get("location").map(|v| v.to_str().expect("ASCII").to_owned());
    let review = assert_json(response, 201).await;
    assert_eq!(location, Some(path(&review)));
    assert_eq!(review["property_id"], json!(id(&property)));
    assert_eq!(review["booking_id"], json!(id(&booking)));
    assert_eq!(review["author_id"], json!(guest.id));
    assert_eq!(review["rating"], 5);
    assert_eq!(review["comment"], "Lovely place", "the comment is trimmed");
    assert!(review["created_at"].is_string() && review["updated_at"].is_string());
    assert_eq!(assert_json(app.get(&path(&review), None).await, 200).await, review, "anyone reads a review");
    assert_eq!(rating(&app, &property).await, (json!(5.0), 1));
}

#[tokio::test]
async fn a_review_without_a_comment_has_an_empty_one() {
    let app = TestApp::spawn().await;
    let (_, _, guest, booking) = stayed(&app).await;

    let body = json!({ "booking_id": id(&booking), "rating": 3 });
    let review = assert_json(app.post("/reviews", &body, Some(&guest.access_token)).await, 201).await;

    assert_eq!(review["comment"], "");
}

#[tokio::test]
async fn a_comment_with_control_characters_is_refused_and_line_breaks_are_kept() {
    let app = TestApp::spawn().await;
    let (_, _, guest, booking) = stayed(&app).await;

    for comment in ["nul\u{0}inside", "bell\u{7}"] {
        let body = review_body(&booking, 4, comment);
        let problem = assert_problem(app.post("/reviews", &body, Some(&guest.access_token)).await, 422).await;
        assert_eq!(error_fields(&problem), ["comment"], "{comment:?}: {problem}");
    }
    assert_eq!(review_count(&app).await, 0);

    let body = review_body(&booking, 4, "Quiet.\nGood\tlight.");
    let review = assert_json(app.post("/reviews", &body, Some(&guest.access_token)).await, 201).await;
    assert_eq!(review["comment"], "Quiet.\nGood\tlight.");
    let changed = json!({ "comment": "now with \u{0}" });
    let problem = assert_problem(app.put(&path(&review), &changed, Some(&guest.access_token)).await, 422).await;
    assert_eq!(error_fields(&problem), ["comment"]);
}

#[tokio::test]
async fn the_rating_of_a_property_follows_every_review_written_changed_and_removed() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;
    let (ana, bo) = (sign_up(&app, "guest").await, sign_up(&app, "guest").await);
    let ana_stay = past_stay(&app, &ana, &id(&property), 0).await;
    let bo_stay = past_stay(&app, &bo, &id(&property), 1).await;
    assert_eq!(rating(&app, &property).await, (Value::Null, 0));

    let five = review(&app, &ana, &ana_stay, 5).await;
    let four = review(&app, &bo, &bo_stay, 4).await;
    assert_eq!(rating(&app, &property).await, (json!(4.5), 2));

    let changed = assert_json(app.put(&path(&four), &json!({ "rating": 2 }), Some(&bo.access_token)).await, 200).await;
    assert_eq!(changed["rating"], 2);
    assert_eq!(changed["comment"], four["comment"], "a comment left out keeps its value");
    assert_eq!(rating(&app, &property).await, (json!(3.5), 2));

    assert_eq!(app.delete(&path(&five), Some(&ana.access_token)).await.status(), 204);
    assert_eq!(rating(&app, &property).await, (json!(2.0), 1));
    assert_problem(app.get(&path(&five), None).await, 404).await;

    assert_eq!(app.delete(&path(&four), Some(&bo.access_token)).await.status(), 204);
    assert_eq!(rating(&app, &property).await, (Value::Null, 0));
    assert_eq!(review_count(&app).await, 0);
}

#[tokio::test]
async fn the_rating_average_is_rounded_to_two_decimals_and_searchable() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;
    for (slot, stars) in [5, 5, 4].into_iter().enumerate() {
        let guest = sign_up(&app, "guest").await;
        let stay = past_stay(&app, &guest, &id(&property), slot as i64).await;
        review(&app, &guest, &stay, stars).await;
    }

    assert_eq!(rating(&app, &property).await, (json!(4.67), 3));
    let page = assert_json(app.get("/properties?sort=rating", None).await, 200).await;
    assert_eq!(page["items"][0]["rating_average"], json!(4.67));
}

#[tokio::test]
async fn an_update_of_the_comment_alone_keeps_the_rating() {
    let app = TestApp::spawn().await;
    let (_, property, guest, booking) = stayed(&app).await;
    let written = review(&app, &guest, &booking, 4).await;

    let changed =
        assert_json(app.put(&path(&written), &json!({ "comment": " Better " }), Some(&guest.access_token)).await, 200)
            .await;

    assert_eq!((changed["rating"].as_i64(), changed["comment"].as_str()), (Some(4), Some("Better")));
    assert_eq!(changed["created_at"], written["created_at"]);
    assert_eq!(assert_json(app.get(&path(&written), None).await, 200).await, changed);
    assert_eq!(rating(&app, &property).await, (json!(4.0), 1));
}

#[tokio::test]
async fn a_stay_that_has_not_ended_cannot_be_reviewed() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let pending = book(&app, &guest, &id(&property), &day(10), &day(12)).await;
    let confirmed = book(&app, &guest, &id(&property), &day(20), &day(22)).await;
    crate::fixtures::set_status(&app, &id(&confirmed), "confirmed").await;
    let under_way = book(&app, &guest, &id(&property), &day(30), &day(32)).await;
    sqlx::query(
        "update bookings set status = 'confirmed', expires_at = null,
             check_in = current_date - 1, check_out = current_date + 1
         where booking_id = $1::uuid",
    )
    .bind(id(&under_way))
    .execute(&app.db)
    .await
    .expect("start the stay");

    for (booking, what) in [(&pending, "pending"), (&confirmed, "confirmed"), (&under_way, "under way")] {
        let response = app.post("/reviews", &review_body(booking, 5, "Early"), Some(&guest.access_token)).await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(error_fields(&problem), ["booking_id"], "a {what} stay");
    }

    assert_eq!(review_count(&app).await, 0);
    assert_eq!(rating(&app, &property).await, (Value::Null, 0));
}

#[tokio::test]
async fn a_cancelled_or_expired_booking_cannot_be_reviewed_even_after_its_dates() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;
    let guest = sign_up(&app, "guest").await;
    let cancelled = book(&app, &guest, &id(&property), &day(10), &day(12)).await;
    assert_json(app.delete(&format!("/bookings/{}", id(&cancelled)), Some(&guest.access_token)).await, 200).await;
    let expired = book(&app, &guest, &id(&property), &day(20), &day(22)).await;
    sqlx::query("update bookings set status = 'expired' where booking_id = $1::uuid")
        .bind(id(&expired))
        .execute(&app.db)
        .await
        .expect("expire the hold");
    sqlx::query(
        "update bookings set check_in = current_date - 5, check_out = current_date - 3
         where booking_id = any($1::uuid[])",
    )
    .bind(vec![id(&cancelled), id(&expired)])
    .execute(&app.db)
    .await
    .expect("move the bookings into the past");

    for (booking, what) in [(&cancelled, "cancelled"), (&expired, "expired")] {
        let response = app.post("/reviews", &review_body(booking, 1, "Never went"), Some(&guest.access_token)).await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(error_fields(&problem), ["booking_id"], "a {what} booking");
    }

    assert_eq!(review_count(&app).await, 0);
}

#[tokio::test]
async fn a_booking_is_reviewed_only_once() {
    let app = TestApp::spawn().await;
    let (_, property, guest, booking) = stayed(&app).await;
    let first = review(&app, &guest, &booking, 5).await;

    let response = app.post("/reviews", &review_body(&booking, 1, "Second thoughts"), Some(&guest.access_token)).await;

    let problem = assert_problem(response, 409).await;
    assert_eq!(problem["type"], "/problems/duplicate-review");
    assert_eq!(review_count(&app).await, 1);
    assert_eq!(rating(&app, &property).await, (json!(5.0), 1), "the refused review counted in the rating");
    assert_eq!(assert_json(app.get(&path(&first), None).await, 200).await, first);
}

#[tokio::test]
async fn concurrent_reviews_of_one_booking_publish_exactly_one() {
    let app = TestApp::spawn().await;
    let (_, property, guest, booking) = stayed(&app).await;

    let responses = join_all((1..=5).map(|stars| {
        let body = review_body(&booking, stars, "Racing");
        let app = &app;
        let token = guest.access_token.clone();
        async move { app.post("/reviews", &body, Some(&token)).await.status().as_u16() }
    }))
    .await;

    let mut statuses = responses.clone();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409], "{responses:?}");
    assert_eq!(review_count(&app).await, 1);
    let stored: i16 =
        sqlx::query_scalar("select rating from reviews").fetch_one(&app.db).await.expect("the one review");
    assert_eq!(rating(&app, &property).await, (json!(f64::from(stored)), 1));
}

#[tokio::test]
async fn concurrent_reviews_of_one_property_all_count_in_its_rating() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;
    let mut writers = Vec::new();
    for slot in 0..6 {
        let guest = sign_up(&app, "guest").await;
        let stay = past_stay(&app, &guest, &id(&property), slot).await;
        writers.push((guest, stay, [5, 4, 3, 5, 2, 1][slot as usize]));
    }

    let statuses = join_all(writers.iter().map(|(guest, stay, stars)| {
        let body = review_body(stay, *stars, "Simultaneous");
        let app = &app;
        async move { app.post("/reviews", &body, Some(&guest.access_token)).await.status().as_u16() }
    }))
    .await;

    assert_eq!(statuses, [201; 6]);
    assert_eq!(rating(&app, &property).await, (json!(3.33), 6), "20 stars over 6 reviews");
}

#[tokio::test]
async fn a_guest_cannot_review_someone_elses_stay() {
    let app = TestApp::spawn().await;
    let (_, property, _, booking) = stayed(&app).await;
    let stranger = sign_up(&app, "guest").await;

    let response = app.post("/reviews", &review_body(&booking, 1, "Never there"), Some(&stranger.access_token)).await;

    assert_problem(response, 404).await;
    assert_eq!(review_count(&app).await, 0);
    assert_eq!(rating(&app, &property).await, (Value::Null, 0));
}

#[tokio::test]
async fn the_host_or_an_admin_cannot_review_a_guests_stay() {
    let app = TestApp::spawn().await;
    let (host, _, _, booking) = stayed(&app).await;
    let admin = sign_up(&app, "admin").await;

    for who in [&host, &admin] {
        let response = app.post("/reviews", &review_body(&booking, 5, "Best guest"), Some(&who.access_token)).await;
        assert_problem(response, 403).await;
    }
    assert_unauthorized(app.post("/reviews", &review_body(&booking, 5, "Anonymous"), None).await).await;

    assert_eq!(review_count(&app).await, 0);
}

#[tokio::test]
async fn a_review_of_an_unknown_booking_is_not_found() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;

    let body = json!({ "booking_id": uuid::Uuid::new_v4(), "rating": 4 });
    assert_problem(app.post("/reviews", &body, Some(&guest.access_token)).await, 404).await;

    let body = json!({ "booking_id": "not-a-uuid", "rating": 4 });
    assert_problem(app.post("/reviews", &body, Some(&guest.access_token)).await, 400).await;
}

#[tokio::test]
async fn a_rating_outside_one_to_five_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let (_, property, guest, booking) = stayed(&app).await;

    for bad in [json!(0), json!(6), json!(-1), json!(4.5), json!("5"), json!(null)] {
        let body = json!({ "booking_id": id(&booking), "rating": bad });
        assert_problem(app.post("/reviews", &body, Some(&guest.access_token)).await, 400).await;
    }
    let body = json!({ "booking_id": id(&booking) });
    assert_problem(app.post("/reviews", &body, Some(&guest.access_token)).await, 400).await;

    assert_eq!(review_count(&app).await, 0);
    assert_eq!(rating(&app, &property).await, (Value::Null, 0));
}

#[tokio::test]
async fn a_comment_over_five_thousand_characters_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let (_, property, guest, booking) = stayed(&app).await;

    let response = app.post("/reviews", &review_body(&booking, 4, &"x".repeat(5001)), Some(&guest.access_token)).await;
    assert_problem(response, 400).await;
    assert_eq!(review_count(&app).await, 0);

    let longest = "é".repeat(5000);
    let written =
        assert_json(app.post("/reviews", &review_body(&booking, 4, &longest), Some(&guest.access_token)).await, 201)
            .await;
    assert_eq!(written["comment"], json!(longest), "5000 characters, not bytes, are allowed");
    assert_eq!(rating(&app, &property).await, (json!(4.0), 1));
}

#[tokio::test]
async fn a_change_with_a_bad_value_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_, property, guest, booking) = stayed(&app).await;
    let written = review(&app, &guest, &booking, 4).await;

    for body in [
        json!({ "rating": 0 }),
        json!({ "rating": 6 }),
        json!({ "rating": 2, "comment": "x".repeat(5001) }),
        json!({ "rating": "2" }),
        json!({ "rating": 2, "booking_id": uuid::Uuid::new_v4() }),
        json!({ "rating": 2, "author_id": uuid::Uuid::new_v4() }),
        json!({ "rating": 2, "property_id": uuid::Uuid::new_v4() }),
        json!({ "rating": 2, "created_at": "2020-01-01T00:00:00Z" }),
    ] {
        assert_problem(app.put(&path(&written), &body, Some(&guest.access_token)).await, 400).await;
    }

    assert_eq!(assert_json(app.get(&path(&written), None).await, 200).await, written);
    assert_eq!(rating(&app, &property).await, (json!(4.0), 1));
}

#[tokio::test]
async fn a_review_cannot_name_its_author_or_property() {
    let app = TestApp::spawn().await;
    let (host, property, guest, booking) = stayed(&app).await;
    let other_property = create_property(&app, &host, json!({ "name": "Other" })).await;
    let other_guest = sign_up(&app, "guest").await;

    for (field, value) in [
        ("author_id", json!(other_guest.id)),
        ("author_id", json!(guest.id)),
        ("property_id", json!(id(&other_property))),
        ("property_id", json!(id(&property))),
        ("id", json!(uuid::Uuid::new_v4())),
        ("created_at", json!("2020-01-01T00:00:00Z")),
    ] {
        let mut body = review_body(&booking, 5, "Sneaky");
        body[field] = value;
        assert_problem(app.post("/reviews", &body, Some(&guest.access_token)).await, 400).await;
    }

    assert_eq!(review_count(&app).await, 0);
    assert_eq!(rating(&app, &property).await, (Value::Null, 0));
    assert_eq!(rating(&app, &other_property).await, (Value::Null, 0));
}

#[tokio::test]
async fn only_the_author_or_an_admin_changes_or_removes_a_review() {
    let app = TestApp::spawn().await;
    let (host, property, guest, booking) = stayed(&app).await;
    let written = review(&app, &guest, &booking, 4).await;
    let stranger = sign_up(&app, "guest").await;

    for intruder in [&stranger, &host] {
        let token = Some(intruder.access_token.as_str());
        assert_problem(app.put(&path(&written), &json!({ "rating": 1 }), token).await, 403).await;
        assert_problem(app.delete(&path(&written), token).await, 403).await;
    }
    assert_unauthorized(app.put(&path(&written), &json!({ "rating": 1 }), None).await).await;
    assert_unauthorized(app.delete(&path(&written), None).await).await;
    assert_eq!(assert_json(app.get(&path(&written), None).await, 200).await, written);
    assert_eq!(rating(&app, &property).await, (json!(4.0), 1));

    let admin = sign_up(&app, "admin").await;
    let token = Some(admin.access_token.as_str());
    let moderated = assert_json(app.put(&path(&written), &json!({ "comment": "[removed]" }), token).await, 200).await;
    assert_eq!(moderated["comment"], "[removed]");
    assert_eq!(moderated["author_id"], json!(guest.id), "moderation keeps the author");
    assert_eq!(app.delete(&path(&written), token).await.status(), 204);
    assert_problem(app.get(&path(&written), None).await, 404).await;
    assert_eq!(rating(&app, &property).await, (Value::Null, 0));
}

#[tokio::test]
async fn an_unknown_review_is_not_found() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let token = Some(admin.access_token.as_str());
    let unknown = format!("/reviews/{}", uuid::Uuid::new_v4());

    assert_problem(app.get(&unknown, None).await, 404).await;
    assert_problem(app.put(&unknown, &json!({ "rating": 3 }), token).await, 404).await;
    assert_problem(app.delete(&unknown, token).await, 404).await;
    for bad in ["/reviews/not-a-uuid", "/reviews/42"] {
        assert_problem(app.get(bad, None).await, 404).await;
        assert_problem(app.put(bad, &json!({ "rating": 3 }), token).await, 404).await;
        assert_problem(app.delete(bad, token).await, 404).await;
    }
}

/// The review ids of a public list, in its order.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let page = assert_json(app.get(&format!("/reviews?{query}"), None).await, 200).await;
    page["items"].as_array().expect("items").iter().map(id).collect()
}

#[tokio::test]
async fn reviews_are_listed_newest_first_by_property_and_by_author_for_anyone() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let (p, q) = (create_property(&app, &host, json!({})).await, create_property(&app, &host, json!({})).await);
    let (ana, bo) = (sign_up(&app, "guest").await, sign_up(&app, "guest").await);
    let ana_p = review(&app, &ana, &past_stay(&app, &ana, &id(&p), 0).await, 5).await;
    let ana_q = review(&app, &ana, &past_stay(&app, &ana, &id(&q), 0).await, 3).await;
    let bo_p = review(&app, &bo, &past_stay(&app, &bo, &id(&p), 1).await, 4).await;

    assert_eq!(listed(&app, "").await, [id(&bo_p), id(&ana_q), id(&ana_p)]);
    assert_eq!(listed(&app, &format!("property_id={}", id(&p))).await, [id(&bo_p), id(&ana_p)]);
    assert_eq!(listed(&app, &format!("property_id={}", id(&q))).await, [id(&ana_q)]);
    assert_eq!(listed(&app, &format!("author_id={}", ana.id)).await, [id(&ana_q), id(&ana_p)]);
    assert_eq!(listed(&app, &format!("author_id={}", bo.id)).await, [id(&bo_p)]);
    assert_eq!(listed(&app, &format!("author_id={}&property_id={}", ana.id, id(&p))).await, [id(&ana_p)]);
    assert!(listed(&app, &format!("property_id={}", uuid::Uuid::new_v4())).await.is_empty());
    assert!(listed(&app, &format!("author_id={}", host.id)).await.is_empty());
    let signed_in = assert_json(app.get("/reviews", Some(&bo.access_token)).await, 200).await;
    assert_eq!(signed_in["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn review_pages_follow_their_cursor_to_the_end_without_repeats() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;
    let other = create_property(&app, &host, json!({})).await;
    let mut written = Vec::new();
    for slot in 0..5 {
        let guest = sign_up(&app, "guest").await;
        written.push(id(&review(&app, &guest, &past_stay(&app, &guest, &id(&property), slot).await, 4).await));
        review(&app, &guest, &past_stay(&app, &guest, &id(&other), slot).await, 2).await;
    }
    written.reverse();

    for limit in [1, 2, 4, 5] {
        let mut seen = Vec::new();
        let mut query = format!("property_id={}&limit={limit}", id(&property));
        loop {
            let page = assert_json(app.get(&format!("/reviews?{query}"), None).await, 200).await;
            let items = page["items"].as_array().expect("items");
            assert!(items.len() <= limit);
            seen.extend(items.iter().map(id));
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("property_id={}&limit={limit}&cursor={cursor}", id(&property)),
                None => break,
            }
            assert!(seen.len() <= written.len(), "pagination does not end");
        }
        assert_eq!(seen, written, "limit={limit}");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    }
}

#[tokio::test]
async fn a_bad_review_list_query_is_refused() {
    let app = TestApp::spawn().await;

    for query in ["limit=0", "limit=101", "limit=x", "property_id=not-a-uuid", "author_id=1"] {
        assert_problem(app.get(&format!("/reviews?{query}"), None).await, 400).await;
    }
    for cursor in ["garbage".to_owned(), URL_SAFE_NO_PAD.encode(r#"{"by":"newest"}"#)] {
        let problem = assert_problem(app.get(&format!("/reviews?cursor={cursor}"), None).await, 422).await;
        assert_eq!(error_fields(&problem), ["cursor"]);
    }
}

#[tokio::test]
async fn a_forged_review_cursor_is_a_client_error() {
    let app = TestApp::spawn().await;

    let forged = json!(["-200000-01-01T00:00:00Z", uuid::Uuid::new_v4()]);
    let response = app.get(&format!("/reviews?cursor={}", URL_SAFE_NO_PAD.encode(forged.to_string())), None).await;

    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "answered {status}: {}", response.text().await.unwrap());
}
