//! The worker: consumes the Redis queues the API fills (through the outbox)
//! and does the slow, flaky work — sending email now, charging cards as
//! that queue arrives — and moves bookings along in time.
//!
//! # Layout
//! - [`startup`]: `Application::build` and `run_until_stopped`; one
//!   supervised apalis consumer per queue, plus an outbox relay.
//! - [`bookings`]: the `bookings` queue: holds expiring and stays completing
//!   at their due time.
//! - [`emails`]: the `emails` queue handler: load, render, send once,
//!   record; [`emails::templates`] words each email.
//! - [`payments`]: the `payments` queue handler: charges and refunds
//!   through Stripe, each under an idempotency key of its payment.
//! - [`mailer`]: SMTP through lettre.
//! - [`sweeper`]: every 30 s, expires unpaid holds, completes finished
//!   stays (both queue their emails) and purges day-old idempotency keys.
//! - [`dead`]: the dead set of each queue: listing and running again.
//! - [`janitor`]: trims finished jobs that apalis-redis would keep forever.
//! - [`wake`]: polls a queue at once when a producer announces a push.
//!
//! Delivery is at least once: a job may run again after a crash, so every
//! handler is idempotent (see [`emails::send_once`]).

pub mod bookings;
pub mod dead;
pub mod emails;
pub mod janitor;
pub mod mailer;
pub mod payments;
pub mod startup;
pub mod sweeper;
pub mod wake;

pub use startup::Application;
