//! Code shared by the `api` and `worker` binaries: configuration, telemetry,
//! domain types and rules, SQL queries, and the job contract between them.
//!
//! # Layout
//! - [`config`]: the typed configuration read from the environment.
//! - [`telemetry`]: tracing set-up (text or JSON lines).
//! - [`domain`]: parsed request values (`Email`, `Password`…) and id newtypes.
//! - [`policy`]: who may do what, in one place for REST, GraphQL and jobs.
//! - [`password`]: Argon2id hashing on the blocking pool.
//! - [`pagination`]: page sizes and opaque keyset cursors.
//! - [`users`], [`properties`]: queries on accounts and listings (with search).
//! - [`bookings`]: pricing, holds, changes, cancellations and the sweeps.
//! - [`payments`]: payments, their settlement by worker or webhook, refunds.
//! - [`reviews`]: reviews and the rating aggregate of their property.
//! - [`error`]: `DomainError`, the refusal of a domain operation.
//! - [`db`], [`redis`]: connections and migrations.
//! - [`jobs`]: queue names and job payloads; [`outbox`]: how jobs leave a
//!   transaction and reach their queue.

pub mod bookings;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod outbox;
pub mod pagination;
pub mod password;
pub mod payments;
pub mod policy;
pub mod properties;
pub mod redis;
pub mod reviews;
pub mod telemetry;
pub mod users;

pub use config::Config;

/// Resolves on SIGTERM or Ctrl-C: both binaries shut down gracefully on it.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
