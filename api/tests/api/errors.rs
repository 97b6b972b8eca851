//! Bad input gets a 4xx problem+json answer, never a 500, and changes nothing;
//! a transaction PostgreSQL rolls back for another is a 503 to retry.

use poem::IntoResponse;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestApp;

use crate::helpers::{assert_json, assert_problem, error_fields, registration, send_raw, sign_up, user_count};

/// Sends `body` as a registration with `content_type`, asserts a `status`
/// problem, and that no account was created. Returns the problem.
async fn refused_registration(app: &TestApp, content_type: &str, body: &str, status: u16) -> Value {
    let before = user_count(app).await;
    let problem =
        assert_problem(send_raw(app, Method::POST, "/users", Some(content_type), body, None).await, status).await;
    assert_eq!(user_count(app).await, before, "a refused registration created an account");
    problem
}

/// A valid registration with `field` set to `value` (or removed, for `None`).
fn registration_with(field: &str, value: Option<Value>) -> String {
    let mut body = registration(&TestApp::unique_email("ana"));
    match value {
        Some(value) => body[field] = value,
        None => {
            body.as_object_mut().unwrap().remove(field);
        }
    }
    body.to_string()
}

#[tokio::test]
async fn an_empty_body_is_a_bad_request() {
    let app = TestApp::spawn().await;

    refused_registration(&app, "application/json", "", 400).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_bad_request() {
    let app = TestApp::spawn().await;

    for body in ["not json", "{\"email\": ", "[]", "null"] {
        refused_registration(&app, "application/json", body, 400).await;
    }
}

#[tokio::test]
async fn fields_of_the_wrong_type_are_a_bad_request() {
    let app = TestApp::spawn().await;

    for (field, value) in
        [("first_name", json!({})), ("password", json!([])), ("last_name", json!(null)), ("role", json!(1))]
    {
        let problem = refused_registration(&app, "application/json", &registration_with(field, Some(value)), 400).await;
        assert_eq!(problem["type"], "/problems/malformed-body", "for {field}");
    }
}

#[tokio::test]
async fn a_number_or_a_boolean_where_a_string_belongs_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let host = sign_up(&app, "host").await;

    for (field, value) in [("first_name", json!(false)), ("password", json!(123_456_789)), ("email", json!(1))] {
        let problem = refused_registration(&app, "application/json", &registration_with(field, Some(value)), 400).await;
        assert_eq!(problem["type"], "/problems/malformed-body", "for {field}");
    }
    let login = json!({ "email": host.email, "password": 12_345_678 });
    assert_problem(app.post("/auth/login", &login, None).await, 400).await;
    assert_problem(app.post("/auth/logout", &json!({ "refresh_token": 42 }), None).await, 400).await;
    let listing = crate::fixtures::listing(json!({ "name": false }));
    assert_problem(app.post("/properties", &listing, Some(&host.access_token)).await, 400).await;
}

#[tokio::test]
async fn missing_required_fields_are_a_bad_request() {
    let app = TestApp::spawn().await;

    for field in ["email", "password", "first_name", "last_name"] {
        refused_registration(&app, "application/json", &registration_with(field, None), 400).await;
    }
}

#[tokio::test]
async fn an_unknown_field_is_a_bad_request() {
    let app = TestApp::spawn().await;

    refused_registration(&app, "application/json", &registration_with("is_admin", Some(json!(true))), 400).await;
}

#[tokio::test]
async fn over_long_strings_are_a_bad_request() {
    let app = TestApp::spawn().await;
    let long_email = format!("{}@example.com", "a".repeat(288));
    assert_eq!(long_email.len(), 300);

    for (field, value) in [("email", long_email), ("first_name", "x".repeat(101)), ("password", "p".repeat(129))] {
        refused_registration(&app, "application/json", &registration_with(field, Some(json!(value))), 400).await;
    }
}

#[tokio::test]
async fn a_too_short_password_is_a_bad_request() {
    let app = TestApp::spawn().await;

    refused_registration(&app, "application/json", &registration_with("password", Some(json!("short"))), 400).await;
}

#[tokio::test]
async fn an_invalid_email_is_unprocessable_and_names_the_field() {
    let app = TestApp::spawn().await;

    for email in ["no-at-sign", "ana@", "ana@@example.com", "a b@example.com"] {
        let body = registration_with("email", Some(json!(email)));
        let problem = refused_registration(&app, "application/json", &body, 422).await;
        assert_eq!(problem["type"], "/problems/validation-error");
        assert_eq!(error_fields(&problem), ["email"], "for {email:?}");
    }
}

#[tokio::test]
async fn a_whitespace_only_name_is_unprocessable() {
    let app = TestApp::spawn().await;

    let body = registration_with("first_name", Some(json!("   ")));
    let problem = refused_registration(&app, "application/json", &body, 422).await;

    assert_eq!(error_fields(&problem), ["first_name"]);
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let body = json!({ "email": "nope", "password": "        ", "first_name": " ", "last_name": "Lima", "phone_number": "call me" });

    let problem = refused_registration(&app, "application/json", &body.to_string(), 422).await;

    assert_eq!(error_fields(&problem), ["email", "password", "first_name", "phone_number"]);
}

#[tokio::test]
async fn an_update_with_bad_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "guest").await;
    let token = Some(user.access_token.as_str());

    for (body, status) in [
        (json!({ "first_name": "Changed", "is_admin": true }), 400),
        (json!({ "first_name": "x".repeat(101) }), 400),
        (json!({ "first_name": "Changed", "last_name": "  " }), 422),
        (json!({ "first_name": "Changed", "phone_number": "call me" }), 422),
        (json!({ "first_name": "Changed", "role": "superuser" }), 400),
    ] {
        assert_problem(app.put(&user.path(), &body, token).await, status).await;
    }

    let me = assert_json(app.get("/users/me", token).await, 200).await;
    assert_eq!((me["first_name"].as_str(), me["last_name"].as_str()), (Some("Test"), Some("User")));
}

#[tokio::test]
async fn a_malformed_user_id_in_the_path_is_not_found() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;

    let problem = assert_problem(app.get("/users/not-a-uuid", Some(&admin.access_token)).await, 404).await;

    assert!(problem["detail"].as_str().unwrap().contains("UUID"), "{problem}");
}

#[tokio::test]
async fn an_unknown_route_is_a_not_found_problem() {
    let app = TestApp::spawn().await;

    assert_problem(app.get("/no/such/route", None).await, 404).await;
}

#[tokio::test]
async fn an_unsupported_method_is_a_method_not_allowed_problem_that_lists_the_allowed_ones() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;
    let token = Some(admin.access_token.as_str());
    let any_user = format!("/users/{}", admin.id);

    for (method, path, allowed) in [
        (Method::PATCH, "/users", "GET, POST"),
        (Method::TRACE, "/users/", "GET, POST"),
        (Method::OPTIONS, "/users/me", "GET"),
        (Method::POST, any_user.as_str(), "GET, PUT, DELETE"),
        (Method::DELETE, "/openapi.json", "GET"),
    ] {
        let response = send_raw(&app, method.clone(), path, Some("application/json"), "{}", token).await;

        let allow = response.headers().get("allow").map(|v| v.to_str().expect("ASCII").to_owned());
        assert_eq!(allow.as_deref(), Some(allowed), "Allow of {method} {path}");
        assert_problem(response, 405).await;
    }
}

#[tokio::test]
async fn a_text_plain_body_is_an_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let body = registration(&TestApp::unique_email("ana")).to_string();

    refused_registration(&app, "text/plain", &body, 415).await;
}

#[tokio::test]
async fn out_of_range_limits_and_garbage_cursors_are_client_errors() {
    let app = TestApp::spawn().await;
    let admin = sign_up(&app, "admin").await;

    for query in ["limit=0", "limit=101", "limit=-1", "limit=many", "cursor=garbage", "cursor=e30"] {
        let response = app.get(&format!("/users?{query}"), Some(&admin.access_token)).await;
        let status = response.status().as_u16();
        assert!(matches!(status, 400 | 422), "{query} answered {status}");
        assert_problem(response, status).await;
    }
}

#[tokio::test]
async fn a_trailing_slash_is_accepted() {
    let app = TestApp::spawn().await;

    let response = app.post("/users/", &registration(&TestApp::unique_email("ana")), None).await;

    assert_json(response, 201).await;
    assert_eq!(user_count(&app).await, 1);
}

/// PostgreSQL breaks a deadlock by rolling one of its transactions back
/// (40P01). The request whose transaction that was answers 503, to be sent
/// again, not an opaque 500.
#[tokio::test]
async fn a_transaction_rolled_back_to_break_a_deadlock_is_a_service_unavailable_to_retry() {
    let app = TestApp::spawn().await;
    let db = &app.db;
    sqlx::query("create table crossing (id int primary key)").execute(db).await.unwrap();
    sqlx::query("insert into crossing values (1), (2)").execute(db).await.unwrap();
    let lock = |id: i32| sqlx::query("select id from crossing where id = $1 for update").bind(id);
    let (mut a, mut b) = (db.begin().await.unwrap(), db.begin().await.unwrap());
    lock(1).execute(&mut *a).await.unwrap();
    lock(2).execute(&mut *b).await.unwrap();
    let error = match tokio::join!(lock(2).execute(&mut *a), lock(1).execute(&mut *b)) {
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => error,
        other => panic!("PostgreSQL rolls back one of the two: {other:?}"),
    };
    assert!(shared::db::rolled_back_for_another(&error), "{error}");

    let response = api::error::ApiError::from(error).into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.content_type(), Some("application/problem+json"));
    let body: Value = serde_json::from_slice(&response.into_body().into_bytes().await.unwrap()).unwrap();
    assert_eq!(body["status"], 503);
    assert_eq!(body["detail"], "A concurrent change got in the way; retry shortly.");
}
