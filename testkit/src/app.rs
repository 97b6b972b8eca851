use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use shared::Config;
use sqlx::PgPool;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::services::{TestDatabase, clean_redis_namespace, default_redis_url};

/// The configuration of a test: local defaults, the given database, a
/// unique Redis namespace, port 0 and short polling intervals.
pub fn test_config(database_url: &str) -> Config {
    shared::telemetry::init_for_tests();
    let mut config = Config::local();
    config.database_url = SecretString::from(database_url.to_owned());
    config.redis_url = SecretString::from(default_redis_url());
    config.redis_namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    config.api_addr = "127.0.0.1:0".parse().expect("BUG: a valid address");
    config.database_max_connections = 5;
    config.outbox_poll_interval = Duration::from_millis(200);
    config.queue_poll_interval = Duration::from_millis(50);
    config.worker_heartbeat = Duration::from_secs(1);
    config.worker_concurrency = 4;
    config.job_retry_base = Duration::from_millis(20);
    // Tests send many requests from one address; the limits have tests of their own.
    config.rate_limits.enabled = false;
    config
}

/// The API on port 0 with a database and Redis namespace of its own.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub config: Config,
    /// A pool on the test database, for assertions on stored state.
    pub db: PgPool,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the database outlives every connection above.
    _database: TestDatabase,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns the API after `configure` adjusted its configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let database = TestDatabase::create().await;
        let mut config = test_config(&database.url);
        configure(&mut config);
        let app = api::Application::build(config.clone()).await.expect("build the API");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.state().db.clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client");
        Self { address, client, config, db, shutdown: Some(shutdown), server: Some(server), _database: database }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// An outbox relay of this app's queues over `db`, beside the one its
    /// API runs, for a test to drive pass by pass.
    pub fn relay(&self, db: &PgPool) -> shared::outbox::Relay {
        let config = &self.config;
        let redis = shared::redis::connect(config).expect("a Redis client");
        shared::outbox::Relay::new(db.clone(), shared::jobs::Queues::new(redis, config), config.outbox_poll_interval)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST")
    }

    pub async fn put(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.put(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("PUT")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("DELETE")
    }

    /// A unique email address for this test.
    pub fn unique_email(prefix: &str) -> String {
        format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
    }

    /// Registers an account (asserting 201) and returns its JSON.
    pub async fn register(&self, email: &str, password: &str, role: &str) -> Value {
        let body =
            json!({"email": email, "password": password, "first_name": "Test", "last_name": "User", "role": role});
        let response = self.post("/users", &body, None).await;
        assert_eq!(
            response.status(),
            201,
            "registration of {email} failed: {}",
            response.text().await.unwrap_or_default()
        );
        response.json().await.expect("user JSON")
    }

    /// Signs in (asserting 200) and returns the token response.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let response = self.post("/auth/login", &json!({"email": email, "password": password}), None).await;
        assert_eq!(response.status(), 200, "login of {email} failed: {}", response.text().await.unwrap_or_default());
        response.json().await.expect("token JSON")
    }

    /// A fresh account of `role` (guest, host or admin), signed in: its
    /// user JSON and access token.
    pub async fn signed_in(&self, role: &str) -> (Value, String) {
        let email = Self::unique_email(role);
        let password = "a long enough password";
        let user = self.register(&email, password, if role == "admin" { "guest" } else { role }).await;
        if role == "admin" {
            sqlx::query("update users set role = 'admin' where email = $1")
                .bind(&email)
                .execute(&self.db)
                .await
                .expect("promote");
        }
        let tokens = self.login(&email, password).await;
        let mut user = user;
        if role == "admin" {
            user["role"] = json!("admin");
        }
        (user, tokens["access_token"].as_str().expect("access token").to_owned())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        clean_redis_namespace(&default_redis_url(), &self.config.redis_namespace);
    }
}

/// The worker, in-process, on a test's database and Redis namespace.
pub struct TestWorker {
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestWorker {
    pub fn spawn(config: Config) -> Self {
        let worker = worker::Application::build(config).expect("build the worker");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(worker.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Self { shutdown: Some(shutdown), handle: Some(handle) }
    }

    /// SIGTERM's path: stop taking jobs, finish the running ones.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// The Stripe stand-in, sending its signed webhooks to a test's API.
pub struct TestStripe {
    pub running: stripe_standin::RunningStandin,
}

impl TestStripe {
    /// Starts a stand-in whose webhooks reach `app` with the secret `app`
    /// verifies.
    pub async fn start(app: &TestApp) -> Self {
        let config = stripe_standin::StandinConfig {
            webhook_url: Some(app.url("/payments/webhook")),
            webhook_secret: secrecy::ExposeSecret::expose_secret(&app.config.stripe_webhook_secret).to_owned(),
            ..Default::default()
        };
        Self { running: stripe_standin::start(config).await.expect("start the Stripe stand-in") }
    }

    /// The stand-in's state and fault controls.
    pub fn standin(&self) -> &stripe_standin::Standin {
        self.running.standin()
    }

    /// `app`'s configuration pointed at this stand-in, for its worker.
    pub fn worker_config(&self, app: &TestApp) -> Config {
        let mut config = app.config.clone();
        config.stripe_api_base = Some(self.running.base_url());
        config
    }
}
