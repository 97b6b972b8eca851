//! Loads a database with realistic marketplace data at a chosen scale, for
//! benchmarks: users (one admin, hosts, guests) who all share one known
//! password, listings spread over real cities with realistic prices and
//! amenities, a year and a half of non-overlapping stays with their
//! payments, and reviews with the listings' rating aggregates to match.
//! Deterministic for a given `--seed` and day.
//!
//! # Layout
//! - [`data`]: cities, names, amenities and words rows are drawn from.
//! - [`plan`]: draws every row in memory (what ties tables together).
//! - [`load`]: writes the rows with `COPY`, in one transaction.

pub mod data;
pub mod load;
pub mod plan;

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use shared::domain::Password;
use sqlx::{Connection, PgConnection};

pub use plan::Scale;

/// What `seed` does.
#[derive(Clone, Debug)]
pub struct Options {
    pub database_url: String,
    pub scale: Scale,
    pub seed: u64,
    /// Stays are laid out around this day; nothing seeded happens after it.
    pub today: NaiveDate,
    /// Every seeded account's password.
    pub password: String,
    pub progress: bool,
}

/// Rows written and the time taken.
#[derive(Debug)]
pub struct Summary {
    pub users: usize,
    pub properties: usize,
    pub bookings: usize,
    pub payments: usize,
    pub reviews: usize,
    pub elapsed: Duration,
}

/// Migrates the (empty) database at `options.database_url`, writes the
/// data set and analyzes the tables.
pub async fn run(options: &Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut conn = PgConnection::connect(&options.database_url)
        .await
        .with_context(|| "connecting to the database (--database-url / DATABASE_URL)")?;
    shared::db::MIGRATOR.run(&mut conn).await.context("applying migrations")?;
    let existing: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&mut conn).await?;
    anyhow::ensure!(existing == 0, "the database already has {existing} users: seed a fresh database");

    let password = Password::parse_new(options.password.clone()).map_err(|e| anyhow::anyhow!("--password {e}"))?;
    let hash = shared::password::hash(password).await?;
    let plan = plan::plan(options.scale, options.seed, options.today, hash)?;
    let payments = plan.payments();
    let rows = plan.users.len() + plan.properties.len() + plan.bookings.len() + payments + plan.reviews.len();
    let progress = if options.progress { ProgressBar::new(rows as u64) } else { ProgressBar::hidden() };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg:>10} [{bar:40}] {human_pos}/{human_len} rows ({per_sec}, {eta})")
            .expect("BUG: a valid progress template")
            .progress_chars("=> "),
    );
    load::load(&mut conn, &plan, &progress).await?;
    progress.set_message("analyze");
    sqlx::query("analyze").execute(&mut conn).await?;
    progress.finish_and_clear();
    Ok(Summary {
        users: plan.users.len(),
        properties: plan.properties.len(),
        bookings: plan.bookings.len(),
        payments,
        reviews: plan.reviews.len(),
        elapsed: started.elapsed(),
    })
}
