use clap::Parser;
use shared::Config;

use api::{
    Application,
    cli::{Cli, Command},
    state::AppState,
};

/// mimalloc: glibc's malloc made the request threads contend on its arena
/// locks (futex waits in a profile of cached reads); with mimalloc a cached
/// detail answers 23% more requests a second and a search 20% more. It does
/// not ask for transparent huge pages (`no_thp`), which took the same load
/// from 58 to 104 MiB; where the kernel gives them to every mapping (THP
/// `always`), `MIMALLOC_ALLOW_THP=0` turns them off for the process, as the
/// API's image does. Blocks of a mebibyte or more (aligned to a page at
/// most), a password hash's memory, are mapped for themselves
/// ([`api::allocator`]).
#[global_allocator]
static ALLOCATOR: api::allocator::Allocator = api::allocator::Allocator;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            shared::telemetry::init(&config.log_filter, config.log_format);
            if config.uses_dev_secrets() {
                tracing::warn!("JWT_SECRET is not set: using the dev-only secret (APP_ENV=local)");
            }
            let app = Application::build(config).await?;
            app.run_until_stopped(shared::shutdown_signal()).await
        }
        Command::CreateAdmin { email, first_name, last_name } => {
            api::cli::create_admin(config, &email, &first_name, &last_name).await
        }
        Command::Migrate => {
            shared::db::migrate(&shared::db::pool(&config)?).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", api::startup::openapi_spec(&AppState::new(config)?));
            Ok(())
        }
        Command::GraphqlSchema => {
            print!("{}", api::graphql::sdl());
            Ok(())
        }
    }
}
