//! Authentication: short-lived JWT access tokens, opaque rotating refresh
//! tokens kept in Redis, and the bearer security scheme every protected
//! operation declares.

mod bearer;
mod sessions;
mod tokens;

pub use bearer::{BearerAuth, OptionalAuth, SignedBearer, actor_of_token, open_account_role};
pub use sessions::{RotateError, Sessions};
pub use tokens::{AccessToken, TokenIssuer};
