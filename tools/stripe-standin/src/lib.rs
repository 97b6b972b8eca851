//! A stand-in for Stripe: a small, stateful, in-memory server that speaks the part of
//! Stripe's HTTP API our worker uses — PaymentIntents (create, confirm, retrieve) and
//! refunds — with Stripe's wire format, test cards, `Idempotency-Key` semantics and signed
//! webhooks, so that the real async-stripe client can be tested against it. What it does not
//! implement is listed in its README.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let stripe = stripe_standin::start(stripe_standin::StandinConfig::default()).await?;
//! let base_url = stripe.base_url(); // give this to `stripe::ClientBuilder::url`
//! // … run the code under test …
//! assert_eq!(stripe.standin().succeeded_payment_intents(), 1);
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `routes`: HTTP — authentication, injected faults, idempotency, dispatch; `/_standin`.
//! - `payments`, `refunds`: what the endpoints do, on `state`'s in-memory store.
//! - `cards`: the `pm_card_*` test PaymentMethods and their outcomes.
//! - `objects`: Stripe objects as JSON; `error`: Stripe's error shape.
//! - `idempotency`: saved responses by key; `form`: bracket-notation form bodies.
//! - `webhooks`: signing and delivery with retries; `control`: the [`Standin`] handle.

// `serde_json::json!` of a whole Charge nests deeper than the default limit.
#![recursion_limit = "256"]

mod cards;
mod control;
mod error;
mod form;
mod idempotency;
mod objects;
mod payments;
mod refunds;
mod routes;
mod state;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use poem::Server;
use poem::listener::TcpAcceptor;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use control::Standin;
use state::{Settings, Shared, Store, Webhook};

/// The signing secret used when none is configured. Fine for tests, never for production.
pub const DEFAULT_WEBHOOK_SECRET: &str = "whsec_dev_only_secret";

/// The API version async-stripe 1.0.0-rc.10 is generated for (`stripe_shared::version::VERSION`).
pub const DEFAULT_API_VERSION: &str = "2026-09-30.endive";

/// How to start a stand-in.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    /// Where to listen; the default, `127.0.0.1:0`, picks a free loopback port.
    pub addr: SocketAddr,
    /// The only secret key accepted; `None` accepts any `sk_test_…` key.
    pub api_key: Option<String>,
    /// Where to send events; `None` records them without sending.
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    /// The pause before each delivery attempt (so also the number of attempts).
    pub webhook_retry_delays: Vec<Duration>,
    pub api_version: String,
}

impl Default for StandinConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: None,
            webhook_url: None,
            webhook_secret: DEFAULT_WEBHOOK_SECRET.to_owned(),
            webhook_retry_delays: [0, 200, 1_000, 3_000].map(Duration::from_millis).to_vec(),
            api_version: DEFAULT_API_VERSION.to_owned(),
        }
    }
}

/// A listening stand-in. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningStandin {
    addr: SocketAddr,
    standin: Standin,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Binds `config.addr` and serves in a background task.
pub async fn start(config: StandinConfig) -> anyhow::Result<RunningStandin> {
    let listener =
        tokio::net::TcpListener::bind(config.addr).await.with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the webhook HTTP client")?;
    let store = Store {
        webhook: Webhook { url: config.webhook_url, secret: config.webhook_secret },
        api_version: config.api_version.clone(),
        ..Store::default()
    };
    let settings = Settings {
        api_key: config.api_key,
        api_version: config.api_version,
        webhook_retry_delays: config.webhook_retry_delays,
    };
    let shared = Arc::new(Shared { settings, store: Mutex::new(store), http });
    let (shutdown, stop) = oneshot::channel::<()>();
    let app = routes::app(shared.clone());
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let server = tokio::spawn(async move {
        let stop = async {
            let _ = stop.await;
        };
        Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(app, stop, Some(Duration::from_secs(1))).await
    });
    Ok(RunningStandin { addr, standin: Standin::new(shared), shutdown: Some(shutdown), server: Some(server) })
}

impl RunningStandin {
    /// `http://127.0.0.1:<port>`, the base URL for a Stripe client (without `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn standin(&self) -> &Standin {
        &self.standin
    }

    /// Stops accepting, lets requests in flight finish (up to 1 s), and returns.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.context("the server task panicked")?.context("serving")?;
        }
        Ok(())
    }
}

impl Drop for RunningStandin {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
