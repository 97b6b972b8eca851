use std::time::Duration;

use serde_json::json;
use shared::config::RateLimits;
use testkit::TestApp;

use crate::helpers::{PASSWORD, assert_problem, sign_up};

fn limits(per_account: u64, per_ip: u64, per_client: u64) -> RateLimits {
    RateLimits {
        enabled: true,
        login_per_account: per_account,
        login_per_ip: per_ip,
        login_window: Duration::from_secs(2),
        requests_per_client: per_client,
        requests_window: Duration::from_secs(2),
        trusted_proxies: Vec::new(),
    }
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post("/auth/login", &json!({"email": email, "password": password}), None).await
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().expect("Retry-After in seconds")
}

#[tokio::test]
async fn failed_sign_ins_past_the_account_limit_are_refused_until_the_window_ends() {
    let app = TestApp::spawn_with(|c| c.rate_limits = limits(3, 100, 1000)).await;
    let account = sign_up(&app, "guest").await;
    for _ in 0..3 {
        assert_eq!(login(&app, &account.email, "wrong password").await.status(), 401);
    }
    // The 4th attempt is refused before the password is even checked, the right one too.
    let refused = login(&app, &account.email, PASSWORD).await;
    assert_eq!(refused.status(), 429);
    let wait = retry_after(&refused);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    let problem = assert_problem(refused, 429).await;
    assert_eq!(problem["type"], "/problems/rate-limited");

    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    assert_eq!(login(&app, &account.email, PASSWORD).await.status(), 200, "the window ended");
}

#[tokio::test]
async fn a_successful_sign_in_clears_the_account_s_failures() {
    let app = TestApp::spawn_with(|c| c.rate_limits = limits(3, 100, 1000)).await;
    let account = sign_up(&app, "guest").await;
    for _ in 0..2 {
        assert_eq!(login(&app, &account.email, "wrong password").await.status(), 401);
    }
    assert_eq!(login(&app, &account.email, PASSWORD).await.status(), 200);
    for _ in 0..2 {
        assert_eq!(login(&app, &account.email, "wrong password").await.status(), 401, "the count started over");
    }
    assert_eq!(login(&app, &account.email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn sign_in_attempts_past_the_address_limit_are_refused_whatever_the_account() {
    let app = TestApp::spawn_with(|c| c.rate_limits = limits(100, 4, 1000)).await;
    for n in 0..4 {
        let email = format!("nobody-{n}@example.com");
        assert_eq!(login(&app, &email, "guess").await.status(), 401);
    }
    let refused = login(&app, "someone-else@example.com", "guess").await;
    assert_eq!(refused.status(), 429);
    assert_problem(refused, 429).await;
}

#[tokio::test]
async fn a_client_past_its_request_budget_gets_429_with_rate_limit_headers_then_recovers() {
    let app = TestApp::spawn_with(|c| c.rate_limits = limits(100, 100, 5)).await;
    for n in 0..5 {
        let response = app.get("/properties", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-limit"], "5");
        assert_eq!(response.headers()["ratelimit-remaining"], (4 - n).to_string().as_str());
    }
    let refused = app.get("/properties", None).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    let wait = retry_after(&refused);
    assert_problem(refused, 429).await;
    // Probes are never limited.
    assert_eq!(app.get("/health", None).await.status(), 200);

    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    assert_eq!(app.get("/properties", None).await.status(), 200, "the window ended");
}

#[tokio::test]
async fn signed_in_users_have_budgets_of_their_own() {
    // Two sign-ups are four anonymous requests from this address: within a budget of 4.
    let app = TestApp::spawn_with(|c| c.rate_limits = limits(100, 100, 4)).await;
    let first = sign_up(&app, "guest").await;
    let second = sign_up(&app, "guest").await;
    for _ in 0..4 {
        assert_eq!(app.get("/users/me", Some(&first.access_token)).await.status(), 200);
    }
    assert_eq!(app.get("/users/me", Some(&first.access_token)).await.status(), 429);
    assert_eq!(
        app.get("/users/me", Some(&second.access_token)).await.status(),
        200,
        "another user's budget is its own"
    );
}

#[tokio::test]
async fn with_rate_limits_off_nothing_is_counted() {
    let app = TestApp::spawn_with(|c| c.rate_limits = RateLimits { enabled: false, ..limits(1, 1, 1) }).await;
    for _ in 0..5 {
        let response = app.get("/properties", None).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit-limit").is_none());
    }
    let account = sign_up(&app, "guest").await;
    for _ in 0..3 {
        assert_eq!(login(&app, &account.email, "wrong password").await.status(), 401);
    }
}

async fn get_forwarded_for(app: &TestApp, forwarded_for: &str) -> reqwest::StatusCode {
    let request = app.client.get(app.url("/properties")).header("x-forwarded-for", forwarded_for);
    request.send().await.expect("GET /properties").status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    // The test client connects from 127.0.0.1: the proxy, when trusted.
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits { trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()], ..limits(100, 100, 2) }
    })
    .await;
    for _ in 0..2 {
        assert_eq!(get_forwarded_for(&app, "203.0.113.7").await, 200);
    }
    assert_eq!(get_forwarded_for(&app, "203.0.113.7").await, 429, "this client's budget is spent");
    assert_eq!(get_forwarded_for(&app, "198.51.100.9").await, 200, "another client's is not");
    // A client cannot pick its address: only the entry the proxy appended counts.
    assert_eq!(get_forwarded_for(&app, "198.51.100.1, 203.0.113.7").await, 429);
}

#[tokio::test]
async fn an_untrusted_peer_cannot_choose_its_address_with_x_forwarded_for() {
    let app = TestApp::spawn_with(|c| c.rate_limits = limits(100, 100, 2)).await;
    for forwarded in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(get_forwarded_for(&app, forwarded).await, 200);
    }
    assert_eq!(get_forwarded_for(&app, "203.0.113.3").await, 429, "all three are the peer's budget");
}
