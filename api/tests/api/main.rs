//! Integration tests of the HTTP API: each test runs the real application on
//! port 0 against a database and a Redis namespace of its own.
//!
//! # Layout
//! - [`helpers`]: accounts, raw requests and the problem+json assertions.
//! - [`auth`]: sign-in, refresh-token rotation and reuse, sign-out, bad tokens.
//! - [`users`]: registration, access control, administration, deletion.
//! - [`cache`]: the Redis cache: hits, and no stale read after a write.
//! - [`errors`]: bad input answers 4xx problem+json and changes nothing.
//! - [`graphql`]: `/graphql` against REST for every caller, its limits and schema.
//! - [`openapi`]: the served document, its committed copy, the docs UI.
//! - [`ops`]: health, readiness and request ids.
//! - [`fixtures`]: listings, bookings and ended stays.
//! - [`properties`], [`search`]: listings and their search.
//! - [`bookings`]: holds, double booking under concurrency, changes, cancellations.
//! - [`rate_limits`]: sign-in and per-client budgets, 429 and its headers.
//! - [`reviews`]: reviews of ended stays and the rating aggregate.

mod auth;
mod bookings;
mod cache;
mod errors;
mod fixtures;
mod graphql;
mod helpers;
mod openapi;
mod ops;
mod properties;
mod rate_limits;
mod reviews;
mod search;
mod users;
