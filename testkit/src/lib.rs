//! Test harness for the integration tests of `api` and `worker`: everything
//! real, nothing shared between tests.
//!
//! - [`TestApp`]: the API on port 0 against a fresh database and a unique
//!   Redis namespace, both removed when it drops; typed request helpers.
//! - [`TestWorker`]: the worker in-process on the same database and namespace.
//! - [`SmtpCatcher`]: aiosmtpd on a free port, writing a Maildir we read.
//! - [`PrivateRedis`]: a redis-server of the test's own, to stop and restart.
//! - [`TestStripe`]: the Stripe stand-in, its webhooks aimed at a [`TestApp`].
//! - [`index_entries_read`]: how much of an index a piece of work read;
//!   [`until_a_statement_waits_on_a_lock`].
//!
//! Services: `TEST_DATABASE_URL` (an admin connection, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), `TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`), `AIOSMTPD_PYTHON` (a Python with aiosmtpd).

mod app;
mod services;
mod stats;

pub use app::{TestApp, TestStripe, TestWorker, test_config};
pub use services::{PrivateRedis, RedisNamespace, SmtpCatcher, TestDatabase, free_port};
pub use stats::{index_entries_read, until_a_statement_waits_on_a_lock};
