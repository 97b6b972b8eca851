use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shared::{
    domain::{Role, UserId},
    policy::Actor,
};
use uuid::Uuid;

const ISSUER: &str = "airbnb-clone-api";
const AUDIENCE: &str = "airbnb-clone";

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    role: Role,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

/// A signed access token and how long it lives.
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

/// Signs and verifies HS256 access tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenIssuer {
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let secret = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    pub fn issue(&self, actor: Actor) -> anyhow::Result<AccessToken> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: actor.user_id.0,
            role: actor.role,
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(AccessToken { token, expires_in: self.ttl })
    }

    /// The caller a token speaks for; `None` for an expired, tampered,
    /// foreign or malformed token.
    pub fn verify(&self, token: &str) -> Option<Actor> {
        match decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Some(Actor { user_id: UserId(data.claims.sub), role: data.claims.role }),
            Err(error) => {
                tracing::debug!(%error, "access token refused");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &str, ttl: u64) -> TokenIssuer {
        TokenIssuer::new(&SecretString::from(secret.to_owned()), Duration::from_secs(ttl))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_verifies_to_the_actor_it_was_issued_for() {
        let actor = Actor { user_id: UserId::new(), role: Role::Host };
        let token = issuer(SECRET, 900).issue(actor).unwrap();
        assert_eq!(issuer(SECRET, 900).verify(&token.token), Some(actor));
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused() {
        let actor = Actor { user_id: UserId::new(), role: Role::Guest };
        let token = issuer(SECRET, 900).issue(actor).unwrap().token;
        assert_eq!(issuer("another-secret-another-secret-xx", 900).verify(&token), None);
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert_eq!(issuer(SECRET, 900).verify(&tampered), None);
        let now = jsonwebtoken::get_current_timestamp();
        let expired = Claims {
            sub: actor.user_id.0,
            role: Role::Admin,
            iat: now - 1000,
            exp: now - 100,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let expired =
            encode(&Header::new(Algorithm::HS256), &expired, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
        assert_eq!(issuer(SECRET, 900).verify(&expired), None);
        let foreign = Claims {
            sub: actor.user_id.0,
            role: Role::Admin,
            iat: now,
            exp: now + 100,
            iss: "someone-else".into(),
            aud: AUDIENCE.into(),
        };
        let foreign =
            encode(&Header::new(Algorithm::HS256), &foreign, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
        assert_eq!(issuer(SECRET, 900).verify(&foreign), None);
        let none_alg = format!("{}.{}.", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", token.split('.').nth(1).unwrap());
        assert_eq!(issuer(SECRET, 900).verify(&none_alg), None);
    }
}
