//! Argon2id password hashing, off the async executor.

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::domain::Password;

/// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("BUG: constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string, on the blocking pool.
pub async fn hash(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        hasher()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// A PHC string of a password nobody has, verified when the account is
/// unknown so that a failed sign-in takes as long whether or not it exists.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut salt_and_secret = [0u8; 16];
        rand::fill(&mut salt_and_secret);
        hasher().hash_password(&salt_and_secret).expect("BUG: hashing a constant succeeds").to_string()
    })
}

/// True when `password` matches the PHC string `hash`, on the blocking pool.
pub async fn verify(password: Password, hash: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || match hasher().verify_password(password.expose().as_bytes(), hash.as_str()) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("verifying a password hash: {e}")),
    })
    .await
    .context("password verification task")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password_and_is_argon2id() {
        let hash = hash(Password::parse_new("correct horse".into()).unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(Password::candidate("correct horse".into()), hash.clone()).await.unwrap());
        assert!(!verify(Password::candidate("wrong horse".into()), hash).await.unwrap());
        assert!(!verify(Password::candidate("x".into()), dummy_hash().to_owned()).await.unwrap());
    }
}
