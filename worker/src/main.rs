use clap::{Parser, Subcommand};
use shared::{Config, jobs::QUEUES};

#[derive(Parser)]
#[command(name = "worker", about = "Airbnb clone job worker", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume every queue (the default).
    Run,
    /// List the jobs that failed every attempt, with their last error.
    Dead {
        /// One queue only (emails, payments).
        #[arg(long)]
        queue: Option<String>,
    },
    /// Run a dead job again, with fresh attempts.
    Retry {
        #[arg(long)]
        queue: String,
        /// The job's id, as `dead` lists it.
        id: String,
    },
}

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

fn known_queue(queue: &str) -> anyhow::Result<()> {
    anyhow::ensure!(QUEUES.contains(&queue), "no queue named {queue:?} (queues: {})", QUEUES.join(", "));
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            shared::telemetry::init(&config.log_filter, config.log_format);
            worker::Application::build(config)?.run_until_stopped(shared::shutdown_signal()).await
        }
        Command::Dead { queue } => {
            let redis = shared::redis::connect(&config)?;
            let queues: Vec<&str> = match &queue {
                Some(queue) => {
                    known_queue(queue)?;
                    vec![queue.as_str()]
                }
                None => QUEUES.to_vec(),
            };
            for queue in queues {
                for job in worker::dead::list(&redis, &config, queue).await? {
                    let payload = job.payload.map_or_else(|| "?".into(), |p| p.to_string());
                    let error = job.last_result.unwrap_or_default();
                    println!("{queue}\t{}\tattempts={}\t{payload}\t{error}", job.id, job.attempts.unwrap_or(0));
                }
            }
            Ok(())
        }
        Command::Retry { queue, id } => {
            known_queue(&queue)?;
            let redis = shared::redis::connect(&config)?;
            anyhow::ensure!(worker::dead::retry(&redis, &config, &queue, &id).await?, "no dead job {id} in {queue}");
            println!("{queue} job {id} queued again");
            Ok(())
        }
    }
}
