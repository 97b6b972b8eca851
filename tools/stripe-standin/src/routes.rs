//! HTTP. Requests under `/v1` go through, in order: authentication, injected faults, form
//! parsing, the idempotency key, the endpoint, an injected delay. Test controls live under
//! `/_standin` and need no key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Endpoint, EndpointExt, Request, Response, Route, get, handler, post};
use serde_json::{Value, json};

use crate::control::Standin;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::idempotency::{self, Claim, Fingerprint, Saved};
use crate::state::{RequestInfo, Settings, Shared, new_id};
use crate::{payments, refunds, webhooks};

pub fn app(shared: Arc<Shared>) -> impl Endpoint {
    let controls = Route::new()
        .at("/payment_intents", get(list_payment_intents))
        .at("/payment_intents/:id/authenticate", post(authenticate))
        .at("/charges", get(list_charges))
        .at("/refunds", get(list_refunds))
        .at("/events", get(list_events))
        .at("/events/:id/resend", post(resend))
        .at("/deliveries", get(list_deliveries))
        .at("/fail_next", post(fail_next))
        .at("/delay_next", post(delay_next))
        .at("/webhook", post(set_webhook))
        .at("/reset", post(reset));
    Route::new().nest("/_standin", controls).at("/", api).at("/*path", api).data(shared)
}

/// One API request, owned, so that it can be processed in its own task.
struct Call {
    method: String,
    path: String,
    query: String,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// A response and the headers Stripe sends with it.
struct Reply {
    status: StatusCode,
    body: String,
    request_id: String,
    idempotency_key: Option<String>,
    replayed: bool,
}

#[handler]
async fn api(req: &Request, body: Body, Data(shared): Data<&Arc<Shared>>) -> Response {
    let header = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = body.into_vec().await.unwrap_or_default();
    let call = Call {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        authorization: header(header::AUTHORIZATION),
        idempotency_key: header(header::HeaderName::from_static("idempotency-key")).filter(|key| !key.is_empty()),
        content_type: header(header::CONTENT_TYPE),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let api_version = shared.settings.api_version.clone();
    // The request runs to its end even if the client hangs up, as on a real server: a timed
    // out client may well have been charged.
    let reply = match tokio::spawn(process(shared.clone(), call)).await {
        Ok(reply) => reply,
        Err(error) => {
            tracing::error!(%error, "request task failed");
            let error = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "The stand-in failed.");
            Reply::error(&error, new_id("req"), None)
        }
    };
    let mut response = Response::builder()
        .status(reply.status)
        .content_type("application/json")
        .header("Request-Id", reply.request_id)
        .header("Stripe-Version", api_version);
    if let Some(key) = reply.idempotency_key {
        response = response.header("Idempotency-Key", key);
    }
    if reply.replayed {
        response = response.header("Idempotent-Replayed", "true");
    }
    response.body(reply.body)
}

async fn process(shared: Arc<Shared>, call: Call) -> Reply {
    let request_id = new_id("req");
    let api_key = match authenticate_key(&shared.settings, call.authorization.as_deref()) {
        Ok(api_key) => api_key,
        Err(error) => return Reply::error(&error, request_id, None),
    };
    let (fail, delay) = shared.lock().faults.take();
    // Stripe honours idempotency keys on POST only.
    let key = call.idempotency_key.clone().filter(|_| call.method == "POST");
    let pause = || async {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    };
    if let Some(fail) = fail.filter(|fail| !(fail.stored && key.is_some())) {
        pause().await;
        return Reply::error(&ApiError::injected(fail.status), request_id, key);
    }
    let params = match parse_params(&call) {
        Ok(params) => params,
        Err(error) => return Reply::error(&error, request_id, key),
    };
    if let Some(key) = &key {
        let fingerprint = Fingerprint { method: call.method.clone(), path: call.path.clone(), params: params.clone() };
        let claim = shared.lock().idempotency.claim(&api_key, key, fingerprint, Instant::now());
        match claim {
            Claim::Proceed => {}
            Claim::Replay(saved) => {
                pause().await;
                tracing::info!(key, "idempotent replay");
                let (status, body, request_id) = (saved.status, saved.body, saved.request_id);
                return Reply { status, body, request_id, idempotency_key: Some(key.clone()), replayed: true };
            }
            Claim::Refused(error) => return Reply::error(&error, request_id, Some(key.clone())),
        }
    }
    let request = RequestInfo { id: Some(request_id.clone()), idempotency_key: key.clone() };
    let result = match fail {
        Some(fail) => Err(ApiError::injected(fail.status)),
        None => dispatch(&shared, &call, &params, &request),
    };
    let (status, body) = match result {
        Ok(object) => (StatusCode::OK, object.to_string()),
        Err(error) => (error.status, error.to_json().to_string()),
    };
    tracing::info!(method = call.method, path = call.path, status = status.as_u16(), request = request_id, "api");
    tracing::debug!(params = %params.to_json(), response = body, "api");
    pause().await;
    if let Some(key) = &key {
        let saved =
            idempotency::is_saved(status).then(|| Saved { status, body: body.clone(), request_id: request_id.clone() });
        shared.lock().idempotency.finish(&api_key, key, saved);
    }
    Reply { status, body, request_id, idempotency_key: key, replayed: false }
}

fn dispatch(shared: &Arc<Shared>, call: &Call, params: &Params, request: &RequestInfo) -> ApiResult<Value> {
    let segments: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let mut store = shared.lock();
    let result = match (call.method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "payment_intents"]) => payments::create_payment_intent(&mut store, params, request),
        ("GET", ["v1", "payment_intents", id]) => payments::retrieve_payment_intent(&store, id),
        ("POST", ["v1", "payment_intents", id, "confirm"]) => {
            payments::confirm_payment_intent(&mut store, id, params, request)
        }
        ("POST", ["v1", "refunds"]) => refunds::create_refund(&mut store, params, request),
        ("GET", ["v1", "refunds", id]) => refunds::retrieve_refund(&store, id),
        _ => Err(ApiError::unrecognized_url(&call.method, &call.path)),
    };
    let outbox = std::mem::take(&mut store.outbox);
    drop(store);
    webhooks::deliver(shared, outbox);
    result
}

/// `Authorization: Bearer sk_test_…`, or Basic with the key as user name (`curl -u sk_test_…:`).
fn authenticate_key(settings: &Settings, authorization: Option<&str>) -> ApiResult<String> {
    let authorization = authorization.unwrap_or_default();
    let key = if let Some(token) = authorization.strip_prefix("Bearer ") {
        token.trim().to_owned()
    } else if let Some(encoded) = authorization.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap_or_default();
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        decoded.split(':').next().unwrap_or_default().to_owned()
    } else {
        String::new()
    };
    if key.is_empty() {
        return Err(ApiError::no_api_key());
    }
    let accepted = match &settings.api_key {
        Some(expected) => &key == expected,
        None => key.starts_with("sk_test_"),
    };
    if !accepted {
        return Err(ApiError::invalid_api_key(&key));
    }
    Ok(key)
}

fn parse_params(call: &Call) -> ApiResult<Params> {
    let form = call.content_type.as_deref().is_none_or(|kind| kind.starts_with("application/x-www-form-urlencoded"));
    if !call.body.is_empty() && !form {
        return Err(ApiError::invalid(
            StatusCode::BAD_REQUEST,
            "Invalid request: the Stripe API takes application/x-www-form-urlencoded parameters.",
        ));
    }
    let raw = if call.body.is_empty() { &call.query } else { &call.body };
    Params::parse(raw).map_err(|error| ApiError::invalid(StatusCode::BAD_REQUEST, error.to_string()))
}

impl Reply {
    fn error(error: &ApiError, request_id: String, idempotency_key: Option<String>) -> Self {
        let body = error.to_json().to_string();
        Reply { status: error.status, body, request_id, idempotency_key, replayed: false }
    }
}

// ---- /_standin ----

fn control_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = json!({ "error": { "type": "invalid_request_error", "message": message.to_string() } });
    Response::builder().status(status).content_type("application/json").body(body.to_string())
}

fn json_response(value: Value) -> Response {
    Response::builder().content_type("application/json").body(value.to_string())
}

fn standin(shared: &Arc<Shared>) -> Standin {
    Standin::new(shared.clone())
}

#[handler]
fn list_payment_intents(Data(shared): Data<&Arc<Shared>>) -> Response {
    json_response(standin(shared).payment_intents().into())
}

#[handler]
fn list_charges(Data(shared): Data<&Arc<Shared>>) -> Response {
    json_response(standin(shared).charges().into())
}

#[handler]
fn list_refunds(Data(shared): Data<&Arc<Shared>>) -> Response {
    json_response(standin(shared).refunds().into())
}

#[handler]
fn list_events(Data(shared): Data<&Arc<Shared>>) -> Response {
    json_response(standin(shared).events().into())
}

#[handler]
fn list_deliveries(Data(shared): Data<&Arc<Shared>>) -> Response {
    json_response(standin(shared).deliveries().into())
}

#[handler]
fn resend(Path(id): Path<String>, Data(shared): Data<&Arc<Shared>>) -> Response {
    match standin(shared).resend_event(&id) {
        Ok(()) => json_response(json!({ "id": id, "resent": true })),
        Err(error) => control_error(StatusCode::CONFLICT, error),
    }
}

/// `?outcome=succeed` (default) or `?outcome=fail`.
#[handler]
fn authenticate(req: &Request, Path(id): Path<String>, Data(shared): Data<&Arc<Shared>>) -> Response {
    let query = Params::parse(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let succeed = query.str("outcome") != Some("fail");
    match standin(shared).authenticate(&id, succeed) {
        Ok(pi) => json_response(pi),
        Err(error) => {
            Response::builder().status(StatusCode::BAD_REQUEST).content_type("application/json").body(error.to_string())
        }
    }
}

/// `?count=N&status=500&stored=false`.
#[handler]
fn fail_next(req: &Request, Data(shared): Data<&Arc<Shared>>) -> Response {
    let query = Params::parse(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let count = query.str("count").map_or(Ok(1), str::parse::<u32>);
    let status = query.str("status").map_or(Ok(500), str::parse::<u16>);
    let (Ok(count), Ok(status)) = (count, status) else {
        return control_error(StatusCode::BAD_REQUEST, "count and status must be integers");
    };
    let stored = query.str("stored") == Some("true");
    match standin(shared).fail_next(count, status, stored) {
        Ok(()) => json_response(json!({ "count": count, "status": status, "stored": stored })),
        Err(error) => control_error(StatusCode::BAD_REQUEST, error),
    }
}

/// `?ms=M&count=N`.
#[handler]
fn delay_next(req: &Request, Data(shared): Data<&Arc<Shared>>) -> Response {
    let query = Params::parse(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let ms = query.str("ms").map(str::parse::<u64>);
    let count = query.str("count").map_or(Ok(1), str::parse::<u32>);
    let (Some(Ok(ms)), Ok(count)) = (ms, count) else {
        return control_error(StatusCode::BAD_REQUEST, "ms (required) and count must be integers");
    };
    standin(shared).delay_next(count, Duration::from_millis(ms));
    json_response(json!({ "ms": ms, "count": count }))
}

/// Form (`url=…&secret=…`) or JSON (`{"url": …, "secret": …}`); no or an empty `url` stops
/// deliveries.
#[handler]
async fn set_webhook(req: &Request, body: Body, Data(shared): Data<&Arc<Shared>>) -> Response {
    let body = body.into_string().await.unwrap_or_default();
    let is_json = req.content_type().is_some_and(|kind| kind.starts_with("application/json"));
    let (url, secret) = if is_json {
        match serde_json::from_str::<Value>(&body) {
            Ok(value) => (value["url"].as_str().map(str::to_owned), value["secret"].as_str().map(str::to_owned)),
            Err(error) => return control_error(StatusCode::BAD_REQUEST, error),
        }
    } else {
        let raw = if body.is_empty() { req.uri().query().unwrap_or_default() } else { &body };
        match Params::parse(raw) {
            Ok(form) => (form.str("url").map(str::to_owned), form.str("secret").map(str::to_owned)),
            Err(error) => return control_error(StatusCode::BAD_REQUEST, error),
        }
    };
    let standin = standin(shared);
    standin.set_webhook(url.clone(), secret);
    json_response(json!({ "url": url }))
}

#[handler]
fn reset(Data(shared): Data<&Arc<Shared>>) -> Response {
    standin(shared).reset();
    json_response(json!({ "reset": true }))
}
