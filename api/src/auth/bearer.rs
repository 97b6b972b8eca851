use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use shared::policy::Actor;

use crate::{error::ApiError, state::AppState};

/// A JWT access token from `POST /auth/login` or `POST /auth/refresh`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_access_token")]
pub struct BearerAuth(pub Actor);

async fn check_access_token(request: &Request, bearer: Bearer) -> poem::Result<Actor> {
    let state = request.data::<AppState>().expect("BUG: AppState is attached to every route");
    state
        .tokens
        .verify(&bearer.token)
        .ok_or_else(|| ApiError::invalid_token("The access token is invalid or has expired.").into())
}
