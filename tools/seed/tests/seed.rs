//! Seeds tiny data sets into throwaway databases and checks what the
//! benchmarks rely on: the requested counts, the schema's rules, rating
//! aggregates that match the reviews, the shared password, determinism.

use chrono::NaiveDate;
use seed::{Options, Scale};
use shared::domain::Password;
use sqlx::{Connection, PgConnection};
use testkit::TestDatabase;

const SCALE: Scale = Scale { users: 60, properties: 40, bookings: 600, reviews: 150 };

fn options(database: &TestDatabase, seed: u64) -> Options {
    Options {
        database_url: database.url.clone(),
        scale: SCALE,
        seed,
        today: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        password: "seeded-password".into(),
        progress: false,
    }
}

async fn count(conn: &mut PgConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A digest of every seeded row but the password hashes (salted anew each run).
async fn digest(conn: &mut PgConnection) -> String {
    sqlx::query_scalar(
        "select md5(concat_ws('|',
             (select string_agg(concat_ws(',', user_id, email, role, created_at), ';' order by user_id) from users),
             (select string_agg(p::text, ';' order by property_id) from properties p),
             (select string_agg(b::text, ';' order by booking_id) from bookings b),
             (select string_agg(pa::text, ';' order by payment_id) from payments pa),
             (select string_agg(r::text, ';' order by review_id) from reviews r)))",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_tiny_seed_has_the_counts_asked_for_and_keeps_every_rule() {
    let database = TestDatabase::create().await;
    let summary = seed::run(&options(&database, 7)).await.expect("seed");
    assert_eq!(
        (summary.users, summary.properties, summary.bookings, summary.reviews),
        (SCALE.users, SCALE.properties, SCALE.bookings, SCALE.reviews)
    );
    let mut conn = PgConnection::connect(&database.url).await.unwrap();
    assert_eq!(count(&mut conn, "select count(*) from users").await, 60);
    assert_eq!(count(&mut conn, "select count(*) from properties").await, 40);
    assert_eq!(count(&mut conn, "select count(*) from bookings").await, 600);
    assert_eq!(count(&mut conn, "select count(*) from reviews").await, 150);
    assert_eq!(count(&mut conn, "select count(*) from payments").await, summary.payments as i64);

    // The exclusion constraint holds these; check anyway, as the benchmark does.
    let overlaps = "select count(*) from bookings a join bookings b on a.property_id = b.property_id
         and a.booking_id < b.booking_id and a.status in ('pending', 'confirmed') and b.status in ('pending', 'confirmed')
         and daterange(a.check_in, a.check_out) && daterange(b.check_in, b.check_out)";
    assert_eq!(count(&mut conn, overlaps).await, 0);
    let aggregates = "select count(*) from properties p left join (
             select property_id, sum(rating) as s, count(*) as c from reviews group by property_id) r using (property_id)
         where p.rating_sum <> coalesce(r.s, 0) or p.review_count <> coalesce(r.c, 0)";
    assert_eq!(count(&mut conn, aggregates).await, 0, "rating aggregates match the reviews");
    let unpaid = "select count(*) from bookings b where b.status in ('confirmed', 'completed')
         and not exists (select 1 from payments pa where pa.booking_id = b.booking_id and pa.status = 'succeeded')";
    assert_eq!(count(&mut conn, unpaid).await, 0, "every confirmed or completed stay was paid");
    let unearned = "select count(*) from reviews r join bookings b using (booking_id)
         where b.status <> 'completed' or b.check_out > r.created_at::date";
    assert_eq!(count(&mut conn, unearned).await, 0, "reviews follow completed stays");
    assert!(
        count(&mut conn, "select count(*) from bookings where status = 'confirmed' and check_in > '2026-03-01'").await
            > 0
    );
    assert!(count(&mut conn, "select count(*) from users where role = 'host'").await > 0);
    assert!(count(&mut conn, "select count(distinct city) from properties").await > 5, "listings spread over cities");
    let in_future = "select count(*) from (
             select created_at from users union all select created_at from bookings
             union all select created_at from reviews union all select updated_at from payments) t
         where created_at > '2026-03-01'";
    assert_eq!(count(&mut conn, in_future).await, 0, "nothing seeded happens after the day given");

    let hash: String = sqlx::query_scalar("select password_hash from users where email = 'guest1@example.com'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(shared::password::verify(Password::candidate("seeded-password".into()), hash).await.unwrap());
}

#[tokio::test]
async fn the_same_seed_makes_the_same_data_and_another_seed_other_data() {
    let (first, second, third) =
        (TestDatabase::create().await, TestDatabase::create().await, TestDatabase::create().await);
    seed::run(&options(&first, 3)).await.expect("seed");
    seed::run(&options(&second, 3)).await.expect("seed");
    seed::run(&options(&third, 4)).await.expect("seed");
    let mut digests = Vec::new();
    for database in [&first, &second, &third] {
        digests.push(digest(&mut PgConnection::connect(&database.url).await.unwrap()).await);
    }
    assert_eq!(digests[0], digests[1]);
    assert_ne!(digests[0], digests[2]);
}

#[tokio::test]
async fn a_database_with_data_is_refused() {
    let database = TestDatabase::create().await;
    seed::run(&options(&database, 1)).await.expect("seed");
    let error = seed::run(&options(&database, 1)).await.unwrap_err();
    assert!(error.to_string().contains("seed a fresh database"), "{error:#}");
}
