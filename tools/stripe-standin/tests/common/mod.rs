//! Helpers shared by the integration tests: a stand-in, a Stripe client on it, and a tiny
//! webhook receiver.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::web::Data;
use poem::{EndpointExt, Request, Route, Server, handler, post};
use stripe_standin::{RunningStandin, StandinConfig};

pub const WEBHOOK_SECRET: &str = "whsec_test_secret";

pub async fn standin() -> RunningStandin {
    standin_with(StandinConfig::default()).await
}

pub async fn standin_with(config: StandinConfig) -> RunningStandin {
    let config = StandinConfig {
        webhook_secret: WEBHOOK_SECRET.into(),
        // Fast retries keep the tests quick; the defaults are 0, 0.2, 1 and 3 s.
        webhook_retry_delays: [0, 50, 100, 200].map(Duration::from_millis).to_vec(),
        ..config
    };
    stripe_standin::start(config).await.expect("the stand-in starts")
}

pub fn client(base_url: &str) -> stripe::Client {
    stripe::ClientBuilder::new("sk_test_x").url(base_url).build().expect("a client")
}

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: String,
    pub body: String,
    pub accepted: bool,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Answer 500 to this many deliveries before accepting.
    failures_left: Mutex<usize>,
}

/// A webhook endpoint on 127.0.0.1:0 that records every delivery.
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

#[handler]
async fn receive(req: &Request, body: String, Data(state): Data<&Arc<ReceiverState>>) -> StatusCode {
    let signature = req.header("Stripe-Signature").unwrap_or_default().to_owned();
    let accepted = {
        let mut failures_left = state.failures_left.lock().unwrap();
        let accept = *failures_left == 0;
        *failures_left = failures_left.saturating_sub(1);
        accept
    };
    state.received.lock().unwrap().push(Received { signature, body, accepted });
    if accepted { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR }
}

impl Receiver {
    pub async fn start(failures_first: usize) -> Self {
        let state = Arc::new(ReceiverState { failures_left: Mutex::new(failures_first), ..Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/stripe/webhook", listener.local_addr().unwrap());
        let app = Route::new().at("/stripe/webhook", post(receive)).data(state.clone());
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Self { url, state }
    }

    pub fn all(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `done` holds for what was received.
    pub async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let all = self.all();
            if done(&all) {
                return all;
            }
            assert!(Instant::now() < deadline, "timed out waiting for webhooks; got {all:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first accepted delivery of an event of type `kind`.
    pub async fn event_of_type(&self, kind: &str) -> Received {
        let all = self.wait_until(|all| all.iter().any(|r| r.accepted && r.kind() == kind)).await;
        all.into_iter().find(|r| r.accepted && r.kind() == kind).unwrap()
    }
}
