//! Errors in Stripe's shape: an HTTP status and `{"error": {"type", "message", "code"?, …}}`.

use poem::http::StatusCode;
use serde_json::{Map, Value};

/// An error response. `body` is the object under `"error"`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Map<String, Value>,
}

pub type ApiResult<T = Value> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("type".into(), kind.into());
        body.insert("message".into(), message.into().into());
        Self { status, body }
    }

    /// An `invalid_request_error`, Stripe's type for every 4xx other than card declines.
    pub fn invalid(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "invalid_request_error", message)
    }

    /// Sets `code` and the matching `doc_url`, as Stripe does.
    pub fn code(self, code: &str) -> Self {
        let doc_url = format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-"));
        self.with("code", code).with("doc_url", doc_url)
    }

    pub fn param(self, param: &str) -> Self {
        self.with("param", param)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.body.insert(key.into(), value.into());
        self
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({ "error": self.body })
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid(StatusCode::BAD_REQUEST, format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
    }

    pub fn invalid_integer(param: &str, value: &str) -> Self {
        Self::invalid(StatusCode::BAD_REQUEST, format!("Invalid integer: {value}"))
            .code("parameter_invalid_integer")
            .param(param)
    }

    /// A parameter with a value outside what the endpoint accepts.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid(StatusCode::BAD_REQUEST, message).param(param)
    }

    /// `No such payment_intent: 'pi_…'`: 404 for an id in the path, 400 for one in a parameter.
    pub fn no_such(status: StatusCode, kind: &str, id: &str, param: &str) -> Self {
        Self::invalid(status, format!("No such {kind}: '{id}'")).code("resource_missing").param(param)
    }

    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        Self::invalid(
            StatusCode::NOT_FOUND,
            format!(
                "Unrecognized request URL ({method}: {path}). The Stripe stand-in implements only \
                 POST /v1/payment_intents, GET /v1/payment_intents/:id, POST /v1/payment_intents/:id/confirm, \
                 POST /v1/refunds and GET /v1/refunds/:id."
            ),
        )
    }

    /// Something real Stripe accepts that the stand-in chose not to model.
    pub fn not_implemented(what: &str) -> Self {
        Self::invalid(StatusCode::BAD_REQUEST, format!("The Stripe stand-in does not implement {what}."))
    }

    pub fn no_api_key() -> Self {
        Self::invalid(
            StatusCode::UNAUTHORIZED,
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See \
             https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
        )
    }

    pub fn invalid_api_key(key: &str) -> Self {
        // Like Stripe, show the kind (`sk_live_`) and the last four characters only.
        let prefix = key.match_indices('_').nth(1).map_or("", |(end, _)| &key[..=end]);
        let tail = key.char_indices().rev().nth(3).map_or("", |(start, _)| &key[start..]);
        Self::invalid(StatusCode::UNAUTHORIZED, format!("Invalid API Key provided: {prefix}****{tail}"))
    }

    /// What `/_standin/fail_next` injects: `api_error` for 5xx, `rate_limit` for 429.
    pub fn injected(status: StatusCode) -> Self {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Self::invalid(
                status,
                "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            )
            .code("rate_limit");
        }
        Self::new(
            status,
            "api_error",
            "An unknown error occurred while processing your request (injected by the Stripe stand-in).",
        )
    }
}
