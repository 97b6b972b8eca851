use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use shared::{
    domain::{Email, Password},
    password,
    policy::Actor,
    users,
};

use crate::{
    auth::RotateError,
    error::{ApiError, Result},
    rate_limit,
    routes::Tag,
    state::AppState,
    types::Text,
};

pub struct AuthApi {
    pub state: AppState,
}

/// Credentials of an account.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct LoginRequest {
    #[oai(validator(max_length = 254))]
    email: Text,
    #[oai(validator(max_length = 128))]
    password: Text,
}

/// A refresh token from a previous login or refresh.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct RefreshRequest {
    #[oai(validator(max_length = 128))]
    refresh_token: Text,
}

/// Tokens of a session.
#[derive(Object)]
struct TokenResponse {
    /// JWT to send as `Authorization: Bearer <access_token>`.
    access_token: String,
    /// Opaque, single-use token for `POST /auth/refresh`.
    refresh_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// The session is over (also when the token was already invalid).
    #[oai(status = 204)]
    LoggedOut,
}

impl AuthApi {
    async fn tokens_for(&self, actor: Actor, refresh_token: String) -> Result<Json<TokenResponse>> {
        let access = self.state.tokens.issue(actor)?;
        Ok(Json(TokenResponse {
            access_token: access.token,
            refresh_token,
            token_type: "Bearer".into(),
            expires_in: access.expires_in.as_secs(),
        }))
    }
}

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Sign in with email and password
    ///
    /// A wrong email and a wrong password get the same answer.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(&self, body: Json<LoginRequest>, request: &Request) -> Result<Json<TokenResponse>> {
        const REFUSED: &str = "The email or password is incorrect.";
        let limits = &self.state.config.rate_limits;
        let account_key =
            self.state.config.redis_key(&format!("ratelimit:login-account:{}", body.0.email.trim().to_lowercase()));
        if limits.enabled {
            let ip = rate_limit::client_ip(&limits.trusted_proxies, request);
            let ip_key = self.state.config.redis_key(&format!("ratelimit:login-ip:{ip}"));
            let redis = &self.state.redis;
            if let Some(budget) = rate_limit::count(redis, &ip_key, 1, limits.login_per_ip, limits.login_window).await
                && budget.exceeded()
            {
                return Err(budget.refusal("sign-in attempts from this address"));
            }
            // Failed attempts so far; the password is not even checked past the limit.
            if let Some(budget) =
                rate_limit::count(redis, &account_key, 0, limits.login_per_account, limits.login_window).await
                && budget.used >= budget.limit
            {
                return Err(budget.refusal("failed sign-ins for this account"));
            }
        }
        let candidate = Password::candidate(body.0.password.into_inner());
        let account = match Email::parse(&body.0.email) {
            Ok(email) => users::credentials_by_email(&self.state.db, &email).await?,
            Err(_) => None,
        };
        // Verify against a dummy hash when there is no account, so the answer
        // takes as long whether or not the email is registered.
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let matches =
            password::verify(candidate, hash.clone().unwrap_or_else(|| password::dummy_hash().to_owned())).await?;
        let account = match account {
            Some(account) if matches && hash.is_some() => account,
            _ => {
                if limits.enabled {
                    rate_limit::count(
                        &self.state.redis,
                        &account_key,
                        1,
                        limits.login_per_account,
                        limits.login_window,
                    )
                    .await;
                }
                return Err(ApiError::unauthorized(REFUSED));
            }
        };
        if limits.enabled {
            rate_limit::clear(&self.state.redis, &account_key).await;
        }
        let refresh = self.state.sessions.start(account.id).await?;
        tracing::info!(user_id = %account.id, "signed in");
        self.tokens_for(Actor { user_id: account.id, role: account.role }, refresh).await
    }

    /// Exchange a refresh token for new tokens
    ///
    /// Each refresh token works once; the response carries its successor.
    /// Presenting a used token again revokes the whole sign-in.
    #[oai(path = "/auth/refresh", method = "post", operation_id = "refreshToken")]
    async fn refresh(&self, body: Json<RefreshRequest>) -> Result<Json<TokenResponse>> {
        let (user_id, next) = match self.state.sessions.rotate(&body.0.refresh_token).await {
            Ok(rotated) => rotated,
            Err(RotateError::Redis(error)) => return Err(error.into()),
            Err(refused) => return Err(ApiError::invalid_token(format!("The refresh token was refused: {refused}."))),
        };
        let Some(account) = users::credentials(&self.state.db, user_id).await? else {
            return Err(ApiError::invalid_token("The account of this session no longer exists."));
        };
        self.tokens_for(Actor { user_id, role: account.role }, next).await
    }

    /// Sign out: revoke a refresh token's session
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, body: Json<RefreshRequest>) -> Result<LogoutResponse> {
        self.state.sessions.revoke(&body.0.refresh_token).await?;
        Ok(LogoutResponse::LoggedOut)
    }
}
