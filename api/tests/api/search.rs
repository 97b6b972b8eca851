//! Search: each filter, availability over half-open stays, each sort, and
//! keyset pagination that stays whole while listings are added.

use std::collections::HashSet;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use testkit::TestApp;

use crate::{
    fixtures::{book, create_property, day, id, set_status},
    helpers::{Account, assert_json, assert_problem, error_fields, sign_up},
};

/// One public search page.
async fn page(app: &TestApp, query: &str) -> Value {
    assert_json(app.get(&format!("/properties?{query}"), None).await, 200).await
}

/// The names of the listings a public search returns, in its order.
async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let page = page(app, &format!("limit=100&{query}")).await;
    page["items"].as_array().expect("items").iter().map(|p| p["name"].as_str().expect("name").to_owned()).collect()
}

/// The names a search returns, sorted (for filters, whose order is not the point).
async fn name_set(app: &TestApp, query: &str) -> Vec<String> {
    let mut names = names(app, query).await;
    names.sort();
    names
}

/// The ids of the listings a public search returns, in its order.
async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    page(app, &format!("limit=100&{query}")).await["items"].as_array().expect("items").iter().map(id).collect()
}

/// Follows `next_cursor` from the first page of `query` with pages of
/// `limit`; returns the ids in order and the number of pages.
async fn walk(app: &TestApp, query: &str, limit: usize) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..=50 {
        let url = match &cursor {
            None => format!("{query}&limit={limit}"),
            Some(cursor) => format!("{query}&limit={limit}&cursor={cursor}"),
        };
        let body = page(app, &url).await;
        let items = body["items"].as_array().expect("items");
        assert!(items.len() <= limit, "a page is longer than its limit: {body}");
        seen.extend(items.iter().map(id));
        match body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "a page before the last is short: {body}");
                cursor = Some(next.to_owned());
            }
            None => return (seen, pages),
        }
    }
    panic!("pagination of {query} does not end");
}

fn strings(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

/// Five listings by two hosts that differ in every filtered field.
async fn catalogue(app: &TestApp) -> (Account, Account) {
    let host = sign_up(app, "host").await;
    let other = sign_up(app, "host").await;
    let listings = [
        (
            &host,
            json!({ "name": "Lisbon loft", "description": "A loft near the river", "city": "Lisbon",
            "country": "Portugal", "price_per_night": 8_000, "max_guests": 2, "amenities": ["wifi", "kitchen"] }),
        ),
        (
            &host,
            json!({ "name": "Porto house", "description": "A house by the beach with a garden", "city": "Porto",
            "country": "Portugal", "price_per_night": 15_000, "max_guests": 6, "amenities": ["wifi", "pool", "kitchen"] }),
        ),
        (
            &host,
            json!({ "name": "Madrid flat", "description": "Central and bright", "city": "Madrid",
            "country": "Spain", "price_per_night": 12_000, "max_guests": 4, "amenities": ["WiFi", "Pool"] }),
        ),
        (
            &other,
            json!({ "name": "Seville villa", "description": "Quiet rooms, walk to two beaches", "city": "Seville",
            "country": "spain", "price_per_night": 30_000, "max_guests": 10, "amenities": ["pool", "parking"] }),
        ),
        (
            &other,
            json!({ "name": "Lisbon studio", "description": "Small and cosy", "city": "lisbon",
            "country": "Portugal", "price_per_night": 5_000, "max_guests": 1, "amenities": [] }),
        ),
    ];
    for (owner, overrides) in listings {
        create_property(app, owner, overrides).await;
    }
    (host, other)
}

#[tokio::test]
async fn the_city_filter_ignores_case_and_returns_exactly_that_city() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    assert_eq!(name_set(&app, "city=LISBON").await, strings(&["Lisbon loft", "Lisbon studio"]));
    assert_eq!(name_set(&app, "city=lisbon").await, strings(&["Lisbon loft", "Lisbon studio"]));
    assert_eq!(name_set(&app, "city=Madrid").await, strings(&["Madrid flat"]));
    assert_eq!(name_set(&app, "city=Lisb").await, strings(&[]), "a city matches whole, not as a prefix");
    assert_eq!(name_set(&app, "city=Berlin").await, strings(&[]));
}

#[tokio::test]
async fn the_country_filter_ignores_case_and_returns_exactly_that_country() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    assert_eq!(name_set(&app, "country=Spain").await, strings(&["Madrid flat", "Seville villa"]));
    assert_eq!(name_set(&app, "country=portugal").await, strings(&["Lisbon loft", "Lisbon studio", "Porto house"]));
}

#[tokio::test]
async fn price_bounds_are_inclusive_and_filter_alone_or_together() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    assert_eq!(name_set(&app, "min_price=12000").await, strings(&["Madrid flat", "Porto house", "Seville villa"]));
    assert_eq!(name_set(&app, "max_price=12000").await, strings(&["Lisbon loft", "Lisbon studio", "Madrid flat"]));
    assert_eq!(
        name_set(&app, "min_price=8000&max_price=15000").await,
        strings(&["Lisbon loft", "Madrid flat", "Porto house"])
    );
    assert_eq!(name_set(&app, "min_price=12000&max_price=12000").await, strings(&["Madrid flat"]));
    assert_eq!(name_set(&app, "min_price=30001").await, strings(&[]));
    assert_eq!(name_set(&app, "max_price=0").await, strings(&[]));
}

#[tokio::test]
async fn the_guests_filter_keeps_listings_that_take_at_least_that_many() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    assert_eq!(name_set(&app, "guests=4").await, strings(&["Madrid flat", "Porto house", "Seville villa"]));
    assert_eq!(name_set(&app, "guests=6").await, strings(&["Porto house", "Seville villa"]));
    assert_eq!(name_set(&app, "guests=1").await.len(), 5);
    assert_eq!(name_set(&app, "guests=11").await, strings(&[]));
}

#[tokio::test]
async fn the_amenities_filter_keeps_listings_with_every_one_of_them_whatever_their_case() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    assert_eq!(name_set(&app, "amenities=pool").await, strings(&["Madrid flat", "Porto house", "Seville villa"]));
    assert_eq!(name_set(&app, "amenities=wifi&amenities=pool").await, strings(&["Madrid flat", "Porto house"]));
    assert_eq!(name_set(&app, "amenities=WIFI&amenities=%20Pool%20").await, strings(&["Madrid flat", "Porto house"]));
    assert_eq!(name_set(&app, "amenities=wifi&amenities=pool&amenities=kitchen").await, strings(&["Porto house"]));
    assert_eq!(name_set(&app, "amenities=pool&amenities=sauna").await, strings(&[]));
}

#[tokio::test]
async fn free_text_searches_names_and_descriptions_with_english_stemming() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    assert_eq!(name_set(&app, "q=beaches").await, strings(&["Porto house", "Seville villa"]), "beaches ~ beach");
    assert_eq!(name_set(&app, "q=beach").await, strings(&["Porto house", "Seville villa"]));
    assert_eq!(name_set(&app, "q=villa").await, strings(&["Seville villa"]), "the name is searched");
    assert_eq!(name_set(&app, "q=lofts").await, strings(&["Lisbon loft"]));
    assert_eq!(name_set(&app, "q=beach%20-garden").await, strings(&["Seville villa"]), "web search syntax");
    assert_eq!(name_set(&app, "q=castle").await, strings(&[]));
}

#[tokio::test]
async fn the_host_filter_returns_exactly_that_hosts_listings() {
    let app = TestApp::spawn().await;
    let (host, other) = catalogue(&app).await;

    assert_eq!(
        name_set(&app, &format!("host_id={}", host.id)).await,
        strings(&["Lisbon loft", "Madrid flat", "Porto house"])
    );
    assert_eq!(name_set(&app, &format!("host_id={}", other.id)).await, strings(&["Lisbon studio", "Seville villa"]));
    assert_eq!(name_set(&app, &format!("host_id={}", uuid::Uuid::new_v4())).await, strings(&[]));
}

#[tokio::test]
async fn filters_combine() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    assert_eq!(name_set(&app, "country=portugal&amenities=wifi&guests=3").await, strings(&["Porto house"]));
    assert_eq!(name_set(&app, "country=spain&max_price=20000&q=bright").await, strings(&["Madrid flat"]));
    assert_eq!(name_set(&app, "city=lisbon&min_price=6000").await, strings(&["Lisbon loft"]));
}

/// Three listings, A booked for [d10, d13) and B for [d12, d15) (pending
/// holds), C free. Returns the host, the guest, the bookings of A and B.
async fn booked_trio(app: &TestApp) -> (Account, Value, Value) {
    let host = sign_up(app, "host").await;
    let guest = sign_up(app, "guest").await;
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        ids.push(id(&create_property(app, &host, json!({ "name": name })).await));
    }
    let a = book(app, &guest, &ids[0], &day(10), &day(13)).await;
    let b = book(app, &guest, &ids[1], &day(12), &day(15)).await;
    (guest, a, b)
}

fn dates(check_in: i64, check_out: i64) -> String {
    format!("check_in={}&check_out={}", day(check_in), day(check_out))
}

#[tokio::test]
async fn availability_keeps_listings_free_for_every_night_of_half_open_stays() {
    let app = TestApp::spawn().await;
    booked_trio(&app).await;

    assert_eq!(name_set(&app, &dates(13, 14)).await, ["A", "C"], "A's check-out day is free");
    assert_eq!(name_set(&app, &dates(11, 12)).await, ["B", "C"], "B's stay begins on the night of d12");
    assert_eq!(name_set(&app, &dates(12, 13)).await, ["C"]);
    assert_eq!(name_set(&app, &dates(9, 16)).await, ["C"], "a range covering both stays");
    assert_eq!(name_set(&app, &dates(11, 14)).await, ["C"]);
    assert_eq!(name_set(&app, &dates(9, 10)).await, ["A", "B", "C"], "the night before A's check-in");
    assert_eq!(name_set(&app, &dates(15, 16)).await, ["A", "B", "C"]);
    assert_eq!(name_set(&app, "").await, ["A", "B", "C"], "without dates nothing is filtered out");
}

#[tokio::test]
async fn a_confirmed_stay_blocks_its_dates_and_a_cancelled_one_frees_them() {
    let app = TestApp::spawn().await;
    let (guest, a, b) = booked_trio(&app).await;
    set_status(&app, &id(&b), "confirmed").await;

    assert_eq!(name_set(&app, &dates(13, 14)).await, ["A", "C"], "a confirmed stay holds its dates");

    let cancelled =
        assert_json(app.delete(&format!("/bookings/{}", id(&a)), Some(&guest.access_token)).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(name_set(&app, &dates(11, 12)).await, ["A", "B", "C"], "a cancelled booking still blocks A");
    assert_eq!(name_set(&app, &dates(12, 13)).await, ["A", "C"]);
}

#[tokio::test]
async fn an_unpaid_hold_past_its_expiry_no_longer_blocks_its_dates() {
    let app = TestApp::spawn().await;
    let (_, a, b) = booked_trio(&app).await;

    sqlx::query("update bookings set expires_at = now() - interval '1 minute' where booking_id = $1::uuid")
        .bind(id(&b))
        .execute(&app.db)
        .await
        .expect("lapse the hold");

    assert_eq!(name_set(&app, &dates(13, 14)).await, ["A", "B", "C"], "the lapsed hold of B still blocks it");
    assert_eq!(name_set(&app, &dates(12, 13)).await, ["B", "C"], "A's live hold must still block");
    sqlx::query("update bookings set expires_at = now() + interval '1 minute' where booking_id = $1::uuid")
        .bind(id(&a))
        .execute(&app.db)
        .await
        .expect("shorten the hold");
    assert_eq!(name_set(&app, &dates(12, 13)).await, ["B", "C"], "a hold about to lapse still blocks");
}

/// Seven listings with repeated prices, created one after the other; their
/// ids in creation order.
async fn seven(app: &TestApp, host: &Account) -> Vec<(String, i64)> {
    let mut listings = Vec::new();
    for (n, price) in [9_000, 7_000, 5_000, 7_000, 12_000, 9_000, 7_000].into_iter().enumerate() {
        let property =
            create_property(app, host, json!({ "name": format!("Listing {n}"), "price_per_night": price })).await;
        listings.push((id(&property), price));
    }
    listings
}

fn by_price_asc(listings: &[(String, i64)]) -> Vec<String> {
    let mut sorted = listings.to_vec();
    sorted.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    sorted.into_iter().map(|(id, _)| id).collect()
}

fn newest_first(listings: &[(String, i64)]) -> Vec<String> {
    listings.iter().rev().map(|(id, _)| id.clone()).collect()
}

#[tokio::test]
async fn price_sorts_order_by_price_then_id_both_ways() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let listings = seven(&app, &host).await;
    let ascending = by_price_asc(&listings);
    let mut descending = ascending.clone();
    descending.reverse();

    assert_eq!(ids(&app, "sort=price_asc").await, ascending);
    assert_eq!(ids(&app, "sort=price_desc").await, descending);
}

#[tokio::test]
async fn newest_is_the_default_order() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let listings = seven(&app, &host).await;

    assert_eq!(ids(&app, "sort=newest").await, newest_first(&listings));
    assert_eq!(ids(&app, "").await, newest_first(&listings));
}

/// Sets the review aggregate of a listing directly.
async fn rate(app: &TestApp, property_id: &str, sum: i64, count: i32) {
    sqlx::query("update properties set rating_sum = $2, review_count = $3 where property_id = $1::uuid")
        .bind(property_id)
        .bind(sum)
        .bind(count)
        .execute(&app.db)
        .await
        .expect("set the rating");
}

/// The seven listings rated 4.5, 4.5, 3, 5, none, none, 2.33; their ids
/// best first, ties by id descending, unrated last.
async fn rated(app: &TestApp, listings: &[(String, i64)]) -> Vec<String> {
    let ratings = [(9, 2, 450), (9, 2, 450), (3, 1, 300), (5, 1, 500), (0, 0, 0), (0, 0, 0), (7, 3, 233)];
    let mut keyed = Vec::new();
    for ((id, _), (sum, count, hundredths)) in listings.iter().zip(ratings) {
        rate(app, id, sum, count).await;
        keyed.push((hundredths, id.clone()));
    }
    keyed.sort_by(|a, b| b.cmp(a));
    keyed.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn the_rating_sort_puts_the_best_first_and_the_unrated_last() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let listings = seven(&app, &host).await;
    let expected = rated(&app, &listings).await;

    let page = page(&app, "sort=rating&limit=100").await;

    let items = page["items"].as_array().unwrap();
    assert_eq!(items.iter().map(id).collect::<Vec<_>>(), expected);
    let averages: Vec<Value> = items.iter().map(|p| p["rating_average"].clone()).collect();
    assert_eq!(averages, [json!(5.0), json!(4.5), json!(4.5), json!(3.0), json!(2.33), Value::Null, Value::Null]);
}

#[tokio::test]
async fn following_the_cursor_visits_every_listing_once_in_order_for_each_sort() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let listings = seven(&app, &host).await;
    let ascending = by_price_asc(&listings);
    let mut descending = ascending.clone();
    descending.reverse();
    let by_rating = rated(&app, &listings).await;

    for (sort, expected) in [
        ("price_asc", ascending),
        ("price_desc", descending),
        ("newest", newest_first(&listings)),
        ("rating", by_rating),
    ] {
        let (seen, pages) = walk(&app, &format!("sort={sort}"), 3).await;
        assert_eq!(seen, expected, "sort={sort}");
        assert_eq!(pages, 3, "sort={sort}");
        for limit in [1, 2, 6, 7] {
            assert_eq!(walk(&app, &format!("sort={sort}"), limit).await.0, expected, "sort={sort}, limit={limit}");
        }
    }
}

#[tokio::test]
async fn a_page_that_ends_the_results_has_no_next_cursor() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    seven(&app, &host).await;

    let all = page(&app, "limit=7").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 7);
    assert!(all["next_cursor"].is_null(), "a full last page promises more: {all}");
    assert_eq!(page(&app, "limit=20").await["items"].as_array().unwrap().len(), 7, "the default limit is 20");
    assert!(page(&app, "city=Nowhere").await["next_cursor"].is_null());
}

#[tokio::test]
async fn pagination_keeps_its_filters() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let listings = seven(&app, &host).await;
    let cheap: Vec<String> =
        by_price_asc(&listings).into_iter().filter(|id| listings.iter().any(|(l, p)| l == id && *p <= 9_000)).collect();

    let (seen, _) = walk(&app, "sort=price_asc&max_price=9000", 2).await;

    assert_eq!(seen, cheap);
}

#[tokio::test]
async fn listings_added_while_paging_newest_first_are_never_seen_twice_nor_hide_older_ones() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let listings = seven(&app, &host).await;
    let first = page(&app, "sort=newest&limit=3").await;
    let mut seen: Vec<String> = first["items"].as_array().unwrap().iter().map(id).collect();
    let mut cursor = first["next_cursor"].as_str().expect("a next page").to_owned();

    for n in 0..3 {
        create_property(&app, &host, json!({ "name": format!("New {n}") })).await;
    }
    loop {
        let next = page(&app, &format!("sort=newest&limit=3&cursor={cursor}")).await;
        seen.extend(next["items"].as_array().unwrap().iter().map(id));
        match next["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a listing was seen twice: {seen:?}");
    assert_eq!(seen, newest_first(&listings), "the pages skipped or reordered older listings");
}

#[tokio::test]
async fn listings_added_while_paging_by_price_are_never_seen_twice_nor_hide_older_ones() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let mut listings = Vec::new();
    for price in [1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000] {
        let property = create_property(&app, &host, json!({ "price_per_night": price })).await;
        listings.push((id(&property), price));
    }
    let first = page(&app, "sort=price_asc&limit=3").await;
    let mut seen: Vec<String> = first["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(seen, by_price_asc(&listings)[..3]);
    let mut cursor = first["next_cursor"].as_str().expect("a next page").to_owned();

    // Below the cursor, on it (a tie), between pages and at the end.
    let mut added = Vec::new();
    for price in [500, 3_000, 4_500, 9_000] {
        let property = create_property(&app, &host, json!({ "price_per_night": price })).await;
        added.push((id(&property), price));
    }
    loop {
        let next = page(&app, &format!("sort=price_asc&limit=3&cursor={cursor}")).await;
        seen.extend(next["items"].as_array().unwrap().iter().map(id));
        match next["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a listing was seen twice: {seen:?}");
    for (listing, price) in &listings {
        assert!(seen.contains(listing), "the listing at {price} was skipped");
    }
    let all: Vec<(String, i64)> = listings.iter().chain(&added).cloned().collect();
    let price_of = |id: &String| all.iter().find(|(l, _)| l == id).map(|(_, p)| *p).expect("a known listing");
    let keys: Vec<(i64, &String)> = seen.iter().map(|id| (price_of(id), id)).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "the pages are not in price order: {keys:?}");
    assert!(!seen.contains(&added[0].0), "a listing cheaper than the cursor cannot appear after it");
    assert!(seen.contains(&added[2].0) && seen.contains(&added[3].0), "listings after the cursor are found");
}

#[tokio::test]
async fn a_cursor_of_another_sort_is_unprocessable() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    seven(&app, &host).await;
    let cursor = |sort: &'static str| {
        let app = &app;
        async move { page(app, &format!("sort={sort}&limit=2")).await["next_cursor"].as_str().expect("a cursor").to_owned() }
    };

    for (from, to) in
        [("price_asc", "newest"), ("newest", "price_desc"), ("price_desc", "price_asc"), ("newest", "rating")]
    {
        let path = format!("/properties?sort={to}&limit=2&cursor={}", cursor(from).await);
        let problem = assert_problem(app.get(&path, None).await, 422).await;
        assert_eq!(error_fields(&problem), ["cursor"], "a {from} cursor with sort={to}");
    }
    let path = format!("/properties?limit=2&cursor={}", cursor("rating").await);
    assert_eq!(error_fields(&assert_problem(app.get(&path, None).await, 422).await), ["cursor"], "default sort");
}

#[tokio::test]
async fn a_garbage_cursor_is_refused() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    seven(&app, &host).await;
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    let wrong_shape = URL_SAFE_NO_PAD.encode(r#"{"by":"newest","created_at":"yesterday","id":"x"}"#);

    for garbage in ["garbage", "%25%25%25", "eyJ", not_json.as_str(), wrong_shape.as_str()] {
        let problem = assert_problem(app.get(&format!("/properties?cursor={garbage}"), None).await, 422).await;
        assert_eq!(error_fields(&problem), ["cursor"], "cursor {garbage}");
    }
    assert_problem(app.get(&format!("/properties?cursor={}", "a".repeat(513)), None).await, 400).await;
}

#[tokio::test]
async fn a_forged_cursor_is_a_client_error() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    seven(&app, &host).await;
    let id = uuid::Uuid::new_v4();

    for (sort, forged) in [
        ("rating", json!({ "by": "rating", "rating": "abc", "id": id })),
        ("rating", json!({ "by": "rating", "rating": "", "id": id })),
        ("newest", json!({ "by": "newest", "created_at": "-200000-01-01T00:00:00Z", "id": id })),
        ("newest", json!({ "by": "newest", "created_at": "-4714-01-01T00:00:00Z", "id": id })),
    ] {
        let cursor = URL_SAFE_NO_PAD.encode(forged.to_string());
        let response = app.get(&format!("/properties?sort={sort}&cursor={cursor}"), None).await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{forged} answered {status}: {}", response.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_limit_outside_one_to_a_hundred_is_a_bad_request() {
    let app = TestApp::spawn().await;

    for limit in ["0", "101", "-1", "ten", "1.5"] {
        assert_problem(app.get(&format!("/properties?limit={limit}"), None).await, 400).await;
    }
    assert_eq!(page(&app, "limit=100").await["items"], json!([]));
    assert_eq!(page(&app, "limit=1").await["items"], json!([]));
}

#[tokio::test]
async fn a_check_in_without_a_check_out_is_unprocessable() {
    let app = TestApp::spawn().await;

    for query in [format!("check_in={}", day(3)), format!("check_out={}", day(3))] {
        let problem = assert_problem(app.get(&format!("/properties?{query}"), None).await, 422).await;
        assert_eq!(error_fields(&problem), ["check_out"], "{query}");
    }
}

#[tokio::test]
async fn a_check_out_not_after_the_check_in_is_unprocessable() {
    let app = TestApp::spawn().await;

    for (check_in, check_out) in [(5, 5), (5, 4)] {
        let problem =
            assert_problem(app.get(&format!("/properties?{}", dates(check_in, check_out)), None).await, 422).await;
        assert_eq!(error_fields(&problem), ["check_out"]);
    }
}

#[tokio::test]
async fn a_minimum_price_above_the_maximum_is_unprocessable() {
    let app = TestApp::spawn().await;

    let problem = assert_problem(app.get("/properties?min_price=5000&max_price=4999", None).await, 422).await;

    assert_eq!(error_fields(&problem), ["max_price"]);
}

#[tokio::test]
async fn malformed_search_parameters_are_a_bad_request() {
    let app = TestApp::spawn().await;

    for query in [
        "check_in=tomorrow&check_out=2030-01-02",
        "check_in=2030-02-30&check_out=2030-03-02",
        "min_price=-1",
        "max_price=cheap",
        "guests=0",
        "guests=101",
        "sort=cheapest",
        "host_id=not-a-uuid",
    ] {
        assert_problem(app.get(&format!("/properties?{query}"), None).await, 400).await;
    }
    let many: String = (0..21).map(|n| format!("amenities=a{n}&")).collect();
    assert_problem(app.get(&format!("/properties?{many}"), None).await, 400).await;
    let long = "x".repeat(201);
    assert_problem(app.get(&format!("/properties?q={long}"), None).await, 400).await;
}

#[tokio::test]
async fn every_invalid_search_parameter_is_reported_at_once() {
    let app = TestApp::spawn().await;

    let query = format!("min_price=10&max_price=5&check_in={}&cursor=garbage", day(2));
    let problem = assert_problem(app.get(&format!("/properties?{query}"), None).await, 422).await;

    let mut fields = error_fields(&problem);
    fields.sort_unstable();
    assert_eq!(fields, ["check_out", "cursor", "max_price"]);
}

#[tokio::test]
async fn odd_free_text_is_searched_not_refused() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;

    for q in ["%22unclosed", "%26%26%7C!", "or", "-", "the", "%27%3B%20drop%20table%20properties%3B--"] {
        page(&app, &format!("q={q}")).await;
    }
    assert_eq!(name_set(&app, "").await.len(), 5);
}

#[tokio::test]
async fn a_text_filter_with_a_nul_character_is_refused_not_sent_to_the_database() {
    let app = TestApp::spawn().await;

    for query in ["city=Lis%00bon", "country=%00", "q=sea%00side"] {
        let problem = assert_problem(app.get(&format!("/properties?{query}"), None).await, 422).await;
        let field = query.split('=').next().unwrap();
        assert_eq!(error_fields(&problem), [field], "{query}: {problem}");
    }
    assert_json(app.get("/properties?city=Lisbon", None).await, 200).await;
}

#[tokio::test]
async fn a_search_is_planned_for_its_own_values_except_the_walk_of_one_city_newest_first() {
    use shared::{
        db::Session,
        pagination::PageLimit,
        properties::{Search, SearchPools, SortOrder},
    };
    let app = TestApp::spawn().await;
    // One connection per pool: prepared statements belong to their connection.
    let mut config = app.config.clone();
    config.database_max_connections = 1;
    let db = shared::db::pool_with(&config, Session::Default).unwrap();
    let walk_db = shared::db::pool_with(&config, Session::Walk).unwrap();
    // PostgreSQL considers a generic plan from a prepared statement's sixth run on.
    for n in 0..10 {
        let search = Search { city: Some("Lisbon".into()), min_price: Some(n), ..Default::default() };
        let limit = PageLimit::parse(None).unwrap();
        for order in [SortOrder::Newest, SortOrder::PriceAsc] {
            let pools = SearchPools { db: &db, walk_db: &walk_db };
            shared::properties::search(pools, &search, order, None, limit).await.unwrap();
        }
    }
    let plans = |pool: &sqlx::PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, i64, i64)>(
                "select case when statement like '%order by p.created_at%' then 'newest' else 'by price' end,
                        generic_plans, custom_plans
                 from pg_prepared_statements
                 where statement like 'select property_id, host_id, %from properties p where p.deleted_at%'",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(plans(&db).await, [("by price".to_owned(), 0, 10)], "every run planned for its own values");
    assert_eq!(
        plans(&walk_db).await,
        [("newest".to_owned(), 10, 0)],
        "one plan, the walk of the city newest first, for every run, and alone on its pool"
    );
    let sorts: (String, String) =
        sqlx::query_as("select current_setting('enable_sort'), current_setting('plan_cache_mode')")
            .fetch_one(&walk_db)
            .await
            .unwrap();
    assert_eq!(sorts, ("off".to_owned(), "force_generic_plan".to_owned()));
    let defaults: (String, String) =
        sqlx::query_as("select current_setting('enable_sort'), current_setting('plan_cache_mode')")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(defaults, ("on".to_owned(), "auto".to_owned()), "the settings stay on the walk pool");
}
