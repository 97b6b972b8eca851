use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use shared::{
    domain::{Role, UserId},
    policy::Actor,
    users,
};

use crate::{error::ApiError, state::AppState};

/// A JWT access token from `POST /auth/login` or `POST /auth/refresh`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_access_token")]
pub struct BearerAuth(pub Actor);

/// A valid signature names the account; the account itself, read now, gives
/// the role. So a deleted account is refused and a changed role applies at
/// once, not when the token expires.
async fn check_access_token(request: &Request, bearer: Bearer) -> poem::Result<Actor> {
    let state = request.data::<AppState>().expect("BUG: AppState is attached to every route");
    Ok(actor_of_token(state, &bearer.token).await?)
}

/// The caller an access token names, as its account stands now.
pub async fn actor_of_token(state: &AppState, token: &str) -> Result<Actor, ApiError> {
    let Some(claimed) = state.tokens.verify(token) else {
        return Err(invalid_token());
    };
    Ok(Actor { user_id: claimed.user_id, role: open_account_role(state, claimed.user_id).await? })
}

/// The role of `user`'s account as it stands now; the 401 of a closed
/// account's token when it is closed.
pub async fn open_account_role(state: &AppState, user: UserId) -> Result<Role, ApiError> {
    match users::credentials(&state.db, user).await? {
        Some(account) => Ok(account.role),
        None => Err(ApiError::account_closed()),
    }
}

/// A JWT access token from `POST /auth/login` or `POST /auth/refresh`.
//
// The same scheme in the document as `BearerAuth`, checked by its signature
// alone: for an operation that needs no role and whose own statement
// requires the account open (answering `ApiError::account_closed` when it
// is not), which spares the request a read of the account.
#[derive(SecurityScheme)]
#[oai(rename = "BearerAuth", ty = "bearer", bearer_format = "JWT", checker = "check_signature")]
pub struct SignedBearer(pub UserId);

async fn check_signature(request: &Request, bearer: Bearer) -> poem::Result<UserId> {
    let state = request.data::<AppState>().expect("BUG: AppState is attached to every route");
    Ok(state.tokens.verify(&bearer.token).ok_or_else(invalid_token)?.user_id)
}

fn invalid_token() -> ApiError {
    ApiError::invalid_token("The access token is invalid or has expired.")
}

/// A bearer token when one is sent; anonymous otherwise. An invalid token
/// reads as anonymous: only public data is at stake on such operations.
#[derive(SecurityScheme)]
pub enum OptionalAuth {
    Bearer(BearerAuth),
    #[oai(fallback)]
    Anonymous,
}

impl OptionalAuth {
    pub fn actor(&self) -> Option<Actor> {
        match self {
            Self::Bearer(BearerAuth(actor)) => Some(*actor),
            Self::Anonymous => None,
        }
    }
}
