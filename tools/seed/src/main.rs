use std::io::IsTerminal;

use chrono::NaiveDate;
use clap::Parser;
use seed::{Options, Scale};

/// Loads a fresh database with realistic users, listings, bookings,
/// payments and reviews (for benchmarks). Every account's password is
/// `--password`; emails are admin@, host<n>@ and guest<n>@example.com.
#[derive(Parser)]
#[command(name = "seed", version)]
struct Cli {
    /// The database to fill (migrated first; must hold no users).
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/airbnb?sslmode=disable")]
    database_url: String,
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    #[arg(long, default_value_t = 100_000)]
    properties: usize,
    #[arg(long, default_value_t = 1_000_000)]
    bookings: usize,
    #[arg(long, default_value_t = 500_000)]
    reviews: usize,
    /// Same seed and day, same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The day stays are laid out around (default: today, UTC).
    #[arg(long)]
    today: Option<NaiveDate>,
    #[arg(long, env = "SEED_PASSWORD", default_value = "bench-password")]
    password: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let options = Options {
        database_url: cli.database_url,
        scale: Scale { users: cli.users, properties: cli.properties, bookings: cli.bookings, reviews: cli.reviews },
        seed: cli.seed,
        today: cli.today.unwrap_or_else(|| chrono::Utc::now().date_naive()),
        password: cli.password,
        progress: std::io::stderr().is_terminal(),
    };
    match seed::run(&options).await {
        Ok(s) => {
            println!(
                "seeded {} users, {} properties, {} bookings, {} payments, {} reviews in {:.1} s",
                s.users,
                s.properties,
                s.bookings,
                s.payments,
                s.reviews,
                s.elapsed.as_secs_f64()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
