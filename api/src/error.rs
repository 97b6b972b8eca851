//! One error type for every route, rendered as RFC 9457 problem+json, and
//! the catch-all that gives poem's own failures (unparsable bodies, unknown
//! routes, missing tokens…) the same shape.
//!
//! Status codes: 400 when a request does not match the OpenAPI schema
//! (malformed JSON, wrong types, values outside documented bounds); 422 when
//! it matches the schema but breaks a rule (the `errors` list names each
//! field); 401, 403, 404, 409 as usual; 503 while a backing service is down,
//! or when PostgreSQL rolled the request's transaction back for another.

use poem::{Error, IntoResponse, Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, error as oai, payload::Json, types::ToJSON};
use shared::{
    domain::{FieldError as DomainFieldError, ValidationErrors},
    error::DomainError,
};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// An RFC 9457 problem document.
#[derive(Object, Debug, Clone)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[oai(rename = "type")]
    pub ty: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: Option<String>,
    /// For validation problems: each rejected field and why.
    pub errors: Option<Vec<FieldError>>,
}

/// A rejected request field.
#[derive(Object, Debug, Clone)]
pub struct FieldError {
    /// The field's name in the request body or query.
    pub field: String,
    /// Why its value was rejected.
    pub message: String,
}

/// Every error an operation can answer with.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request does not match the documented schema.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, expired or invalid credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// Authenticated, but not allowed to do this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource, or not visible to the caller.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the current state (duplicate, overlap…).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is not JSON (`Content-Type` must be `application/json`).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The request is well-formed but breaks a rule; `errors` lists the fields.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Over a rate limit; retry after `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// An unexpected error; details are in the server log under the request id.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A backing service (database, Redis) is down, or a concurrent change got in the way; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    ServiceUnavailable(Json<Problem>),
}

fn problem(status: StatusCode, slug: Option<&str>, detail: impl Into<String>) -> Json<Problem> {
    Json(Problem {
        ty: slug.map_or_else(|| "about:blank".to_owned(), |slug| format!("/problems/{slug}")),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: Some(detail.into()),
        errors: None,
    })
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(problem(StatusCode::BAD_REQUEST, None, detail))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(problem(StatusCode::UNAUTHORIZED, None, detail), "Bearer".to_owned())
    }

    /// A 401 for a bearer token that was sent but is not valid (RFC 6750).
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self::Unauthorized(
            problem(StatusCode::UNAUTHORIZED, Some("invalid-token"), detail),
            r#"Bearer error="invalid_token""#.to_owned(),
        )
    }

    /// A 401 for a validly signed token whose account is closed.
    pub fn account_closed() -> Self {
        Self::invalid_token("The account of this access token no longer exists.")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(problem(StatusCode::FORBIDDEN, None, detail))
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(problem(StatusCode::NOT_FOUND, None, format!("No {what} with this id is visible to you.")))
    }

    pub fn conflict(slug: &str, detail: impl Into<String>) -> Self {
        Self::Conflict(problem(StatusCode::CONFLICT, Some(slug), detail))
    }

    pub fn validation(errors: ValidationErrors) -> Self {
        let mut body = problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("validation-error"),
            "Some fields are invalid; see `errors`.",
        );
        body.0.errors = Some(
            errors.0.into_iter().map(|DomainFieldError { field, message }| FieldError { field, message }).collect(),
        );
        Self::Unprocessable(body)
    }

    /// A 422 about one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(ValidationErrors::single(field, message))
    }

    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::TooManyRequests(problem(StatusCode::TOO_MANY_REQUESTS, Some("rate-limited"), detail), retry_after_secs)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::ServiceUnavailable(problem(StatusCode::SERVICE_UNAVAILABLE, None, detail))
    }

    /// Logs the cause chain and answers an opaque 500.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        tracing::error!(error = format!("{error:#}"), "internal error");
        Self::Internal(problem(StatusCode::INTERNAL_SERVER_ERROR, None, "An unexpected error occurred."))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        match error.downcast::<sqlx::Error>() {
            Ok(db) => db.into(),
            Err(other) => Self::internal(other),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::NotFound(what) => Self::not_found(what),
            DomainError::AccountClosed => Self::account_closed(),
            DomainError::Forbidden(detail) => Self::forbidden(detail),
            DomainError::Invalid(errors) => Self::validation(errors),
            DomainError::Conflict { slug, detail } => Self::conflict(slug, detail),
            DomainError::Database(error) => error.into(),
            DomainError::Other(error) => error.into(),
        }
    }
}

/// Redis errors on a request path (sessions): the store is unavailable.
impl From<redis::RedisError> for ApiError {
    fn from(error: redis::RedisError) -> Self {
        tracing::error!(%error, "redis unavailable");
        Self::unavailable("A backing service is unavailable; retry shortly.")
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::validation(errors)
    }
}

/// Database errors by constraint name: the schema enforces the rules, this
/// says what each one means to a client.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let Some(constraint) = shared::db::violated_constraint(&error) {
            match constraint {
                "users_email_key" => {
                    return Self::conflict("duplicate-email", "An account with this email address already exists.");
                }
                "bookings_no_overlap" => {
                    return Self::conflict(
                        "dates-unavailable",
                        "These dates overlap another booking of this property.",
                    );
                }
                "reviews_one_per_booking" => {
                    return Self::conflict("duplicate-review", "This booking already has a review.");
                }
                "payments_one_live_per_booking" => {
                    return Self::conflict(
                        "payment-exists",
                        "This booking already has a payment in progress or completed.",
                    );
                }
                _ => {}
            }
        }
        match &error {
            sqlx::Error::Database(db) if db.constraint() == Some("bookings_guests_within_max") => {
                Self::invalid_field("guests", "exceeds the property's maximum")
            }
            // character_not_in_repertoire: a NUL character, which PostgreSQL
            // text cannot hold, in input that no parser refused first.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
                tracing::warn!(error = %db, "text with a NUL character reached the database");
                Self::invalid_field("request", "text must not contain NUL characters")
            }
            sqlx::Error::Database(db) if db.is_check_violation() => {
                Self::invalid_field(db.constraint().unwrap_or("request"), "breaks a data rule")
            }
            _ => Self::retryable(&error).unwrap_or_else(|| Self::internal(error)),
        }
    }
}

impl ApiError {
    /// The 503 for a database error that a retry may get past: the
    /// database out of reach, or the transaction rolled back for another.
    /// `None` for any other error.
    pub fn retryable(error: &sqlx::Error) -> Option<Self> {
        if shared::db::unavailable(error) {
            tracing::error!(%error, "database unavailable");
            return Some(Self::unavailable("The database is unavailable; retry shortly."));
        }
        if shared::db::rolled_back_for_another(error) {
            // Logged as an error all the same: a deadlock means two code
            // paths take the same rows in different orders.
            tracing::error!(%error, "transaction rolled back for a concurrent one");
            return Some(Self::unavailable("A concurrent change got in the way; retry shortly."));
        }
        None
    }
}

fn render(status: StatusCode, slug: Option<&str>, detail: impl Into<String>) -> Response {
    let body = problem(status, slug, detail).0;
    Response::builder().status(status).content_type("application/problem+json").body(body.to_json_string())
}

/// Turns any error that escaped an endpoint into a problem+json response.
pub async fn render_problem(error: Error) -> Response {
    if error.is_from_response() {
        // An `ApiError` (or another already-built response) passes through.
        return error.into_response();
    }
    if error.is::<poem::error::NotFoundError>() {
        return render(StatusCode::NOT_FOUND, None, "No such route.");
    }
    if error.is::<poem::error::MethodNotAllowedError>() {
        return render(StatusCode::METHOD_NOT_ALLOWED, None, "This route does not support this method.");
    }
    if let Some(e) = error.downcast_ref::<oai::ParseRequestPayloadError>() {
        return render(
            StatusCode::BAD_REQUEST,
            Some("malformed-body"),
            format!("The request body is invalid: {}", e.reason),
        );
    }
    if let Some(e) = error.downcast_ref::<oai::ParseParamError>() {
        return render(
            StatusCode::BAD_REQUEST,
            Some("malformed-parameter"),
            format!("Parameter `{}` is invalid: {}", e.name, e.reason),
        );
    }
    if error.is::<oai::ParsePathError>() || error.is::<poem::error::ParsePathError>() {
        return render(StatusCode::NOT_FOUND, None, "No resource at this path (ids are UUIDs).");
    }
    if let Some(e) = error.downcast_ref::<oai::ContentTypeError>() {
        return render(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, format!("{e}; send application/json."));
    }
    if error.is::<oai::AuthorizationError>() {
        return ApiError::unauthorized("This operation needs an `Authorization: Bearer <access token>` header.")
            .into_response();
    }
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %error, "unhandled server error");
        return render(status, None, "An unexpected error occurred.");
    }
    render(status, None, error.to_string())
}

/// The response to a panic in a handler: logged by the panic hook, opaque here.
pub fn panic_response() -> Response {
    render(StatusCode::INTERNAL_SERVER_ERROR, None, "An unexpected error occurred.")
}
