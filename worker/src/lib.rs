//! The worker: consumes the Redis queues the API fills (through the outbox)
//! and does the slow, flaky work — sending email now; charging cards and
//! moving bookings along as those queues arrive.
//!
//! # Layout
//! - [`startup`]: `Application::build` and `run_until_stopped`; one
//!   supervised apalis consumer per queue, plus an outbox relay.
//! - [`emails`]: the `emails` queue handler: render, send once, record.
//! - [`mailer`]: SMTP through lettre.
//! - [`janitor`]: trims finished jobs that apalis-redis would keep forever.
//!
//! Delivery is at least once: a job may run again after a crash, so every
//! handler is idempotent (see [`emails::send_once`]).

pub mod emails;
pub mod janitor;
pub mod mailer;
pub mod startup;

pub use startup::Application;
