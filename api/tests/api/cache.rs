use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::{PrivateRedis, TestApp, until_a_statement_waits_on_a_lock};

use crate::{
    fixtures::{book, create_property, day, ended_stay, id, stay},
    helpers::{assert_json, sign_up},
};

/// The cache counters of `/metrics`: (hits, misses).
async fn counters(app: &TestApp) -> (u64, u64) {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let read = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    (read("cache_hits_total"), read("cache_misses_total"))
}

async fn detail(app: &TestApp, property_id: &str) -> Value {
    assert_json(app.get(&format!("/properties/{property_id}"), None).await, 200).await
}

async fn search_ids(app: &TestApp, query: &str) -> Vec<String> {
    let page = assert_json(app.get(&format!("/properties?{query}"), None).await, 200).await;
    page["items"].as_array().unwrap().iter().map(id).collect()
}

/// Searches `query` until its first page comes from the cache (a search is
/// stored the second time it misses), and checks that it did.
async fn cached_search_ids(app: &TestApp, query: &str) -> Vec<String> {
    let read = search_ids(app, query).await;
    search_ids(app, query).await;
    let before = counters(app).await;
    let served = search_ids(app, query).await;
    let after = counters(app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 0), "{query}: served from the cache");
    assert_eq!(served, read);
    served
}

#[tokio::test]
async fn a_search_is_stored_when_asked_for_again_then_served_from_the_cache() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = id(&create_property(&app, &host, json!({})).await);

    let before = counters(&app).await;
    for _ in 0..4 {
        assert_eq!(search_ids(&app, "city=Lisbon&guests=2").await, vec![property.clone()]);
    }
    search_ids(&app, "city=Lisbon&guests=3").await;
    let after = counters(&app).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (2, 3),
        "a miss, a miss that stored the page, two hits; another search misses"
    );
}

#[tokio::test]
async fn a_property_detail_is_served_from_the_cache_and_a_change_shows_at_once() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = id(&create_property(&app, &host, json!({"price_per_night": 10_000})).await);

    let before = counters(&app).await;
    detail(&app, &property).await;
    detail(&app, &property).await;
    let after = counters(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "a miss that filled the cache, then a hit");

    let changed = app
        .put(&format!("/properties/{property}"), &json!({"price_per_night": 12_345}), Some(&host.access_token))
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(
        detail(&app, &property).await["price_per_night"],
        12_345,
        "the write's response was sent: no stale read"
    );
}

#[tokio::test]
async fn a_cached_detail_is_the_fresh_response_byte_for_byte_and_graphql_reads_it_back() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let fields = json!({"price_per_night": 10_000, "amenities": ["wifi", "pool"], "latitude": 38.7223,
                        "description": "Quiet \"loft\" — near the river"});
    let property = id(&create_property(&app, &host, fields).await);
    let path = format!("/properties/{property}");

    let before = counters(&app).await;
    let fresh = app.get(&path, None).await;
    let cached = app.get(&path, None).await;
    let after = counters(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "a miss that filled the cache, then a hit");
    let content_type = |r: &reqwest::Response| r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type(&fresh), "application/json; charset=utf-8");
    assert_eq!(content_type(&cached), content_type(&fresh));
    let fresh = fresh.bytes().await.unwrap();
    assert_eq!(cached.bytes().await.unwrap(), fresh, "the stored body is served as it was first written");

    let query = "query($id: UUID!) { property(id: $id) { id name description latitude longitude pricePerNight \
                 amenities photos cancellationPolicy ratingAverage reviewCount active createdAt updatedAt } }";
    let response = app.post("/graphql", &json!({"query": query, "variables": {"id": property}}), None).await;
    let graphql = assert_json(response, 200).await;
    assert_eq!(counters(&app).await.0, after.0 + 1, "GraphQL read the cached entry");
    let rest: Value = serde_json::from_slice(&fresh).unwrap();
    let read = &graphql["data"]["property"];
    assert_eq!(read["description"], rest["description"], "{graphql}");
    assert_eq!(read["pricePerNight"], rest["price_per_night"]);
    assert_eq!(read["latitude"], rest["latitude"]);
    assert_eq!(read["amenities"], rest["amenities"]);
    assert_eq!(
        read["cancellationPolicy"].as_str().map(str::to_lowercase),
        rest["cancellation_policy"].as_str().map(str::to_lowercase)
    );
    assert_eq!(read["active"], true);
}

#[tokio::test]
async fn a_review_shows_in_the_cached_rating_at_once() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = id(&create_property(&app, &host, json!({})).await);
    assert_eq!(detail(&app, &property).await["review_count"], 0);
    assert_eq!(cached_search_ids(&app, "sort=rating").await, vec![property.clone()]);

    let stay = ended_stay(&app, &guest, &property).await;
    let review = json!({"booking_id": id(&stay), "rating": 4, "comment": "Nice"});
    let review = assert_json(app.post("/reviews", &review, Some(&guest.access_token)).await, 201).await;
    let shown = detail(&app, &property).await;
    assert_eq!((shown["review_count"].clone(), shown["rating_average"].clone()), (json!(1), json!(4.0)));

    let path = format!("/reviews/{}", id(&review));
    assert_eq!(app.put(&path, &json!({"rating": 2}), Some(&guest.access_token)).await.status(), 200);
    assert_eq!(detail(&app, &property).await["rating_average"], 2.0);
    assert_eq!(app.delete(&path, Some(&guest.access_token)).await.status(), 204);
    assert_eq!(detail(&app, &property).await["review_count"], 0);
}

#[tokio::test]
async fn a_cached_availability_search_follows_bookings_and_cancellations_at_once() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = id(&create_property(&app, &host, json!({})).await);
    let query = format!("check_in={}&check_out={}", day(40), day(42));
    assert_eq!(cached_search_ids(&app, &query).await, vec![property.clone()]);

    let booking = book(&app, &guest, &property, &day(40), &day(43)).await;
    assert!(search_ids(&app, &query).await.is_empty(), "the booking's response was sent: the dates are taken");

    let cancelled = app.delete(&format!("/bookings/{}", id(&booking)), Some(&guest.access_token)).await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(search_ids(&app, &query).await, vec![property], "free again");
}

/// A client that hangs up while its booking waits does not stop the booking
/// halfway: it is written, and cached searches stop offering its dates.
/// Over HTTP/2 the client resets its stream, which cancels the handler
/// unless the write runs on its own; over HTTP/1.1 it closes the connection,
/// after which this server has always run the handler to its end.
#[tokio::test]
async fn a_booking_whose_client_hung_up_still_refreshes_cached_searches() {
    let app = TestApp::spawn().await;
    let http2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("an HTTP/2 client");
    for (round, client) in [app.client.clone(), http2].into_iter().enumerate() {
        let version = ["HTTP/1.1", "HTTP/2"][round];
        let host = sign_up(&app, "host").await;
        let guest = sign_up(&app, "guest").await;
        let property = id(&create_property(&app, &host, json!({ "city": format!("Hangup{round}") })).await);
        let query = format!("city=Hangup{round}&check_in={}&check_out={}", day(40), day(42));
        assert_eq!(cached_search_ids(&app, &query).await, vec![property.clone()]);

        // The listing's row is locked, so the booking waits in its statement.
        let mut lock = app.db.begin().await.expect("begin");
        sqlx::query("select from properties where property_id = $1::uuid for no key update")
            .bind(&property)
            .execute(&mut *lock)
            .await
            .expect("lock the listing");
        let request = client
            .post(app.url("/bookings"))
            .bearer_auth(&guest.access_token)
            .json(&stay(&property, &day(40), &day(42), 2))
            .send();
        let request = tokio::spawn(request);
        until_a_statement_waits_on_a_lock(&app.db).await;
        // The client hangs up, and the server has time to notice.
        request.abort();
        assert!(request.await.expect_err("the request was aborted").is_cancelled());
        drop(client);
        tokio::time::sleep(Duration::from_millis(300)).await;
        lock.rollback().await.expect("release the listing");

        wait_for(&format!("{version}: the booking to be written"), || async {
            let count: i64 = sqlx::query_scalar("select count(*) from bookings where property_id = $1::uuid")
                .bind(&property)
                .fetch_one(&app.db)
                .await
                .expect("count bookings");
            count == 1
        })
        .await;
        wait_for(&format!("{version}: the cached search to drop the booked listing"), || async {
            search_ids(&app, &query).await.is_empty()
        })
        .await;
    }
}

/// Polls `done` for up to 5 s (cached searches live 30 s), panicking with
/// `what` if it never holds.
async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(5), "waited 5 s for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_removed_listing_leaves_the_cached_detail_and_search_at_once() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = id(&create_property(&app, &host, json!({})).await);
    detail(&app, &property).await;
    assert_eq!(cached_search_ids(&app, "city=Lisbon").await, vec![property.clone()]);

    let removed = app.delete(&format!("/properties/{property}"), Some(&host.access_token)).await;
    assert_eq!(removed.status(), 204);
    assert_eq!(app.get(&format!("/properties/{property}"), None).await.status(), 404);
    assert!(search_ids(&app, "city=Lisbon").await.is_empty());
}

#[tokio::test]
async fn a_deleted_host_s_listings_leave_the_cached_detail_and_search_at_once() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let property = id(&create_property(&app, &host, json!({})).await);
    detail(&app, &property).await;
    assert_eq!(cached_search_ids(&app, "city=Lisbon").await, vec![property.clone()]);

    assert_eq!(app.delete(&format!("/users/{}", host.id), Some(&host.access_token)).await.status(), 204);
    assert_eq!(app.get(&format!("/properties/{property}"), None).await.status(), 404);
    assert!(search_ids(&app, "city=Lisbon").await.is_empty());
}

#[tokio::test]
async fn reads_answer_correctly_from_postgresql_while_redis_is_down() {
    let mut redis = PrivateRedis::start();
    let app = TestApp::spawn_with(|c| c.redis_url = SecretString::from(redis.url())).await;
    let host = sign_up(&app, "host").await;
    let property = id(&create_property(&app, &host, json!({"price_per_night": 10_000})).await);
    detail(&app, &property).await;

    redis.stop();
    let started = Instant::now();
    assert_eq!(detail(&app, &property).await["price_per_night"], 10_000);
    assert_eq!(search_ids(&app, "city=Lisbon").await, vec![property.clone()]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the cache is skipped, not waited for: {:?}",
        started.elapsed()
    );

    // A write while Redis is away, then Redis returns: no stale read.
    let changed = app
        .put(&format!("/properties/{property}"), &json!({"price_per_night": 11_000}), Some(&host.access_token))
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(detail(&app, &property).await["price_per_night"], 11_000);
}

#[tokio::test]
async fn with_the_cache_off_every_read_comes_from_postgresql() {
    let app = TestApp::spawn_with(|c| c.cache_enabled = false).await;
    let host = sign_up(&app, "host").await;
    let property = id(&create_property(&app, &host, json!({"price_per_night": 10_000})).await);

    let before = counters(&app).await;
    detail(&app, &property).await;
    search_ids(&app, "city=Lisbon").await;
    // A change behind the API's back: with the cache on, the detail read
    // above would still be served.
    sqlx::query("update properties set price_per_night = 10500 where property_id = $1::uuid")
        .bind(&property)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(detail(&app, &property).await["price_per_night"], 10_500);
    assert_eq!(counters(&app).await, before, "the cache is neither read nor filled");
}
