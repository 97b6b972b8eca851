//! `/graphql`: the same domain for flexible reads, and the common writes.
//! Every resolver calls the `shared` functions REST calls, with the caller
//! REST would see, so the rules live once; nested fields load through
//! per-request DataLoaders.
//!
//! Abusive queries are refused before they run: at most [`MAX_DEPTH`]
//! levels and [`MAX_COMPLEXITY`] points, where a connection's children
//! count once per item it may return.

mod loaders;
mod mutation;
mod query;

use async_graphql::{EmptySubscription, ErrorExtensions, Schema, SchemaBuilder, http::GraphiQLSource};
use async_graphql_poem::GraphQLResponse;
use poem::{
    Endpoint, EndpointExt, Request, handler,
    http::header,
    middleware::SizeLimit,
    web::{Data, Html, Json},
};
use shared::policy::Actor;

use crate::{
    auth,
    error::{ApiError, Problem},
    request_id::RequestId,
    state::AppState,
};

pub use loaders::Loaders;
pub use mutation::Mutation;
pub use query::Query;

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection accepted: the schema itself nests at most 10 levels;
/// introspection (GraphiQL, code generators) nests `ofType` up to 14.
pub const MAX_DEPTH: usize = 16;
/// Largest query cost accepted (a field is 1; a connection multiplies its
/// children by its page size).
pub const MAX_COMPLEXITY: usize = 5_000;
/// Largest request body, in bytes.
const MAX_BODY: usize = 64 * 1024;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).limit_depth(MAX_DEPTH).limit_complexity(MAX_COMPLEXITY)
}

/// The schema in SDL, as committed in `openapi/schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// Who is asking: a signed-in account, or nobody.
#[derive(Clone, Copy, Debug)]
pub struct Caller(pub Option<Actor>);

/// `GET` serves the GraphiQL playground, `POST` runs a query.
pub fn endpoint(state: &AppState) -> impl Endpoint + use<> {
    let schema = builder().data(state.clone()).finish();
    poem::get(playground).post(execute.data(schema).with(SizeLimit::new(MAX_BODY)))
}

#[handler]
fn playground() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("Airbnb clone GraphQL").finish())
}

/// Runs one query as the bearer of the `Authorization` header (anonymous
/// without one). A token that is sent but invalid is refused with 401, as
/// on REST, so that a client learns to refresh it rather than silently
/// reading as nobody.
#[handler]
async fn execute(
    request: &Request,
    state: Data<&AppState>,
    schema: Data<&AppSchema>,
    query: Json<async_graphql::Request>,
) -> poem::Result<GraphQLResponse> {
    let caller = match request.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .ok_or_else(|| ApiError::unauthorized("Send the access token as `Authorization: Bearer <token>`."))?;
            Some(auth::actor_of_token(&state, token.trim()).await?)
        }
    };
    let mut query = query.0.data(Caller(caller)).data(Loaders::new(&state.db));
    if let Some(id) = request.extensions().get::<RequestId>() {
        query = query.data(id.clone());
    }
    Ok(schema.execute(query).await.into())
}

/// A refused or failed field, with the problem REST would answer: `code`
/// (`NOT_FOUND`, `FORBIDDEN`, `UNAUTHENTICATED`, `BAD_USER_INPUT`,
/// `CONFLICT`, `UNAVAILABLE`, `INTERNAL_SERVER_ERROR`), `status`, `type`,
/// and the per-field `errors` of a validation failure.
impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let problem: Problem = problem_of(error);
        let code = match problem.status {
            400 | 422 => "BAD_USER_INPUT",
            401 => "UNAUTHENTICATED",
            403 => "FORBIDDEN",
            404 => "NOT_FOUND",
            409 => "CONFLICT",
            429 => "RATE_LIMITED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL_SERVER_ERROR",
        };
        let message = problem.detail.clone().unwrap_or_else(|| problem.title.clone());
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            ext.set("status", problem.status);
            ext.set("type", problem.ty.as_str());
            if let Some(errors) = &problem.errors {
                let list: Vec<async_graphql::Value> = errors
                    .iter()
                    .map(|e| {
                        let mut field = async_graphql::indexmap::IndexMap::new();
                        field.insert(async_graphql::Name::new("field"), e.field.as_str().into());
                        field.insert(async_graphql::Name::new("message"), e.message.as_str().into());
                        async_graphql::Value::Object(field)
                    })
                    .collect();
                ext.set("errors", list);
            }
        })
    }
}

fn problem_of(error: ApiError) -> Problem {
    match error {
        ApiError::BadRequest(p)
        | ApiError::Unauthorized(p, _)
        | ApiError::Forbidden(p)
        | ApiError::NotFound(p)
        | ApiError::Conflict(p)
        | ApiError::UnsupportedMediaType(p)
        | ApiError::Unprocessable(p)
        | ApiError::TooManyRequests(p, _)
        | ApiError::Internal(p)
        | ApiError::ServiceUnavailable(p) => p.0,
    }
}

/// A batch load that failed: a retry may get past it
/// ([`ApiError::retryable`]), or something is wrong.
fn load_failed(error: loaders::LoadError) -> async_graphql::Error {
    ApiError::retryable(&error).unwrap_or_else(|| ApiError::internal(anyhow::anyhow!("{error}"))).into()
}
