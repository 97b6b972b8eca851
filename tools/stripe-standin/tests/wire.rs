//! The wire format itself, with a plain HTTP client: authentication, errors, bracket
//! parameters, idempotency headers and the `/_standin` controls over HTTP.

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Receiver, standin};

const KEY: &str = "sk_test_wire";

async fn post(base: &str, path: &str, body: &str, idempotency_key: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_request_without_a_secret_key_is_a_401_in_stripe_error_shape() {
    let stripe = standin().await;
    let (status, body) =
        json_of(reqwest::get(format!("{}/v1/payment_intents/pi_1", stripe.base_url())).await.unwrap()).await;
    assert_eq!((status, body["error"]["type"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_request_error")));
    assert!(body["error"]["message"].as_str().unwrap().starts_with("You did not provide an API key."));

    let response = reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/pi_1", stripe.base_url()))
        .bearer_auth("sk_live_abcd1234")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Invalid API Key provided: sk_live_****1234"))
    );

    // Basic auth with the key as user name, as `curl -u sk_test_…:` sends it.
    let response = reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/pi_1", stripe.base_url()))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_in_stripe_error_shape() {
    let stripe = standin().await;
    let (status, body) = json_of(post(&stripe.base_url(), "/v1/customers", "email=a%40b.c", None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Unrecognized request URL (POST: /v1/customers)."));
}

#[tokio::test]
async fn bracket_parameters_are_understood_and_unknown_ones_accepted() {
    let stripe = standin().await;
    let body = "amount=1999&currency=EUR&metadata[payment_id]=p%201&metadata%5Bbooking%5D=b-2\
                &payment_method_types[0]=card&payment_method=pm_card_visa&confirm=true&unknown_thing=1";
    let response = post(&stripe.base_url(), "/v1/payment_intents", body, None).await;
    assert!(response.headers()["request-id"].to_str().unwrap().starts_with("req_"));
    let (status, pi) = json_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pi["metadata"], json!({ "payment_id": "p 1", "booking": "b-2" }));
    assert_eq!((pi["currency"].as_str(), pi["status"].as_str()), (Some("eur"), Some("succeeded")));
    assert_eq!(pi["payment_method_types"], json!(["card"]));
}

#[tokio::test]
async fn a_replay_answers_the_first_status_and_body_with_idempotent_replayed() {
    let stripe = standin().await;
    let body = "amount=500&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true";

    let first = post(&stripe.base_url(), "/v1/payment_intents", body, Some("k-402")).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (first_status, first_body) = json_of(first).await;
    // The same parameters in another order are the same request.
    let reordered = "confirm=true&payment_method=pm_card_chargeDeclined&currency=usd&amount=500";
    let second = post(&stripe.base_url(), "/v1/payment_intents", reordered, Some("k-402")).await;
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["idempotency-key"], "k-402");
    let (second_status, second_body) = json_of(second).await;

    assert_eq!((first_status, second_status), (StatusCode::PAYMENT_REQUIRED, StatusCode::PAYMENT_REQUIRED));
    assert_eq!(first_body, second_body);
    assert_eq!(first_body["error"]["payment_intent"]["status"], "requires_payment_method");
    assert_eq!(stripe.standin().charges().len(), 1);

    // Another endpoint under the same key is refused.
    let (status, body) =
        json_of(post(&stripe.base_url(), "/v1/refunds", "payment_intent=pi_x", Some("k-402")).await).await;
    assert_eq!((status, body["error"]["type"].as_str()), (StatusCode::BAD_REQUEST, Some("idempotency_error")));
}

#[tokio::test]
async fn a_validation_error_is_not_saved_under_the_key() {
    let stripe = standin().await;
    let (status, body) =
        json_of(post(&stripe.base_url(), "/v1/payment_intents", "currency=usd", Some("k-fix")).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("parameter_missing")));
    assert_eq!(body["error"]["param"], "amount");

    let response = post(&stripe.base_url(), "/v1/payment_intents", "currency=usd&amount=100", Some("k-fix")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_json_body_is_refused() {
    let stripe = standin().await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents", stripe.base_url()))
        .bearer_auth(KEY)
        .json(&json!({ "amount": 100, "currency": "usd" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_controls_work_over_http() {
    let stripe = standin().await;
    let base = stripe.base_url();
    let http = reqwest::Client::new();
    let receiver = Receiver::start(0).await;

    let response =
        http.post(format!("{base}/_standin/webhook")).json(&json!({ "url": receiver.url })).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http.post(format!("{base}/_standin/fail_next?count=2&status=503")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    for _ in 0..2 {
        let (status, body) = json_of(post(&base, "/v1/payment_intents", "amount=100&currency=usd", None).await).await;
        assert_eq!((status, body["error"]["type"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("api_error")));
    }
    let (status, pi) = json_of(post(&base, "/v1/payment_intents", "amount=100&currency=usd", None).await).await;
    assert_eq!(status, StatusCode::OK);

    http.post(format!("{base}/_standin/delay_next?ms=300")).send().await.unwrap();
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/payment_intents/{}", pi["id"].as_str().unwrap()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let pis: Value = http.get(format!("{base}/_standin/payment_intents")).send().await.unwrap().json().await.unwrap();
    assert_eq!(pis.as_array().map(Vec::len), Some(1));
    let events: Value = http.get(format!("{base}/_standin/events")).send().await.unwrap().json().await.unwrap();
    let event_id = events[0]["id"].as_str().unwrap();
    assert_eq!(events[0]["type"], "payment_intent.created");

    receiver.wait_until(|all| all.len() == 1).await;
    let response = http.post(format!("{base}/_standin/events/{event_id}/resend")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    receiver.wait_until(|all| all.len() == 2).await;

    http.post(format!("{base}/_standin/reset")).send().await.unwrap();
    let pis: Value = http.get(format!("{base}/_standin/payment_intents")).send().await.unwrap().json().await.unwrap();
    assert_eq!(pis, json!([]));
}
