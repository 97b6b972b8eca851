//! The OpenAPI document: what it promises about every operation, and that the
//! committed copy is the one the server serves.

use serde_json::Value;
use testkit::TestApp;

use crate::helpers::assert_json;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
const STALE: &str =
    "openapi/openapi.json is stale: regenerate with `cargo run -p api -- openapi > openapi/openapi.json`";

/// Operations anyone may call without a token.
const PUBLIC: &[&str] = &[
    "createUser",
    "login",
    "refreshToken",
    "logout",
    "health",
    "ready",
    "metrics",
    "searchProperties",
    "listReviews",
    "getReview",
    // Authenticated by Stripe's signature over the body instead.
    "stripeWebhook",
];
/// Public operations that show more to a signed-in caller.
const OPTIONAL_AUTH: &[&str] = &["getProperty"];
/// Probes: they answer plain JSON, never a problem.
const PROBES: &[&str] = &["health", "ready", "metrics"];

async fn served_spec(app: &TestApp) -> Value {
    assert_json(app.get("/openapi.json", None).await, 200).await
}

/// Every operation of `spec`: its id and its object.
fn operations(spec: &Value) -> Vec<(String, &Value)> {
    let paths = spec["paths"].as_object().expect("paths");
    let operations: Vec<(String, &Value)> = paths
        .values()
        .flat_map(|item| item.as_object().expect("a path item").values())
        .map(|op| {
            (
                op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("an operation has no operationId: {op}"))
                    .to_owned(),
                op,
            )
        })
        .collect();
    assert!(operations.len() >= PUBLIC.len(), "too few operations: {operations:?}");
    operations
}

#[tokio::test]
async fn the_served_openapi_document_matches_the_committed_file() {
    let app = TestApp::spawn().await;
    let served = served_spec(&app).await;

    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_else(|e| panic!("{STALE} (reading {COMMITTED}: {e})"));
    let committed: Value = serde_json::from_str(&committed).unwrap_or_else(|e| panic!("{STALE} (not JSON: {e})"));

    assert!(served == committed, "{STALE}");
}

#[tokio::test]
async fn every_operation_has_a_summary_and_a_tag() {
    let app = TestApp::spawn().await;
    let spec = served_spec(&app).await;

    for (id, op) in operations(&spec) {
        assert!(op["summary"].as_str().is_some_and(|s| !s.trim().is_empty()), "{id} has no summary");
        assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{id} has no tag");
    }
}

#[tokio::test]
async fn every_operation_but_the_public_ones_requires_a_bearer_token() {
    let app = TestApp::spawn().await;
    let spec = served_spec(&app).await;
    let schemes = spec["components"]["securitySchemes"].as_object().expect("security schemes");
    let is_bearer = |name: &str| schemes.get(name).is_some_and(|s| s["type"] == "http" && s["scheme"] == "bearer");

    for (id, op) in operations(&spec) {
        let declared: Vec<&str> = op["security"]
            .as_array()
            .map(|reqs| {
                reqs.iter().flat_map(|req| req.as_object().expect("a requirement").keys()).map(String::as_str).collect()
            })
            .unwrap_or_default();
        if PUBLIC.contains(&id.as_str()) {
            assert!(declared.is_empty(), "public operation {id} requires {declared:?}");
        } else if OPTIONAL_AUTH.contains(&id.as_str()) {
            let requirements = op["security"].as_array().expect("security requirements");
            assert!(
                requirements.iter().any(|r| r.as_object().is_some_and(|r| r.is_empty())),
                "{id} must allow anonymous"
            );
            assert!(declared.iter().all(|s| is_bearer(s)) && !declared.is_empty(), "{id} must accept a bearer token");
        } else {
            assert!(
                !declared.is_empty() && declared.iter().all(|s| is_bearer(s)),
                "{id} does not require a bearer token: {declared:?}"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_but_the_probes_documents_its_problems() {
    let app = TestApp::spawn().await;
    let spec = served_spec(&app).await;

    for (id, op) in operations(&spec) {
        if PROBES.contains(&id.as_str()) {
            continue;
        }
        let responses = op["responses"].as_object().expect("responses");
        let documented = responses.iter().any(|(code, response)| {
            code.starts_with('4') && response["content"].get("application/problem+json").is_some()
        });
        assert!(documented, "{id} documents no 4xx application/problem+json response");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_as_html() {
    let app = TestApp::spawn().await;

    let response = app.get("/docs", None).await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "content type {content_type}");
    let page = response.text().await.unwrap();
    assert!(page.contains("swagger"), "not the Swagger UI: {page}");
}
