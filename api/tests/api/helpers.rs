//! Helpers shared by the test modules.

use redis::aio::MultiplexedConnection;
use reqwest::{Method, Response, header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use testkit::TestApp;

/// The password of every account the helpers create.
pub const PASSWORD: &str = "a long enough password";

/// An account created and signed in through the API.
pub struct Account {
    pub id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl Account {
    /// `/users/{id}` of this account.
    pub fn path(&self) -> String {
        format!("/users/{}", self.id)
    }
}

/// Registers a fresh account of `role` (`guest`, `host` or `admin`, the
/// last promoted in the database) and signs it in.
pub async fn sign_up(app: &TestApp, role: &str) -> Account {
    let email = TestApp::unique_email(role);
    let user = app.register(&email, PASSWORD, if role == "admin" { "guest" } else { role }).await;
    let id = user["id"].as_str().expect("user id").to_owned();
    if role == "admin" {
        sqlx::query("update users set role = 'admin' where user_id = $1::uuid")
            .bind(&id)
            .execute(&app.db)
            .await
            .expect("promote to admin");
    }
    let tokens = app.login(&email, PASSWORD).await;
    Account { id, email, access_token: token(&tokens, "access_token"), refresh_token: token(&tokens, "refresh_token") }
}

/// A string field of a token response.
pub fn token(tokens: &Value, field: &str) -> String {
    tokens[field].as_str().unwrap_or_else(|| panic!("no {field} in {tokens}")).to_owned()
}

/// `POST /auth/refresh` with `refresh_token`.
pub async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.post("/auth/refresh", &json!({ "refresh_token": refresh_token }), None).await
}

/// `POST /auth/login`, whatever the answer.
pub async fn try_login(app: &TestApp, email: &str, password: &str) -> Response {
    app.post("/auth/login", &json!({ "email": email, "password": password }), None).await
}

/// A registration body for `email` that passes every rule.
pub fn registration(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD, "first_name": "Ana", "last_name": "Lima" })
}

/// A request with a raw body and content type, for what the typed helpers
/// cannot send.
pub async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    token: Option<&str>,
) -> Response {
    let mut request = app.client.request(method, app.url(path)).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("send the request")
}

/// Asserts `response` has `status` and a JSON body, and returns the body.
pub async fn assert_json(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let body = response.text().await.expect("response body");
    assert_eq!(actual, status, "unexpected status; body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"))
}

/// Asserts `response` is an RFC 9457 problem with `status`: content type
/// `application/problem+json` and the fields type, title, status and detail.
/// Returns the body.
pub async fn assert_problem(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.text().await.expect("response body");
    assert_eq!(actual, status, "unexpected status; body: {body}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type is {content_type:?}, not application/problem+json; body: {body}"
    );
    let problem: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("problem is not JSON ({e}): {body}"));
    for field in ["type", "title", "detail"] {
        let value = problem[field].as_str().unwrap_or_else(|| panic!("problem has no string `{field}`: {body}"));
        assert!(!value.is_empty(), "problem has an empty `{field}`: {body}");
    }
    assert_eq!(problem["status"], json!(status), "problem `status` differs from the HTTP status: {body}");
    problem
}

/// Asserts a 401 problem that tells the client to send a bearer token.
pub async fn assert_unauthorized(response: Response) -> Value {
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let challenge = challenge.expect("a 401 carries a WWW-Authenticate header");
    assert!(challenge.starts_with("Bearer"), "WWW-Authenticate is {challenge:?}");
    assert_problem(response, 401).await
}

/// The field names listed in a validation problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("problem has no `errors` list: {problem}"))
        .iter()
        .map(|e| e["field"].as_str().expect("errors[].field"))
        .collect()
}

/// How many rows `users` has, deleted accounts included.
pub async fn user_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from users").fetch_one(&app.db).await.expect("count users")
}

/// The role of `user_id` as stored.
pub async fn stored_role(app: &TestApp, user_id: &str) -> String {
    sqlx::query_scalar("select role::text from users where user_id = $1::uuid")
        .bind(user_id)
        .fetch_one(&app.db)
        .await
        .expect("read the role")
}

/// A connection to the Redis server of `app`, for assertions on its keys.
pub async fn redis_connection(app: &TestApp) -> MultiplexedConnection {
    let client = redis::Client::open(app.config.redis_url.expose_secret()).expect("a Redis URL");
    client.get_multiplexed_async_connection().await.expect("connect to Redis")
}

/// True while Redis holds refresh-token sessions of `user_id`.
pub async fn has_sessions(app: &TestApp, user_id: &str) -> bool {
    let key = app.config.redis_key(&format!("session:u:{user_id}"));
    redis::cmd("EXISTS").arg(key).query_async::<bool>(&mut redis_connection(app).await).await.expect("EXISTS")
}
