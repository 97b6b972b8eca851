//! `stripe-standin`: the stand-in as a process, for local runs and compose.
//!
//! | Variable | Default |
//! |---|---|
//! | `STANDIN_ADDR` | `127.0.0.1:12111` (loopback only) |
//! | `STANDIN_WEBHOOK_URL` | unset: events are recorded, not sent |
//! | `STANDIN_WEBHOOK_SECRET` | `whsec_dev_only_secret` |
//! | `STANDIN_API_KEY` | unset: any `sk_test_…` key is accepted |
//! | `RUST_LOG` | `info` |

use anyhow::Context;
use stripe_standin::{DEFAULT_WEBHOOK_SECRET, StandinConfig};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let addr = env("STANDIN_ADDR").unwrap_or_else(|| "127.0.0.1:12111".to_owned());
    let config = StandinConfig {
        addr: addr.parse().with_context(|| format!("STANDIN_ADDR={addr} is not an ip:port"))?,
        api_key: env("STANDIN_API_KEY"),
        webhook_url: env("STANDIN_WEBHOOK_URL"),
        webhook_secret: env("STANDIN_WEBHOOK_SECRET").unwrap_or_else(|| DEFAULT_WEBHOOK_SECRET.to_owned()),
        ..StandinConfig::default()
    };
    let webhook_url = config.webhook_url.clone();
    let running = stripe_standin::start(config).await?;
    tracing::info!(base_url = %running.base_url(), webhook_url = ?webhook_url, "Stripe stand-in listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await
}

async fn shutdown_signal() {
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
        () = ctrl_c => {}
        () = terminate => {}
    }
}
