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

/// Every schema object in `value`, with a path for messages.
fn schemas<'a>(value: &'a Value, path: String, found: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(object) => {
            if object.contains_key("type") || object.contains_key("allOf") || object.contains_key("$ref") {
                found.push((path.clone(), value));
            }
            for (key, child) in object {
                schemas(child, format!("{path}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                schemas(child, format!("{path}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn a_documented_field_of_a_named_type_is_a_lone_reference_that_generators_can_read() {
    let app = TestApp::spawn().await;
    let spec = served_spec(&app).await;
    let mut found = Vec::new();
    schemas(&spec, String::new(), &mut found);

    let composed: Vec<&String> = found
        .iter()
        .filter(|(_, schema)| schema["allOf"].as_array().is_some_and(|members| members.len() > 1))
        .map(|(path, _)| path)
        .collect();
    assert!(composed.is_empty(), "allOf with more than a $ref (openapi-python-client drops these): {composed:?}");
    let role = &spec["components"]["schemas"]["CreateUserRequest"]["properties"]["role"];
    assert_eq!(role["allOf"][0]["$ref"], "#/components/schemas/RegistrationRole", "{role}");
    assert!(role["description"].is_string() && role["nullable"] == true, "{role}");
}

#[tokio::test]
async fn an_optional_field_is_declared_nullable_since_the_server_writes_and_reads_null() {
    let app = TestApp::spawn().await;
    let spec = served_spec(&app).await;
    // These two leave absent fields out instead of writing null.
    let omitting = ["Problem", "ServiceStatus"];

    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        let Some(properties) = schema["properties"].as_object() else { continue };
        let required: Vec<&str> =
            schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        for (field, property) in properties {
            if required.contains(&field.as_str()) || omitting.contains(&name.as_str()) {
                assert!(property.get("nullable").is_none(), "{name}.{field} is required yet nullable");
            } else {
                assert_eq!(property["nullable"], true, "{name}.{field} is optional but not nullable: {property}");
            }
        }
    }
}

#[tokio::test]
async fn request_bodies_refuse_unknown_fields_and_say_so() {
    let app = TestApp::spawn().await;
    let spec = served_spec(&app).await;

    let mut bodies = 0;
    for (id, op) in operations(&spec) {
        let content = op["requestBody"]["content"].as_object();
        let Some(reference) = content.into_iter().flatten().find_map(|(_, media)| media["schema"]["$ref"].as_str())
        else {
            continue;
        };
        let name = reference.trim_start_matches("#/components/schemas/");
        let schema = &spec["components"]["schemas"][name];
        assert_eq!(schema["additionalProperties"], false, "{id}: {name} does not declare additionalProperties: false");
        bodies += 1;
    }
    assert!(bodies >= 10, "only {bodies} request bodies found");
    for name in ["Property", "Booking", "User", "Problem"] {
        assert!(spec["components"]["schemas"][name].get("additionalProperties").is_none(), "{name} is closed");
    }
}

#[tokio::test]
async fn every_query_and_header_parameter_is_optional() {
    let app = TestApp::spawn().await;
    let spec = served_spec(&app).await;

    for (id, op) in operations(&spec) {
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] != "path" {
                assert_eq!(parameter["required"], false, "{id}: parameter {} is required", parameter["name"]);
            }
        }
    }
}
