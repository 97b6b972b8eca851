//! Listings: who may list, change and remove them, what a client may not set,
//! and bad input that changes nothing.

use serde_json::{Value, json};
use testkit::TestApp;

use crate::{
    fixtures::{book, create_property, day, ended_stay, id, listing},
    helpers::{Account, assert_json, assert_problem, assert_unauthorized, error_fields, sign_up},
};

/// How many listings are stored, removed ones included.
async fn property_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from properties").fetch_one(&app.db).await.expect("count properties")
}

/// `/properties/{id}` of a listing's JSON.
fn path(property: &Value) -> String {
    format!("/properties/{}", id(property))
}

/// The listing as its host reads it now.
async fn read(app: &TestApp, host: &Account, property: &Value) -> Value {
    assert_json(app.get(&path(property), Some(&host.access_token)).await, 200).await
}

/// The ids of the listings a public search for `query` returns.
async fn search_ids(app: &TestApp, query: &str) -> Vec<String> {
    let page = assert_json(app.get(&format!("/properties?limit=100&{query}"), None).await, 200).await;
    page["items"].as_array().expect("items").iter().map(id).collect()
}

/// A listing body without `field`.
fn listing_without(field: &str) -> Value {
    let mut body = listing(json!({}));
    body.as_object_mut().expect("an object").remove(field);
    body
}

#[tokio::test]
async fn a_host_lists_a_property_and_gets_it_back_with_its_location() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let body = listing(json!({
        "amenities": ["WiFi", " wifi ", "Pool", "POOL", "kitchen"],
        "latitude": 38.7223,
        "longitude": -9.1393,
        "cancellation_policy": "strict"
    }));

    let response = app.post("/properties", &body, Some(&host.access_token)).await;

    let location = response.headers().get("location").map(|v| v.to_str().expect("ASCII").to_owned());
    let property = assert_json(response, 201).await;
    assert_eq!(location, Some(path(&property)));
    assert_eq!(property["host_id"], json!(host.id));
    assert_eq!(property["amenities"], json!(["kitchen", "pool", "wifi"]), "amenities are lower-cased and deduplicated");
    assert_eq!(property["rating_average"], Value::Null);
    assert_eq!(property["review_count"], 0);
    assert_eq!(property["active"], true);
    for field in ["name", "description", "address", "city", "country", "price_per_night", "cleaning_fee", "currency"] {
        assert_eq!(property[field], body[field], "{field}");
    }
    for field in ["max_guests", "bedrooms", "bathrooms", "photos", "latitude", "longitude", "cancellation_policy"] {
        assert_eq!(property[field], body[field], "{field}");
    }
    assert!(property["created_at"].is_string() && property["updated_at"].is_string());
    assert_eq!(property_count(&app).await, 1);
}

#[tokio::test]
async fn optional_fields_of_a_new_listing_take_their_defaults() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let mut body = listing(json!({}));
    for optional in
        ["description", "cleaning_fee", "bedrooms", "bathrooms", "amenities", "photos", "cancellation_policy"]
    {
        body.as_object_mut().unwrap().remove(optional);
    }

    let property = assert_json(app.post("/properties", &body, Some(&host.access_token)).await, 201).await;

    assert_eq!(property["description"], "");
    assert_eq!(property["cleaning_fee"], 0);
    assert_eq!((property["bedrooms"].as_i64(), property["bathrooms"].as_i64()), (Some(0), Some(0)));
    assert_eq!((property["amenities"].clone(), property["photos"].clone()), (json!([]), json!([])));
    assert_eq!(property["cancellation_policy"], "moderate");
    assert_eq!((property["latitude"].clone(), property["longitude"].clone()), (Value::Null, Value::Null));
}

#[tokio::test]
async fn an_admin_lists_a_property_as_its_host() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;

    let property = create_property(&app, &admin, json!({})).await;

    assert_eq!(property["host_id"], json!(admin.id));
}

#[tokio::test]
async fn a_guest_cannot_list_a_property() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;

    assert_problem(app.post("/properties", &listing(json!({})), Some(&guest.access_token)).await, 403).await;

    assert_eq!(property_count(&app).await, 0);
}

#[tokio::test]
async fn an_anonymous_client_cannot_list_a_property() {
    let app = TestApp::spawn().await;

    assert_unauthorized(app.post("/properties", &listing(json!({})), None).await).await;
    assert_unauthorized(app.post("/properties", &listing(json!({})), Some("not-a-token")).await).await;

    assert_eq!(property_count(&app).await, 0);
}

#[tokio::test]
async fn anyone_reads_a_listing_without_signing_in() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;

    let read = assert_json(app.get(&path(&property), None).await, 200).await;

    assert_eq!(read, property);
    let guest = sign_up(&app, "guest").await;
    assert_eq!(assert_json(app.get(&path(&property), Some(&guest.access_token)).await, 200).await, property);
}

#[tokio::test]
async fn a_client_cannot_set_the_host_the_rating_or_other_server_fields_of_a_new_listing() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let other = sign_up(&app, "host").await;

    for (field, value) in [
        ("host_id", json!(other.id)),
        ("rating_average", json!(5.0)),
        ("review_count", json!(100)),
        ("rating_sum", json!(500)),
        ("id", json!(uuid::Uuid::new_v4())),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2020-01-01T00:00:00Z")),
        ("active", json!(false)),
        ("deleted_at", json!("2020-01-01T00:00:00Z")),
    ] {
        let body = listing(json!({ field: value }));
        assert_problem(app.post("/properties", &body, Some(&host.access_token)).await, 400).await;
    }

    assert_eq!(property_count(&app).await, 0);
}

#[tokio::test]
async fn a_client_cannot_set_the_host_the_rating_or_other_server_fields_of_a_listing_it_changes() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let other = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;

    for (field, value) in [
        ("host_id", json!(other.id)),
        ("rating_average", json!(5.0)),
        ("review_count", json!(100)),
        ("rating_sum", json!(500)),
        ("id", json!(uuid::Uuid::new_v4())),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("active", json!(false)),
    ] {
        let body = json!({ "name": "Renamed", field: value });
        assert_problem(app.put(&path(&property), &body, Some(&host.access_token)).await, 400).await;
    }

    assert_eq!(read(&app, &host, &property).await, property, "a refused change altered the listing");
    let (host_id, sum, count): (uuid::Uuid, i64, i32) =
        sqlx::query_as("select host_id, rating_sum, review_count from properties where property_id = $1::uuid")
            .bind(id(&property))
            .fetch_one(&app.db)
            .await
            .expect("read the listing");
    assert_eq!((host_id.to_string(), sum, count), (host.id.clone(), 0, 0));
}

#[tokio::test]
async fn the_host_changes_some_fields_and_the_others_keep_their_values() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({ "latitude": 38.7, "longitude": -9.1 })).await;

    let changed = assert_json(
        app.put(
            &path(&property),
            &json!({ "price_per_night": 12_345, "amenities": ["Sauna", "sauna ", "WIFI"] }),
            Some(&host.access_token),
        )
        .await,
        200,
    )
    .await;

    assert_eq!(changed["price_per_night"], 12_345);
    assert_eq!(changed["amenities"], json!(["sauna", "wifi"]));
    for field in ["id", "host_id", "name", "description", "address", "city", "country", "latitude", "longitude"] {
        assert_eq!(changed[field], property[field], "{field} changed though it was left out");
    }
    for field in ["cleaning_fee", "currency", "max_guests", "bedrooms", "bathrooms", "photos", "cancellation_policy"] {
        assert_eq!(changed[field], property[field], "{field} changed though it was left out");
    }
    assert_eq!(changed["created_at"], property["created_at"]);
    assert_eq!(read(&app, &host, &property).await, changed, "the change was not stored");

    let cleared =
        assert_json(app.put(&path(&property), &json!({ "latitude": null }), Some(&host.access_token)).await, 200).await;
    assert_eq!(cleared["latitude"], Value::Null, "null clears the latitude");
    assert_eq!(cleared["longitude"], json!(-9.1), "the longitude was left out and stays");
    assert_eq!(cleared["price_per_night"], 12_345);
}

#[tokio::test]
async fn an_empty_change_keeps_every_field() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({ "latitude": 1.5, "longitude": 2.5 })).await;

    let same = assert_json(app.put(&path(&property), &json!({}), Some(&host.access_token)).await, 200).await;

    for field in ["name", "description", "latitude", "longitude", "price_per_night", "amenities", "photos"] {
        assert_eq!(same[field], property[field], "{field}");
    }
}

#[tokio::test]
async fn another_host_or_a_guest_cannot_change_a_listing_but_an_admin_can() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;
    let change = json!({ "name": "Taken over" });

    for intruder in [sign_up(&app, "host").await, sign_up(&app, "guest").await] {
        assert_problem(app.put(&path(&property), &change, Some(&intruder.access_token)).await, 403).await;
    }
    assert_unauthorized(app.put(&path(&property), &change, None).await).await;
    assert_eq!(read(&app, &host, &property).await, property);

    let admin = sign_up(&app, "admin").await;
    let changed = assert_json(app.put(&path(&property), &change, Some(&admin.access_token)).await, 200).await;
    assert_eq!(changed["name"], "Taken over");
    assert_eq!(changed["host_id"], json!(host.id), "an admin's change does not move the listing to the admin");
}

#[tokio::test]
async fn the_host_removes_a_listing_which_leaves_search_and_public_view_but_stays_visible_to_its_parties() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = create_property(&app, &host, json!({})).await;
    let kept = create_property(&app, &host, json!({ "name": "Kept" })).await;
    ended_stay(&app, &guest, &id(&property)).await;

    let response = app.delete(&path(&property), Some(&host.access_token)).await;

    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap_or_default());
    assert_eq!(search_ids(&app, "").await, [id(&kept)], "a removed listing is still searchable");
    assert_eq!(search_ids(&app, &format!("host_id={}", host.id)).await, [id(&kept)]);
    assert_problem(app.get(&path(&property), None).await, 404).await;
    let stranger = sign_up(&app, "guest").await;
    assert_problem(app.get(&path(&property), Some(&stranger.access_token)).await, 404).await;
    let other_host = sign_up(&app, "host").await;
    assert_problem(app.get(&path(&property), Some(&other_host.access_token)).await, 404).await;
    let admin = sign_up(&app, "admin").await;
    for party in [&host, &admin, &guest] {
        let seen = assert_json(app.get(&path(&property), Some(&party.access_token)).await, 200).await;
        assert_eq!(seen["active"], false);
        assert_eq!(seen["name"], property["name"]);
    }
    assert_eq!(property_count(&app).await, 2, "a removed listing keeps its row");
}

#[tokio::test]
async fn a_removed_listing_can_be_neither_changed_nor_removed_again_nor_booked() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = create_property(&app, &host, json!({})).await;
    assert_eq!(app.delete(&path(&property), Some(&host.access_token)).await.status(), 204);

    assert_problem(app.put(&path(&property), &json!({ "name": "Back" }), Some(&host.access_token)).await, 404).await;
    assert_problem(app.delete(&path(&property), Some(&host.access_token)).await, 404).await;
    let booking = json!({ "property_id": id(&property), "check_in": day(10), "check_out": day(12), "guests": 1 });
    assert_problem(app.post("/bookings", &booking, Some(&guest.access_token)).await, 404).await;
    assert_eq!(read(&app, &host, &property).await["name"], property["name"]);
}

#[tokio::test]
async fn a_listing_with_an_upcoming_stay_cannot_be_removed_until_the_stay_is_cancelled() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = create_property(&app, &host, json!({})).await;
    let booking = book(&app, &guest, &id(&property), &day(20), &day(23)).await;

    let problem = assert_problem(app.delete(&path(&property), Some(&host.access_token)).await, 409).await;

    assert_eq!(problem["type"], "/problems/upcoming-stays");
    assert_eq!(search_ids(&app, "").await, [id(&property)], "a refused removal took the listing out of search");
    assert_eq!(assert_json(app.get(&path(&property), None).await, 200).await["active"], true);

    assert_json(app.delete(&format!("/bookings/{}", id(&booking)), Some(&guest.access_token)).await, 200).await;
    assert_eq!(app.delete(&path(&property), Some(&host.access_token)).await.status(), 204);
}

#[tokio::test]
async fn a_listing_with_a_confirmed_stay_under_way_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = create_property(&app, &host, json!({})).await;
    let booking = book(&app, &guest, &id(&property), &day(30), &day(32)).await;
    // A stay that began yesterday and ends tomorrow.
    sqlx::query(
        "update bookings set status = 'confirmed', expires_at = null,
             check_in = current_date - 1, check_out = current_date + 1
         where booking_id = $1::uuid",
    )
    .bind(id(&booking))
    .execute(&app.db)
    .await
    .expect("move the stay");

    let problem = assert_problem(app.delete(&path(&property), Some(&host.access_token)).await, 409).await;

    assert_eq!(problem["type"], "/problems/upcoming-stays");
}

#[tokio::test]
async fn a_lapsed_unpaid_hold_does_not_keep_a_listing_from_being_removed() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = create_property(&app, &host, json!({})).await;
    let booking = book(&app, &guest, &id(&property), &day(20), &day(23)).await;
    sqlx::query("update bookings set expires_at = now() - interval '1 minute' where booking_id = $1::uuid")
        .bind(id(&booking))
        .execute(&app.db)
        .await
        .expect("lapse the hold");
    let shown =
        assert_json(app.get(&format!("/bookings/{}", id(&booking)), Some(&guest.access_token)).await, 200).await;
    assert_eq!(shown["status"], "expired", "the API itself calls the hold expired");

    let response = app.delete(&path(&property), Some(&host.access_token)).await;

    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap_or_default());
}

#[tokio::test]
async fn another_host_or_a_guest_cannot_remove_a_listing_but_an_admin_can() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;

    for intruder in [sign_up(&app, "host").await, sign_up(&app, "guest").await] {
        assert_problem(app.delete(&path(&property), Some(&intruder.access_token)).await, 403).await;
    }
    assert_unauthorized(app.delete(&path(&property), None).await).await;
    assert_eq!(search_ids(&app, "").await, [id(&property)], "a refused removal took the listing out of search");

    let admin = sign_up(&app, "admin").await;
    assert_eq!(app.delete(&path(&property), Some(&admin.access_token)).await.status(), 204);
    assert!(search_ids(&app, "").await.is_empty());
}

#[tokio::test]
async fn a_listing_missing_a_required_field_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;

    for field in ["name", "address", "city", "country", "price_per_night", "currency", "max_guests"] {
        let response = app.post("/properties", &listing_without(field), Some(&host.access_token)).await;
        let problem = assert_problem(response, 400).await;
        assert_eq!(problem["type"], "/problems/malformed-body", "without {field}");
    }

    assert_eq!(property_count(&app).await, 0);
}

/// Values the schema refuses (400) and values that pass it but break a
/// rule (422, naming the field), for both a new listing and a change.
fn bad_values() -> Vec<(&'static str, Value, u16)> {
    vec![
        ("price_per_night", json!(0), 400),
        ("price_per_night", json!(-100), 400),
        ("price_per_night", json!(99.5), 400),
        ("price_per_night", json!("100"), 400),
        ("cleaning_fee", json!(-1), 400),
        ("currency", json!("usd"), 400),
        ("currency", json!("EURO"), 400),
        ("max_guests", json!(0), 400),
        ("max_guests", json!(101), 400),
        ("bedrooms", json!(-1), 400),
        ("latitude", json!(91), 400),
        ("latitude", json!(-90.5), 400),
        ("longitude", json!(180.5), 400),
        ("name", json!("x".repeat(201)), 400),
        ("amenities", json!((0..51).map(|n| format!("amenity {n}")).collect::<Vec<_>>()), 400),
        ("photos", json!((0..51).map(|n| format!("https://example.com/{n}.jpg")).collect::<Vec<_>>()), 400),
        ("cancellation_policy", json!("lenient"), 400),
        ("photos", json!(["ftp://x"]), 422),
        ("photos", json!(["https://example.com/a.jpg", "javascript:alert(1)"]), 422),
        ("photos", json!(["https://exa mple.com/a.jpg"]), 422),
        ("amenities", json!(["wifi", "   "]), 422),
        ("amenities", json!(["x".repeat(51)]), 422),
        ("name", json!("   "), 422),
        ("name", json!("bad\u{0}name"), 422),
        ("city", json!(" \t "), 422),
        ("country", json!(" P "), 422),
    ]
}

#[tokio::test]
async fn a_new_listing_with_a_bad_value_is_refused_and_not_stored() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;

    for (field, value, status) in bad_values() {
        let body = listing(json!({ field: value.clone() }));
        let problem = assert_problem(app.post("/properties", &body, Some(&host.access_token)).await, status).await;
        if status == 422 {
            assert_eq!(problem["type"], "/problems/validation-error");
            assert_eq!(error_fields(&problem), [field], "for {field} = {value}");
        }
    }

    assert_eq!(property_count(&app).await, 0);
}

#[tokio::test]
async fn a_change_with_a_bad_value_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({ "latitude": 10.0 })).await;

    for (field, value, status) in bad_values() {
        // A valid change rides along: it must not be applied either.
        let body = json!({ "name": "Changed", "price_per_night": 1, field: value.clone() });
        let body = if field == "name" || field == "price_per_night" { json!({ field: value.clone() }) } else { body };
        let response = app.put(&path(&property), &body, Some(&host.access_token)).await;
        let problem = assert_problem(response, status).await;
        if status == 422 {
            assert_eq!(error_fields(&problem), [field], "for {field} = {value}");
        }
    }

    assert_eq!(read(&app, &host, &property).await, property, "a refused change altered the listing");
}

#[tokio::test]
async fn null_for_a_required_field_never_empties_it() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = create_property(&app, &host, json!({})).await;

    for field in ["name", "price_per_night", "currency", "max_guests", "amenities"] {
        let response = app.put(&path(&property), &json!({ field: null }), Some(&host.access_token)).await;
        let status = response.status().as_u16();
        assert!(status == 400 || status == 200, "null {field}: {status}");
        assert_eq!(read(&app, &host, &property).await[field], property[field], "null {field} changed the listing");
    }
}

#[tokio::test]
async fn every_invalid_field_of_a_new_listing_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let body = listing(json!({ "name": "  ", "photos": ["ftp://x"], "amenities": [""] }));

    let problem = assert_problem(app.post("/properties", &body, Some(&host.access_token)).await, 422).await;

    let mut fields = error_fields(&problem);
    fields.sort_unstable();
    assert_eq!(fields, ["amenities", "name", "photos"]);
}

#[tokio::test]
async fn an_unknown_listing_is_not_found() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let admin = sign_up(&app, "admin").await;
    let unknown = format!("/properties/{}", uuid::Uuid::new_v4());

    assert_problem(app.get(&unknown, None).await, 404).await;
    assert_problem(app.get(&unknown, Some(&admin.access_token)).await, 404).await;
    assert_problem(app.put(&unknown, &json!({ "name": "x" }), Some(&host.access_token)).await, 404).await;
    assert_problem(app.put(&unknown, &json!({ "name": "x" }), Some(&admin.access_token)).await, 404).await;
    assert_problem(app.delete(&unknown, Some(&admin.access_token)).await, 404).await;
}

#[tokio::test]
async fn a_malformed_listing_id_is_not_found() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;

    for bad in ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"] {
        let path = format!("/properties/{bad}");
        assert_problem(app.get(&path, None).await, 404).await;
        assert_problem(app.put(&path, &json!({ "name": "x" }), Some(&host.access_token)).await, 404).await;
        assert_problem(app.delete(&path, Some(&host.access_token)).await, 404).await;
    }
}
