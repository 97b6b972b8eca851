//! Registration, who may see and change which account, administration and
//! account deletion.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use chrono::Utc;
use reqwest::Response;
use serde_json::{Value, json};
use shared::{
    bookings::{self, BookingRequest},
    domain::{PropertyId, UserId},
    properties::TermsCache,
    users,
};
use testkit::{TestApp, until_a_statement_waits_on_a_lock};

use crate::{
    fixtures::{book, create_property, day, id, listing, stay},
    helpers::{
        Account, PASSWORD, assert_json, assert_problem, assert_unauthorized, has_sessions, redis_connection, refresh,
        registration, sign_up, stored_role, token, try_login, user_count,
    },
};

#[tokio::test]
async fn registration_answers_created_with_the_account_and_its_location() {
    let app = TestApp::spawn().await;
    let email = TestApp::unique_email("ana");

    let response = app.post("/users", &registration(&email.to_uppercase()), None).await;

    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let user = assert_json(response, 201).await;
    assert_eq!(location, Some(format!("/users/{}", user["id"].as_str().unwrap())));
    assert_eq!(user["email"], json!(email), "the email is not normalised to lower case");
    assert_eq!(user["role"], "guest");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn a_guest_cannot_read_change_or_delete_another_user() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;
    let other = sign_up(&app, "host").await;
    let token = Some(guest.access_token.as_str());

    assert_problem(app.get(&other.path(), token).await, 404).await;
    assert_problem(app.put(&other.path(), &json!({ "first_name": "Mallory" }), token).await, 404).await;
    assert_problem(app.delete(&other.path(), token).await, 404).await;

    let unchanged = assert_json(app.get("/users/me", Some(&other.access_token)).await, 200).await;
    assert_eq!(unchanged["first_name"], "Test");
    app.login(&other.email, PASSWORD).await;
}

#[tokio::test]
async fn a_guest_cannot_list_users() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;

    assert_problem(app.get("/users", Some(&guest.access_token)).await, 403).await;
}

#[tokio::test]
async fn nobody_but_an_admin_can_change_their_own_role() {
    let app = TestApp::spawn().await;
    let guest = sign_up(&app, "guest").await;
    let host = sign_up(&app, "host").await;

    for role in ["admin", "host"] {
        let response = app.put(&guest.path(), &json!({ "role": role }), Some(&guest.access_token)).await;
        assert_problem(response, 403).await;
    }
    let response = app.put(&host.path(), &json!({ "role": "admin" }), Some(&host.access_token)).await;
    assert_problem(response, 403).await;

    assert_eq!(stored_role(&app, &guest.id).await, "guest");
    assert_eq!(stored_role(&app, &host.id).await, "host");
}

#[tokio::test]
async fn registering_as_an_admin_is_rejected_and_creates_no_account() {
    let app = TestApp::spawn().await;
    let mut body = registration(&TestApp::unique_email("mallory"));
    body["role"] = json!("admin");

    assert_problem(app.post("/users", &body, None).await, 400).await;

    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn an_admin_pages_through_every_user_exactly_once() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let mut expected = HashSet::from([admin.id.clone()]);
    for _ in 0..5 {
        let user = app.register(&TestApp::unique_email("user"), PASSWORD, "guest").await;
        expected.insert(user["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut path = "/users?limit=2".to_owned();
    for _ in 0..10 {
        let page = assert_json(app.get(&path, Some(&admin.access_token)).await, 200).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2, "a page is longer than its limit: {page}");
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }

    let distinct: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "a user was listed twice: {seen:?}");
    assert_eq!(distinct, expected);
}

#[tokio::test]
async fn a_full_last_page_has_no_next_cursor() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    app.register(&TestApp::unique_email("user"), PASSWORD, "guest").await;

    let page = assert_json(app.get("/users?limit=2", Some(&admin.access_token)).await, 200).await;

    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page.get("next_cursor").is_none_or(Value::is_null), "a cursor to an empty page: {page}");
}

#[tokio::test]
async fn an_admin_reads_and_updates_another_user_and_changes_its_role() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let user = sign_up(&app, "guest").await;
    let token = Some(admin.access_token.as_str());

    let read = assert_json(app.get(&user.path(), token).await, 200).await;
    assert_eq!(read["email"], json!(user.email));

    let body = json!({ "first_name": "Renamed", "phone_number": "+1 555 0100", "role": "host" });
    let updated = assert_json(app.put(&user.path(), &body, token).await, 200).await;
    assert_eq!((updated["first_name"].as_str(), updated["role"].as_str()), (Some("Renamed"), Some("host")));
    assert_eq!(updated["phone_number"], "+1 555 0100");
    assert_eq!(stored_role(&app, &user.id).await, "host");

    let cleared = assert_json(app.put(&user.path(), &json!({ "phone_number": null }), token).await, 200).await;
    assert!(cleared["phone_number"].is_null(), "the phone number was not removed: {cleared}");
    assert_eq!(cleared["first_name"], "Renamed", "a field left out was changed");
}

#[tokio::test]
async fn a_role_granted_by_an_admin_takes_effect_at_the_users_next_refresh() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let user = sign_up(&app, "guest").await;

    assert_json(app.put(&user.path(), &json!({ "role": "admin" }), Some(&admin.access_token)).await, 200).await;

    let renewed = assert_json(refresh(&app, &user.refresh_token).await, 200).await;
    assert_json(app.get("/users", Some(&token(&renewed, "access_token"))).await, 200).await;
}

#[tokio::test]
async fn an_admin_resets_another_users_password_without_knowing_it() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let user = sign_up(&app, "guest").await;

    let body = json!({ "password": "a password set by an admin" });
    assert_json(app.put(&user.path(), &body, Some(&admin.access_token)).await, 200).await;

    assert_unauthorized(refresh(&app, &user.refresh_token).await).await;
    assert_unauthorized(try_login(&app, &user.email, PASSWORD).await).await;
    app.login(&user.email, "a password set by an admin").await;
}

#[tokio::test]
async fn an_admin_cannot_demote_itself() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;

    for role in ["guest", "host"] {
        let response = app.put(&admin.path(), &json!({ "role": role }), Some(&admin.access_token)).await;
        assert_problem(response, 403).await;
    }

    assert_eq!(stored_role(&app, &admin.id).await, "admin");
}

#[tokio::test]
async fn a_user_who_deletes_its_account_is_erased_and_signed_out() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let user = sign_up(&app, "guest").await;
    assert!(has_sessions(&app, &user.id).await, "no session of the signed-in user found in Redis");

    let response = app.delete(&user.path(), Some(&user.access_token)).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap_or_default());

    assert!(!has_sessions(&app, &user.id).await, "the deleted account's sessions are still in Redis");

    assert_unauthorized(try_login(&app, &user.email, PASSWORD).await).await;
    assert_unauthorized(refresh(&app, &user.refresh_token).await).await;
    assert_problem(app.get(&user.path(), Some(&admin.access_token)).await, 404).await;
    // Its access token names an account that no longer exists.
    assert_unauthorized(app.get("/users/me", Some(&user.access_token)).await).await;
    let listed = assert_json(app.get("/users", Some(&admin.access_token)).await, 200).await;
    assert!(
        !listed["items"].as_array().unwrap().iter().any(|u| u["id"] == json!(user.id)),
        "deleted user listed: {listed}"
    );

    let row: (String, String, String, Option<String>, Option<String>, bool) = sqlx::query_as(
        "select email, first_name, last_name, phone_number, password_hash, deleted_at is not null
         from users where user_id = $1::uuid",
    )
    .bind(&user.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let (email, first_name, last_name, phone_number, password_hash, deleted) = row;
    assert_eq!(email, format!("deleted-{}@users.invalid", user.id));
    assert_eq!((first_name.as_str(), last_name.as_str()), ("Deleted", "User"));
    assert_eq!((phone_number, password_hash, deleted), (None, None, true));
}

/// Guest and host alike: an account in a pending or confirmed stay that is
/// not over stays open until the stay is cancelled.
#[tokio::test]
async fn an_account_taking_part_in_a_stay_not_over_is_not_deleted_until_it_is_cancelled() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = create_property(&app, &host, json!({})).await;
    let booking = book(&app, &guest, &id(&property), &day(10), &day(12)).await;

    for who in [&guest, &host] {
        let problem = assert_problem(app.delete(&who.path(), Some(&who.access_token)).await, 409).await;
        assert_eq!(problem["type"], "/problems/open-stays");
    }
    let cancel = format!("/bookings/{}", id(&booking));
    assert_json(app.delete(&cancel, Some(&guest.access_token)).await, 200).await;
    for who in [&guest, &host] {
        let response = app.delete(&who.path(), Some(&who.access_token)).await;
        assert_eq!(response.status(), 204, "{}", response.text().await.unwrap_or_default());
    }
}

/// A hold written by another transaction, not yet committed, when its guest
/// or its listing's host closes the account: the closure waits for the hold
/// and then counts it. Checked before its locks, the closure missed it.
#[tokio::test]
async fn an_account_closed_while_a_hold_of_it_is_written_waits_for_the_hold_and_is_refused() {
    let app = TestApp::spawn().await;
    for closing in ["guest", "host"] {
        // Each round's accounts take part in its one hold and nothing else.
        let host = sign_up(&app, "host").await;
        let property = create_property(&app, &host, json!({})).await;
        let guest = sign_up(&app, "guest").await;
        let request = BookingRequest {
            property_id: PropertyId(id(&property).parse().unwrap()),
            check_in: Utc::now().date_naive() + chrono::Duration::days(10),
            check_out: Utc::now().date_naive() + chrono::Duration::days(12),
            guests: 2,
        };
        let guest_id = UserId(guest.id.parse().unwrap());
        let mut holding = app.db.begin().await.unwrap();
        bookings::create(&mut holding, &TermsCache::default(), guest_id, &request, Utc::now(), None).await.unwrap();

        let who = if closing == "guest" { &guest } else { &host };
        let commit_the_hold = async {
            until_a_statement_waits_on_a_lock(&app.db).await;
            holding.commit().await.unwrap();
        };
        let path = who.path();
        let (response, ()) = tokio::join!(app.delete(&path, Some(&who.access_token)), commit_the_hold);
        let problem = assert_problem(response, 409).await;
        assert_eq!(problem["type"], "/problems/open-stays", "closing the {closing}");
    }
}

/// A guest books while its account is being closed: the hold waits for
/// the closure, then finds the account closed, answers as to any token of a
/// closed account (401) and writes nothing. Before, its foreign key was
/// satisfied by the erased row and the booking was made for a closed
/// account.
#[tokio::test]
async fn a_booking_made_while_its_guest_s_account_closes_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let guest = sign_up(&app, "guest").await;
    let property = create_property(&app, &host, json!({})).await;
    let body = stay(&id(&property), &day(10), &day(12), 2);

    let response = while_closing(&app, &guest, app.post("/bookings", &body, Some(&guest.access_token))).await;

    assert_unauthorized(response).await;
    assert_eq!(rows_of(&app, "select count(*) from bookings where guest_id = $1::uuid", &guest).await, 0);
}

/// Likewise a host listing a property while its account is being closed
/// (signed in, so past the token's check of the account): the listing
/// waits for the closure, then is refused (401) and writes nothing, where
/// before it went live for a closed account.
#[tokio::test]
async fn a_listing_made_while_its_host_s_account_closes_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;
    let body = listing(json!({}));

    let response = while_closing(&app, &host, app.post("/properties", &body, Some(&host.access_token))).await;

    assert_unauthorized(response).await;
    assert_eq!(rows_of(&app, "select count(*) from properties where host_id = $1::uuid", &host).await, 0);
}

/// The answer to `request`, sent while the closure of `account` is written
/// but not committed; it commits once a statement waits on its locks.
async fn while_closing(app: &TestApp, account: &Account, request: impl Future<Output = Response>) -> Response {
    let mut closing = app.db.begin().await.unwrap();
    users::close(&mut closing, UserId(account.id.parse().unwrap())).await.unwrap();
    let commit_the_closure = async {
        until_a_statement_waits_on_a_lock(&app.db).await;
        closing.commit().await.unwrap();
    };
    tokio::join!(request, commit_the_closure).0
}

/// The count `sql` gives for `account`'s id as `$1`.
async fn rows_of(app: &TestApp, sql: &'static str, account: &Account) -> i64 {
    sqlx::query_scalar(sql).bind(&account.id).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn the_email_of_a_deleted_account_can_register_again() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "guest").await;
    assert_eq!(app.delete(&user.path(), Some(&user.access_token)).await.status(), 204);

    let again = app.register(&user.email, "a brand new password", "host").await;

    assert_ne!(again["id"], json!(user.id));
    let tokens = app.login(&user.email, "a brand new password").await;
    let me = assert_json(app.get("/users/me", Some(&token(&tokens, "access_token"))).await, 200).await;
    assert_eq!(me["id"], again["id"]);
}

#[tokio::test]
async fn an_admin_deletes_another_users_account() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let user = sign_up(&app, "guest").await;

    assert_eq!(app.delete(&user.path(), Some(&admin.access_token)).await.status(), 204);

    assert!(!has_sessions(&app, &user.id).await, "the deleted account's sessions are still in Redis");
    assert_unauthorized(refresh(&app, &user.refresh_token).await).await;
    assert_problem(app.delete(&user.path(), Some(&admin.access_token)).await, 404).await;
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_even_in_another_case() {
    let app = TestApp::spawn().await;
    let email = TestApp::unique_email("ana");
    app.register(&email, PASSWORD, "guest").await;

    for duplicate in [email.clone(), email.to_uppercase(), format!("  {email} ")] {
        let problem = assert_problem(app.post("/users", &registration(&duplicate), None).await, 409).await;
        assert_eq!(problem["type"], "/problems/duplicate-email", "for {duplicate:?}");
    }

    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn changing_ones_email_to_a_taken_one_is_a_conflict() {
    let app = TestApp::spawn().await;
    let taken = sign_up(&app, "guest").await;
    let user = sign_up(&app, "guest").await;

    let body = json!({ "email": taken.email.to_uppercase(), "current_password": PASSWORD });
    let problem = assert_problem(app.put(&user.path(), &body, Some(&user.access_token)).await, 409).await;

    assert_eq!(problem["type"], "/problems/duplicate-email");
    app.login(&user.email, PASSWORD).await;
}

/// Polls until `outbox` is empty; false if it still has rows after `timeout`.
async fn outbox_drains(app: &TestApp, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let rows: i64 = sqlx::query_scalar("select count(*) from outbox").fetch_one(&app.db).await.unwrap();
        if rows == 0 {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The jobs on the `emails` queue of `app`'s Redis namespace, decoded.
async fn queued_emails(app: &TestApp) -> Vec<Value> {
    let jobs: Vec<String> = redis::cmd("HVALS")
        .arg(app.config.redis_key("emails:data"))
        .query_async(&mut redis_connection(app).await)
        .await
        .expect("read the emails queue");
    jobs.iter()
        .map(|job| serde_json::from_str(job).unwrap_or_else(|e| panic!("job is not JSON ({e}): {job}")))
        .collect()
}

#[tokio::test]
async fn registration_queues_one_welcome_email_carrying_its_request_id() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/users"))
        .header("x-request-id", "registration-42")
        .json(&registration(&TestApp::unique_email("ana")))
        .send()
        .await
        .unwrap();
    let user = assert_json(response, 201).await;

    assert!(
        outbox_drains(&app, Duration::from_secs(3)).await,
        "the outbox relay did not push the welcome job within 3 s"
    );
    let jobs = queued_emails(&app).await;
    assert_eq!(jobs.len(), 1, "expected one queued email: {jobs:?}");
    assert_eq!(jobs[0]["job"], json!({ "kind": "welcome", "user_id": user["id"] }));
    assert_eq!(jobs[0]["request_id"], "registration-42");
}

#[tokio::test]
async fn a_refused_registration_queues_no_email() {
    let app = TestApp::spawn().await;
    let email = TestApp::unique_email("ana");
    app.register(&email, PASSWORD, "guest").await;
    assert!(outbox_drains(&app, Duration::from_secs(3)).await);

    assert_problem(app.post("/users", &registration(&email), None).await, 409).await;

    let outbox: i64 = sqlx::query_scalar("select count(*) from outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(outbox + queued_emails(&app).await.len() as i64, 1, "a refused registration wrote a job");
}

#[tokio::test]
async fn another_account_cannot_block_a_deletion_by_taking_its_placeholder_email() {
    let app = TestApp::spawn().await;
    let victim = sign_up(&app, "guest").await;
    let squatter = sign_up(&app, "guest").await;
    let placeholder = format!("deleted-{}@users.invalid", victim.id);
    // Whether or not the API lets anyone take that address…
    app.post("/users", &registration(&placeholder), None).await;
    let body = json!({ "email": placeholder, "current_password": PASSWORD });
    app.put(&squatter.path(), &body, Some(&squatter.access_token)).await;

    // …the victim can still close its account.
    let response = app.delete(&victim.path(), Some(&victim.access_token)).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap_or_default());
}

#[tokio::test]
async fn a_deleted_or_demoted_admin_loses_its_rights_at_once() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let other_admin = sign_up(&app, "admin").await;
    assert_eq!(app.get("/users", Some(&admin.access_token)).await.status(), 200);

    let demote = json!({ "role": "guest" });
    assert_eq!(app.put(&admin.path(), &demote, Some(&other_admin.access_token)).await.status(), 200);
    assert_problem(app.get("/users", Some(&admin.access_token)).await, 403).await;

    assert_eq!(app.delete(&other_admin.path(), Some(&other_admin.access_token)).await.status(), 204);
    assert_unauthorized(app.get("/users", Some(&other_admin.access_token)).await).await;
}
