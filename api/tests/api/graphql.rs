//! `/graphql`: the committed schema, the same data and access decisions as
//! REST for every caller, validation, and the limits on abusive queries.

use chrono::DateTime;
use reqwest::{Method, header};
use serde_json::{Map, Value, json};
use testkit::TestApp;

use crate::{
    fixtures::{book, create_property, day, ended_stay, id, set_status},
    helpers::{Account, assert_json, assert_problem, assert_unauthorized, send_raw, sign_up},
};

const PROPERTY: &str = "fragment P on Property { id hostId name description address city country latitude longitude \
    pricePerNight cleaningFee currency maxGuests bedrooms bathrooms amenities photos cancellationPolicy \
    ratingAverage reviewCount active createdAt updatedAt }";
const BOOKING: &str = "fragment B on Booking { id propertyId guestId hostId checkIn checkOut guests nights \
    nightlyPrice nightlySubtotal cleaningFee serviceFee totalPrice currency status cancellationPolicy expiresAt \
    cancelledAt cancelledBy refundAmount createdAt updatedAt }";
const PAYMENT: &str = "fragment Y on Payment { id bookingId amount currency status refundedAmount paymentMethod \
    providerReference failureReason createdAt updatedAt }";
const REVIEW: &str = "fragment R on Review { id propertyId bookingId authorId rating comment createdAt updatedAt }";
const USER: &str = "fragment U on User { id email firstName lastName phoneNumber role createdAt updatedAt }";

/// Runs a query (asserting HTTP 200) and returns the whole response.
async fn graphql(app: &TestApp, query: &str, variables: Value, token: Option<&str>) -> Value {
    let response = app.post("/graphql", &json!({ "query": query, "variables": variables }), token).await;
    assert_json(response, 200).await
}

/// The `code` of each error of a response.
fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("?").to_owned()).collect())
        .unwrap_or_default()
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// One value of each API, compared as data: enums ignore case (`CONFIRMED`
/// and `confirmed`), timestamps compare as instants.
fn same_value(graphql: &Value, rest: &Value) -> bool {
    match (graphql, rest) {
        (Value::String(g), Value::String(r)) => {
            g == r
                || g.eq_ignore_ascii_case(r)
                || matches!((DateTime::parse_from_rfc3339(g), DateTime::parse_from_rfc3339(r)), (Ok(a), Ok(b)) if a == b)
        }
        _ => graphql == rest,
    }
}

/// Asserts a GraphQL object carries every field of the REST body, equal.
fn assert_same_object(graphql: &Value, rest: &Value, what: &str) {
    let graphql: Map<String, Value> =
        graphql.as_object().unwrap_or_else(|| panic!("{what}: not an object: {graphql}")).clone();
    let rest = rest.as_object().unwrap_or_else(|| panic!("{what}: REST gave no object: {rest}"));
    let graphql: Map<String, Value> = graphql.into_iter().map(|(k, v)| (snake_case(&k), v)).collect();
    assert_eq!(graphql.len(), rest.len(), "{what}: fields differ\nGraphQL {graphql:?}\nREST {rest:?}");
    for (field, value) in rest {
        let other = graphql.get(field).unwrap_or_else(|| panic!("{what}: GraphQL lacks `{field}`"));
        assert!(same_value(other, value), "{what}: `{field}` is {other} in GraphQL, {value} in REST");
    }
}

/// What a caller gets: the object, or the status / error code refusing it.
#[derive(Debug, PartialEq)]
enum Outcome {
    Seen(Value),
    Refused(u16),
}

async fn rest_outcome(app: &TestApp, path: &str, caller: Option<&Account>) -> Outcome {
    let response = app.get(path, caller.map(|a| a.access_token.as_str())).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON body");
    if status == 200 { Outcome::Seen(body) } else { Outcome::Refused(status) }
}

async fn graphql_outcome(app: &TestApp, query: &str, field: &str, id: &str, caller: Option<&Account>) -> Outcome {
    let response = graphql(app, query, json!({ "id": id }), caller.map(|a| a.access_token.as_str())).await;
    let data = &response["data"][field];
    if !data.is_null() {
        assert!(response["errors"].is_null(), "data and errors together: {response}");
        return Outcome::Seen(data.clone());
    }
    match error_codes(&response).as_slice() {
        [code] if code == "UNAUTHENTICATED" => Outcome::Refused(401),
        [code] if code == "FORBIDDEN" => Outcome::Refused(403),
        [code] if code == "NOT_FOUND" => Outcome::Refused(404),
        other => panic!("unexpected errors {other:?}: {response}"),
    }
}

#[tokio::test]
async fn the_committed_schema_matches_the_served_one() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/schema.graphql"))
        .expect("openapi/schema.graphql is committed");
    assert!(
        committed == api::graphql::sdl(),
        "openapi/schema.graphql is out of date: run `cargo run -p api -- graphql-schema > openapi/schema.graphql`"
    );
}

#[tokio::test]
async fn graphql_and_rest_show_the_same_data_to_the_same_callers() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "guest").await;
    let admin = sign_up(&app, "admin").await;

    let listed = id(&create_property(&app, &host, json!({})).await);
    let booking = book(&app, &guest, &listed, &day(30), &day(33)).await;
    set_status(&app, &id(&booking), "confirmed").await;
    let payment: String = sqlx::query_scalar("select payment_id::text from payments where booking_id = $1::uuid")
        .bind(id(&booking))
        .fetch_one(&app.db)
        .await
        .expect("the booking's payment");
    let stay = ended_stay(&app, &guest, &listed).await;
    let review = assert_json(
        app.post(
            "/reviews",
            &json!({"booking_id": id(&stay), "rating": 4, "comment": "Good"}),
            Some(&guest.access_token),
        )
        .await,
        201,
    )
    .await;
    // A removed listing the guest once booked: its history stays theirs.
    let removed = id(&create_property(&app, &host, json!({"name": "Old barn"})).await);
    let old = book(&app, &guest, &removed, &day(40), &day(41)).await;
    assert_eq!(app.delete(&format!("/bookings/{}", id(&old)), Some(&guest.access_token)).await.status(), 200);
    assert_eq!(app.delete(&format!("/properties/{removed}"), Some(&host.access_token)).await.status(), 204);

    let cases: [(&str, String, String, &str); 6] = [
        (
            "property",
            format!("/properties/{listed}"),
            format!("query($id: UUID!) {{ property(id: $id) {{ ...P }} }} {PROPERTY}"),
            listed.as_str(),
        ),
        (
            "property",
            format!("/properties/{removed}"),
            format!("query($id: UUID!) {{ property(id: $id) {{ ...P }} }} {PROPERTY}"),
            removed.as_str(),
        ),
        (
            "booking",
            format!("/bookings/{}", id(&booking)),
            format!("query($id: UUID!) {{ booking(id: $id) {{ ...B }} }} {BOOKING}"),
            booking["id"].as_str().unwrap(),
        ),
        (
            "payment",
            format!("/payments/{payment}"),
            format!("query($id: UUID!) {{ payment(id: $id) {{ ...Y }} }} {PAYMENT}"),
            payment.as_str(),
        ),
        (
            "review",
            format!("/reviews/{}", id(&review)),
            format!("query($id: UUID!) {{ review(id: $id) {{ ...R }} }} {REVIEW}"),
            review["id"].as_str().unwrap(),
        ),
        ("me", "/users/me".to_owned(), format!("query {{ me {{ ...U }} }} {USER}"), ""),
    ];
    let callers: [(&str, Option<&Account>); 5] = [
        ("anonymous", None),
        ("guest", Some(&guest)),
        ("host", Some(&host)),
        ("other", Some(&other)),
        ("admin", Some(&admin)),
    ];
    let mut seen = 0;
    for (field, path, query, object_id) in &cases {
        for (who, caller) in callers {
            let rest = rest_outcome(&app, path, caller).await;
            let graphql = graphql_outcome(&app, query, field, object_id, caller).await;
            let what = format!("{path} as {who}");
            match (&graphql, &rest) {
                (Outcome::Seen(g), Outcome::Seen(r)) => {
                    assert_same_object(g, r, &what);
                    seen += 1;
                }
                (g, r) => assert_eq!(g, r, "{what}: GraphQL and REST decide differently"),
            }
        }
    }
    // Listed property and review: all 5 callers; removed property, booking
    // and payment: guest, host and admin; `me`: the 4 signed-in callers.
    assert_eq!(seen, 5 + 3 + 3 + 3 + 5 + 4, "objects seen across the matrix");
    assert_eq!(graphql_outcome(&app, &cases[2].2, "booking", cases[2].3, Some(&other)).await, Outcome::Refused(404));
    assert_eq!(graphql_outcome(&app, &cases[2].2, "booking", cases[2].3, None).await, Outcome::Refused(401));

    // Lists: the caller's bookings, as `GET /bookings` lists them.
    for (who, caller) in [("guest", &guest), ("host", &host), ("admin", &admin), ("other", &other)] {
        let rest = assert_json(app.get("/bookings?limit=100", Some(&caller.access_token)).await, 200).await;
        let rest_ids: Vec<&str> = rest["items"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
        let response = graphql(
            &app,
            "{ me { bookings(first: 100) { nodes { id property { id } payment { id status } } } } }",
            json!({}),
            Some(&caller.access_token),
        )
        .await;
        let nodes = response["data"]["me"]["bookings"]["nodes"].as_array().unwrap_or_else(|| panic!("{response}"));
        let ids: Vec<&str> = nodes.iter().map(|b| b["id"].as_str().unwrap()).collect();
        assert_eq!(ids, rest_ids, "bookings of {who}");
        for node in nodes {
            let rest_booking = rest["items"].as_array().unwrap().iter().find(|b| b["id"] == node["id"]).unwrap();
            assert_eq!(node["property"]["id"], rest_booking["property_id"], "property of a booking of {who}");
        }
    }
    let response = graphql(&app, "{ me { bookings { nodes { id } } } }", json!({}), None).await;
    assert_eq!(error_codes(&response), ["UNAUTHENTICATED"]);
    // The confirmed booking's payment, through the booking.
    let response = graphql(
        &app,
        "query($id: UUID!) { booking(id: $id) { payment { id status } } }",
        json!({ "id": id(&booking) }),
        Some(&guest.access_token),
    )
    .await;
    assert_eq!(response["data"]["booking"]["payment"], json!({ "id": payment, "status": "SUCCEEDED" }));
}

#[tokio::test]
async fn searches_page_like_rest_with_the_same_filters() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    for (i, city) in ["Porto", "Porto", "Porto", "Porto", "Faro"].iter().enumerate() {
        create_property(&app, &host, json!({"city": city, "price_per_night": 5_000 + i as i64 * 1_000})).await;
    }
    let porto: Vec<Value> = {
        let page = assert_json(app.get("/properties?city=porto&sort=price_asc&limit=10", None).await, 200).await;
        page["items"].as_array().unwrap().clone()
    };
    // A booking takes the cheapest out of an availability search.
    book(&app, &guest, &id(&porto[0]), &day(50), &day(52)).await;

    let query = "query($after: String) { properties(filter: {city: \"porto\", checkIn: \"CI\", checkOut: \"CO\", \
                 minPrice: 5000}, sort: PRICE_ASC, first: 2, after: $after) { \
                 pageInfo { hasNextPage endCursor } nodes { id pricePerNight } } }"
        .replace("CI", &day(51))
        .replace("CO", &day(53));
    let rest_path = format!(
        "/properties?city=porto&check_in={}&check_out={}&min_price=5000&sort=price_asc&limit=2",
        day(51),
        day(53)
    );
    let mut after = Value::Null;
    let mut rest_cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let response = graphql(&app, &query, json!({ "after": after }), None).await;
        let connection = &response["data"]["properties"];
        let path = match &rest_cursor {
            Some(cursor) => format!("{rest_path}&cursor={cursor}"),
            None => rest_path.clone(),
        };
        let rest = assert_json(app.get(&path, None).await, 200).await;
        let graphql_ids: Vec<&Value> = connection["nodes"].as_array().unwrap().iter().map(|n| &n["id"]).collect();
        let rest_ids: Vec<&Value> = rest["items"].as_array().unwrap().iter().map(|n| &n["id"]).collect();
        assert_eq!(graphql_ids, rest_ids, "page {pages}");
        assert_eq!(connection["pageInfo"]["hasNextPage"].as_bool().unwrap(), !rest["next_cursor"].is_null());
        pages += 1;
        if rest["next_cursor"].is_null() {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
        rest_cursor = rest["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 2, "three free Porto listings in pages of two");

    // The calendar of the booked listing.
    let response = graphql(
        &app,
        "query($id: UUID!, $from: Date!, $to: Date!) { property(id: $id) { availability(from: $from, to: $to) { checkIn checkOut } } }",
        json!({ "id": id(&porto[0]), "from": day(1), "to": day(100) }),
        None,
    )
    .await;
    assert_eq!(response["data"]["property"]["availability"], json!([{ "checkIn": day(50), "checkOut": day(52) }]));
}

#[tokio::test]
async fn bad_input_is_a_graphql_error_naming_the_field() {
    let app = TestApp::spawn().await;
    let response = graphql(
        &app,
        "{ properties(filter: {minPrice: 500, maxPrice: 100}, first: 500) { nodes { id } } }",
        json!({}),
        None,
    )
    .await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"]);
    let fields: Vec<&str> = response["errors"][0]["extensions"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["limit", "max_price"]);
    assert_eq!(response["errors"][0]["extensions"]["status"], 422);

    let response = graphql(&app, "{ properties(after: \"not-a-cursor\") { nodes { id } } }", json!({}), None).await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"]);
    let response = graphql(&app, "{ property(id: \"nope\") { id } }", json!({}), None).await;
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("UUID"), "{response}");
    let response = graphql(&app, "{ nosuchfield }", json!({}), None).await;
    assert!(!response["errors"].as_array().unwrap().is_empty());

    // Not JSON, or not a GraphQL request: the usual problem+json.
    assert_problem(send_raw(&app, Method::POST, "/graphql", Some("application/json"), "{", None).await, 400).await;
    assert_problem(send_raw(&app, Method::POST, "/graphql", Some("text/plain"), "{}", None).await, 415).await;
    // A token that is sent must be valid, as on REST.
    assert_unauthorized(
        send_raw(
            &app,
            Method::POST,
            "/graphql",
            Some("application/json"),
            r#"{"query":"{ me { id } }"}"#,
            Some("junk"),
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn deep_or_expensive_queries_are_refused_before_they_run() {
    let app = TestApp::spawn().await;
    // Introspection is where a schema without cycles can still be nested
    // without end.
    let deep = format!("{{ __schema {{ types {{ {} name {} }} }} }}", "fields { type { ".repeat(8), "} } ".repeat(8));
    let response = graphql(&app, &deep, json!({}), None).await;
    assert_eq!(response["errors"][0]["message"], "Query is nested too deep.", "{response}");
    assert!(response["data"].is_null());

    let expensive = "{ properties(first: 100) { nodes { reviews(first: 100) { nodes { author { firstName } } } } } }";
    let response = graphql(&app, expensive, json!({}), None).await;
    assert_eq!(response["errors"][0]["message"], "Query is too complex.", "{response}");

    // What GraphiQL and code generators ask is within both limits.
    let of_type = format!("{} kind name {}", "ofType { kind name ".repeat(9), "} ".repeat(9));
    let introspection = format!(
        "{{ __schema {{ queryType {{ name }} types {{ kind name fields(includeDeprecated: true) {{ name \
         args {{ name type {{ kind name {of_type} }} }} type {{ kind name {of_type} }} }} }} }} }}"
    );
    let response = graphql(&app, &introspection, json!({}), None).await;
    assert!(response["errors"].is_null(), "{response}");
    // So is a page of listings with their hosts and reviews.
    let fine = "{ properties(first: 50) { nodes { host { firstName } reviews(first: 5) { nodes { author { firstName } } } } } }";
    let response = graphql(&app, fine, json!({}), None).await;
    assert!(response["errors"].is_null(), "{response}");
}

#[tokio::test]
async fn the_playground_is_served_on_get() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/graphql")).send().await.expect("GET /graphql");
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(response.text().await.unwrap().contains("graphiql"));
}

#[tokio::test]
async fn the_common_writes_work_through_graphql_under_the_rest_rules() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = id(&create_property(&app, &host, json!({})).await);
    let create = "mutation($input: CreateBookingInput!) { createBooking(input: $input) { id status totalPrice } }";
    let input = |check_in: i64, guests: i64| json!({ "input": { "propertyId": property, "checkIn": day(check_in), "checkOut": day(check_in + 2), "guests": guests } });

    let response = graphql(&app, create, input(20, 2), None).await;
    assert_eq!(error_codes(&response), ["UNAUTHENTICATED"]);
    let response = graphql(&app, create, input(20, 2), Some(&host.access_token)).await;
    assert_eq!(error_codes(&response), ["FORBIDDEN"], "a host does not book its own listing: {response}");
    let response = graphql(&app, create, input(20, 9), Some(&guest.access_token)).await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "more guests than the listing takes: {response}");

    let response = graphql(&app, create, input(20, 2), Some(&guest.access_token)).await;
    let booking = response["data"]["createBooking"].clone();
    assert_eq!(booking["status"], "PENDING", "{response}");
    let rest = assert_json(app.get(&format!("/bookings/{}", id(&booking)), Some(&guest.access_token)).await, 200).await;
    assert_eq!(rest["total_price"], booking["totalPrice"]);
    // The database refuses the overlap, whichever API asked.
    let response = graphql(&app, create, input(21, 2), Some(&guest.access_token)).await;
    assert_eq!(error_codes(&response), ["CONFLICT"], "{response}");
    assert_eq!(response["errors"][0]["extensions"]["type"], "/problems/dates-unavailable");
    // An availability search sees the hold at once (the cache was told).
    let free = |from: i64| format!("/properties?check_in={}&check_out={}", day(from), day(from + 1));
    let page = assert_json(app.get(&free(20), None).await, 200).await;
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");

    let cancel = "mutation($id: UUID!) { cancelBooking(id: $id) { status } }";
    let response = graphql(&app, cancel, json!({ "id": id(&booking) }), Some(&host.access_token)).await;
    assert_eq!(response["data"]["cancelBooking"]["status"], "CANCELLED", "the host may cancel: {response}");
    let page = assert_json(app.get(&free(20), None).await, 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "the dates are free again: {page}");

    let stay = ended_stay(&app, &guest, &property).await;
    let review =
        "mutation($input: CreateReviewInput!) { createReview(input: $input) { rating comment author { id } } }";
    let body = |rating: i64| json!({ "input": { "bookingId": id(&stay), "rating": rating, "comment": " Lovely " } });
    let response = graphql(&app, review, body(6), Some(&guest.access_token)).await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{response}");
    let response = graphql(&app, review, body(5), Some(&guest.access_token)).await;
    assert_eq!(response["data"]["createReview"]["comment"], "Lovely", "{response}");
    assert_eq!(response["data"]["createReview"]["author"]["id"], guest.id.as_str());
    let response = graphql(&app, review, body(4), Some(&guest.access_token)).await;
    assert_eq!(error_codes(&response), ["CONFLICT"], "one review per booking: {response}");
    let listing = assert_json(app.get(&format!("/properties/{property}"), None).await, 200).await;
    assert_eq!((listing["review_count"].clone(), listing["rating_average"].clone()), (json!(1), json!(5.0)));
}
