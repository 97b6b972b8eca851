//! The HTTP API: a poem-openapi server that answers clients and writes the
//! jobs that the worker runs.
//!
//! # Layout
//! - [`startup`]: `Application::build` binds the server; `run_until_stopped` serves.
//! - [`routes`]: one module per resource, combined into one OpenAPI service.
//! - [`graphql`]: `/graphql`, the same domain for flexible reads, batched.
//! - [`listings`]: property detail and search pages, cached, for REST and GraphQL.
//! - [`cache`]: versioned Redis cache of property details and first search pages.
//! - [`auth`]: JWT access tokens, Redis refresh-token sessions, the bearer scheme.
//! - [`error`]: `ApiError` and the problem+json rendering of every failure.
//! - [`openapi`]: the served OpenAPI document, corrected for generators; `Allow` of a 405.
//! - [`rate_limit`]: per-client and sign-in budgets in Redis (429).
//! - [`request_id`]: the per-request id and tracing span.
//! - [`idempotency`]: `Idempotency-Key` replay of retried writes.
//! - [`stripe_webhook`]: verifying and applying Stripe's events.
//! - [`types`]: schema scalars (`Date`).
//! - [`state`]: what handlers share.
//! - [`cli`]: operator commands (`serve`, `create-admin`, `openapi`).
//! - [`allocator`]: the binary's global allocator, mimalloc with large blocks mapped.

// `ApiError` carries its problem document by value: errors are the cold
// path, and boxing would only add an allocation to each.
#![allow(clippy::result_large_err)]

pub mod allocator;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod error;
pub mod graphql;
pub mod idempotency;
pub mod listings;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod state;
pub mod stripe_webhook;
pub mod types;

pub use startup::Application;
