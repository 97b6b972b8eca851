//! Argon2id password hashing, off the async executor.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// Argon2id at 12 MiB, 3 passes, 1 lane: one of the settings OWASP's
/// password storage guidance lists as equal to one another (19 MiB and 2
/// passes is another), the one that trades memory for a pass. Two hashes
/// at once (one per core) then hold 24 MiB rather than 38, which keeps the
/// API within 64 MiB under sign-in load; the CPU a hash costs is about the
/// same. Hashes made with other parameters carry them and still verify.
fn hasher() -> Argon2<'static> {
    let params = Params::new(12 * 1024, 3, 1, None).expect("BUG: constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes run at once in this process: one per core. Each holds 12 MiB
/// and a core for its whole run, so more at a time only share the cores
/// while their memory adds up (32 sign-ins at once took the API past
/// 3 GiB, memory the allocator then kept). Others wait their turn here.
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        release_large_allocations();
        Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

/// Each hash allocates and frees 12 MiB of blocks. glibc's malloc raises
/// its mmap threshold past such a block once one is freed, and from then
/// on keeps freed blocks in its per-thread arenas: the API's RSS stayed
/// above 500 MiB after a burst of sign-ins. A fixed threshold gives every
/// large block a mapping of its own, returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_large_allocations() {
    // SAFETY: mallopt only sets an allocator tunable, and any threshold
    // value is valid; allocations made before keep working.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_large_allocations() {}

/// Runs `work` on the blocking pool once a hashing permit is free.
async fn limited<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    what: &'static str,
) -> anyhow::Result<T> {
    let _permit = permits().acquire().await.expect("BUG: the hashing semaphore is never closed");
    tokio::task::spawn_blocking(work).await.context(what)?
}

/// Hashes a password into a PHC string, on the blocking pool.
pub async fn hash(password: Password) -> anyhow::Result<String> {
    limited(
        move || {
            hasher()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        },
        "password hashing task",
    )
    .await
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
    limited(
        move || match hasher().verify_password(password.expose().as_bytes(), hash.as_str()) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("verifying a password hash: {e}")),
        },
        "password verification task",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password_and_is_argon2id() {
        let hash = hash(Password::parse_new("correct horse".into()).unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"));
        assert!(verify(Password::candidate("correct horse".into()), hash.clone()).await.unwrap());
        assert!(!verify(Password::candidate("wrong horse".into()), hash).await.unwrap());
        assert!(!verify(Password::candidate("x".into()), dummy_hash().to_owned()).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hash = hash(Password::parse_new("correct horse".into()).unwrap()).await.unwrap();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let checks = (0..4 * cores).map(|_| {
            let (running, most, hash) = (running.clone(), most.clone(), hash.clone());
            tokio::spawn(async move {
                limited(
                    move || {
                        let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        let ok = hasher().verify_password(b"correct horse", hash.as_str()).is_ok();
                        running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(ok)
                    },
                    "test",
                )
                .await
            })
        });
        for check in futures::future::join_all(checks).await {
            assert!(check.unwrap().unwrap());
        }
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!(most <= cores, "{most} hashes ran at once on {cores} cores");
    }
}
