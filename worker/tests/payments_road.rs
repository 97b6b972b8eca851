//! The payment road end to end: `POST /payments` → outbox → Redis → worker →
//! the Stripe stand-in (a real HTTP server speaking Stripe's API) → the
//! payment, the booking and the emails, read back through the API, the
//! database, the stand-in's records and a real SMTP server; and Stripe's
//! webhooks, as the stand-in sends them and as a test signs them itself.
//!
//! Every test gets its own database, Redis namespace, SMTP catcher and
//! stand-in ([`Marketplace::open`]); the worker starts when a test says so.

mod mail;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::{
    bookings,
    domain::{BookingId, PaymentId, Role, UserId},
    error::DomainError,
    jobs::{EmailJob, Job, PaymentJob},
    payments::{self, Settled},
    policy::Actor,
};
use testkit::{SmtpCatcher, TestApp, TestStripe, TestWorker, index_entries_read, until_a_statement_waits_on_a_lock};

use mail::Mail;

const PASSWORD: &str = "a long enough password";
const PROPERTY: &str = "Casa do Rio";
/// How long anything asynchronous may take before a test gives up.
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------
// The marketplace of one test
// ---------------------------------------------------------------------------

/// A signed-in account.
struct Account {
    email: String,
    token: String,
}

impl Account {
    async fn new(app: &TestApp, role: &str) -> Self {
        let email = TestApp::unique_email(role);
        app.register(&email, PASSWORD, role).await;
        let token = app.login(&email, PASSWORD).await["access_token"].as_str().expect("an access token").to_owned();
        Self { email, token }
    }
}

/// An API, an SMTP catcher and a Stripe stand-in whose webhooks reach the
/// API; a host with one listing and a guest with a pending booking of it
/// (30 days ahead, 3 nights). No worker until [`Marketplace::start_worker`].
struct Marketplace {
    // Dropped first: the worker stops before the database it uses goes.
    worker: Option<TestWorker>,
    stripe: TestStripe,
    app: TestApp,
    smtp: SmtpCatcher,
    host: Account,
    guest: Account,
    property_id: String,
    booking: Value,
}

impl Marketplace {
    /// A marketplace whose listing has the cancellation `policy`.
    async fn open(policy: &str) -> Self {
        let smtp = SmtpCatcher::start();
        let app = TestApp::spawn_with(|c| c.smtp_url = SecretString::from(smtp.url())).await;
        let stripe = TestStripe::start(&app).await;
        let host = Account::new(&app, "host").await;
        let guest = Account::new(&app, "guest").await;
        let listing = json!({
            "name": PROPERTY,
            "description": "A quiet house by the river",
            "address": "1 Rua do Rio",
            "city": "Porto",
            "country": "Portugal",
            "price_per_night": 10_000,
            "cleaning_fee": 2_500,
            "currency": "EUR",
            "max_guests": 4,
            "bedrooms": 2,
            "bathrooms": 1,
            "amenities": ["wifi"],
            "photos": ["https://example.com/1.jpg"],
            "cancellation_policy": policy
        });
        let property = expect_json(app.post("/properties", &listing, Some(&host.token)).await, 201).await;
        let property_id = property["id"].as_str().expect("a property id").to_owned();
        let mut market = Self { worker: None, stripe, app, smtp, host, guest, property_id, booking: Value::Null };
        market.booking = market.book(&market.guest, 30, 3).await;
        market
    }

    fn start_worker(&mut self) {
        self.worker = Some(TestWorker::spawn(self.stripe.worker_config(&self.app)));
    }

    fn booking_id(&self) -> &str {
        self.booking["id"].as_str().expect("a booking id")
    }

    fn total(&self) -> i64 {
        self.booking["total_price"].as_i64().expect("a total price")
    }

    /// Books the listing as `guest` for `nights` from `days_ahead` (asserting 201).
    async fn book(&self, guest: &Account, days_ahead: i64, nights: i64) -> Value {
        let body = json!({
            "property_id": self.property_id,
            "check_in": day(days_ahead).to_string(),
            "check_out": day(days_ahead + nights).to_string(),
            "guests": 2
        });
        expect_json(self.app.post("/bookings", &body, Some(&guest.token)).await, 201).await
    }

    async fn get_booking(&self, id: &str) -> Value {
        expect_json(self.app.get(&format!("/bookings/{id}"), Some(&self.guest.token)).await, 200).await
    }

    /// `POST /payments` as `token`, with an optional `Idempotency-Key`.
    async fn pay_as(&self, token: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut request = self.app.client.post(self.app.url("/payments")).bearer_auth(token).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("POST /payments")
    }

    /// The guest pays its booking with `method` (the default when `None`);
    /// asserts the 202 and returns the payment.
    async fn pay(&self, method: Option<&str>) -> Value {
        let mut body = json!({"booking_id": self.booking_id()});
        if let Some(method) = method {
            body["payment_method"] = json!(method);
        }
        let payment = expect_json(self.pay_as(&self.guest.token, &body, None).await, 202).await;
        assert_eq!(payment["status"], "pending", "{payment}");
        payment
    }

    async fn payment(&self, id: &str) -> Value {
        expect_json(self.app.get(&format!("/payments/{id}"), Some(&self.guest.token)).await, 200).await
    }

    /// Polls `GET /payments/{id}` until its status is `status`.
    async fn wait_for_payment(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let payment = self.payment(id).await;
            if payment["status"] == status {
                return payment;
            }
            assert!(Instant::now() < deadline, "the payment never became {status}: {payment}");
            tokio::time::sleep(POLL).await;
        }
    }

    async fn payments_rows(&self) -> i64 {
        sqlx::query_scalar("select count(*) from payments").fetch_one(&self.app.db).await.unwrap()
    }

    /// The webhook events the API recorded: `(event_id, event_type)`, oldest first.
    async fn processed_events(&self) -> Vec<(String, String)> {
        sqlx::query_as("select event_id, event_type from processed_webhook_events order by received_at")
            .fetch_all(&self.app.db)
            .await
            .unwrap()
    }

    /// The stand-in's first event of `kind`, once there is one.
    async fn standin_event(&self, kind: &str) -> Value {
        eventually(&format!("a {kind} event at the stand-in"), async || {
            self.stripe.standin().events().into_iter().find(|e| e["type"] == kind)
        })
        .await
    }

    /// Waits until the stand-in delivered event `id` to the API `times` times (2xx each).
    async fn wait_for_deliveries(&self, id: &str, times: usize) {
        eventually(&format!("{times} deliveries of {id}"), async || {
            let delivered = self
                .stripe
                .standin()
                .deliveries()
                .iter()
                .filter(|d| d["event"] == id && d["delivered"] == true && d["status"] == 200)
                .count();
            (delivered >= times).then_some(())
        })
        .await;
    }

    /// POSTs `event` to the webhook signed with `secret` at `timestamp`.
    async fn send_event(&self, event: &Value, secret: &str, timestamp: i64) -> reqwest::Response {
        let body = serde_json::to_vec(event).unwrap();
        self.app
            .client
            .post(self.app.url("/payments/webhook"))
            .header("Stripe-Signature", sign(&body, secret, timestamp))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /payments/webhook")
    }

    /// POSTs `event` signed as Stripe would sign it now.
    async fn send_signed_event(&self, event: &Value) -> reqwest::Response {
        let secret = self.app.config.stripe_webhook_secret.expose_secret().to_owned();
        self.send_event(event, &secret, Utc::now().timestamp()).await
    }

    /// How many jobs of `queue` the worker has finished.
    async fn finished_jobs(&self, queue: &str) -> usize {
        let mut redis = shared::redis::connect(&self.app.config).unwrap();
        let done = format!("{}:done", self.app.config.redis_key(queue));
        redis::cmd("SCARD").arg(&done).query_async(&mut redis).await.unwrap()
    }

    /// Waits until exactly `count` email jobs are done, so that a duplicate
    /// would have had its chance to be sent.
    async fn wait_for_email_jobs(&self, count: usize) {
        let finished = eventually(&format!("{count} finished email jobs"), async || {
            let finished = self.finished_jobs(EmailJob::QUEUE).await;
            (finished >= count).then_some(finished)
        })
        .await;
        assert_eq!(finished, count, "more email jobs than expected ran");
    }

    /// Emails `to` received so far, welcome emails left out.
    fn mails_to(&self, to: &Account) -> Vec<Mail> {
        self.smtp
            .messages_to(&to.email)
            .iter()
            .map(|raw| Mail::parse(raw))
            .filter(|mail| !mail.subject.starts_with("Welcome"))
            .collect()
    }

    fn subjects_to(&self, to: &Account) -> Vec<String> {
        let mut subjects: Vec<String> = self.mails_to(to).into_iter().map(|m| m.subject).collect();
        subjects.sort();
        subjects
    }

    async fn wait_for_mail(&self, to: &Account, subject: &str) -> Mail {
        eventually(&format!("the email {subject:?} to {}", to.email), async || {
            self.mails_to(to).into_iter().find(|m| m.subject == subject)
        })
        .await
    }

    /// `10 Jun 2030 → 13 Jun 2030`, as subjects show the booking's stay.
    fn dates(&self) -> String {
        let date = |field: &str| self.booking[field].as_str().unwrap().parse::<NaiveDate>().unwrap();
        format!("{} → {}", date("check_in").format("%-d %b %Y"), date("check_out").format("%-d %b %Y"))
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// A day `offset` days from today (UTC).
fn day(offset: i64) -> NaiveDate {
    Utc::now().date_naive() + chrono::Duration::days(offset)
}

/// Asserts the status and returns the JSON body.
async fn expect_json(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "unexpected answer: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an RFC 9457 problem with `status` and returns it.
async fn expect_problem(response: reqwest::Response, status: u16) -> Value {
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let problem = expect_json(response, status).await;
    assert!(content_type.starts_with("application/problem+json"), "content type {content_type}: {problem}");
    problem
}

/// Polls `probe` until it yields a value, or fails the test after [`WAIT`].
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Checks `check` over `window`: for what must not happen (a duplicate email…).
async fn stays_true(what: &str, window: Duration, mut check: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + window;
    while Instant::now() < until {
        assert!(check().await, "{what}");
        tokio::time::sleep(POLL).await;
    }
}

/// `12345, "EUR"` → `123.45 EUR`, as emails show money.
fn money(minor: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

fn expires_at(booking: &Value) -> Option<DateTime<Utc>> {
    booking["expires_at"].as_str().map(|t| t.parse().expect("an RFC 3339 time"))
}

/// The `Stripe-Signature` header for `body` at `timestamp`, computed here
/// from Stripe's documentation (HMAC-SHA256 of `"{t}.{body}"`) rather than
/// with the API's own code.
fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mut key = [0u8; 64];
    if secret.len() > 64 {
        key[..32].copy_from_slice(&Sha256::digest(secret.as_bytes()));
    } else {
        key[..secret.len()].copy_from_slice(secret.as_bytes());
    }
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner =
        Sha256::new().chain_update(pad(0x36)).chain_update(format!("{timestamp}.")).chain_update(body).finalize();
    let mac = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// A Stripe event about a PaymentIntent of `payment_id`.
fn intent_event(kind: &str, intent: &str, payment_id: &str, extra: Value) -> Value {
    let mut object = json!({
        "id": intent,
        "object": "payment_intent",
        "metadata": {"payment_id": payment_id}
    });
    if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
        object.extend(extra.clone());
    }
    json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "type": kind,
        "created": Utc::now().timestamp(),
        "livemode": false,
        "data": {"object": object}
    })
}

/// The worker binary as a child process on `market`'s database, Redis
/// namespace, SMTP catcher and stand-in; killed with SIGKILL when dropped.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn spawn(market: &Marketplace) -> Self {
        let config = &market.app.config;
        let child = Command::new(env!("CARGO_BIN_EXE_worker"))
            .env("DATABASE_URL", config.database_url.expose_secret())
            .env("REDIS_URL", config.redis_url.expose_secret())
            .env("REDIS_NAMESPACE", &config.redis_namespace)
            .env("SMTP_URL", market.smtp.url())
            .env("STRIPE_API_BASE", market.stripe.running.base_url())
            .env("WORKER_HEARTBEAT_SECS", "1")
            .env("QUEUE_POLL_INTERVAL_MS", "50")
            .env("JOB_RETRY_BASE_MS", "20")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the worker binary");
        Self(child)
    }

    /// SIGKILL: no answer read, nothing recorded, no job acknowledged.
    fn kill(mut self) {
        self.0.kill().expect("SIGKILL the worker");
        self.0.wait().expect("reap the worker");
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------
// 1. The happy road
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_paid_booking_is_charged_once_confirmed_and_guest_and_host_are_mailed() {
    let mut market = Marketplace::open("moderate").await;
    market.start_worker();

    let response = market.pay_as(&market.guest.token, &json!({"booking_id": market.booking_id()}), None).await;
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let accepted = expect_json(response, 202).await;
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(location.as_deref(), Some(format!("/payments/{id}").as_str()));
    assert_eq!(accepted["status"], "pending");
    assert_eq!(accepted["amount"], market.total(), "the booking's stored total");
    assert_eq!(accepted["currency"], "EUR");
    assert_eq!(accepted["payment_method"], "pm_card_visa", "the test-mode default");

    let paid = market.wait_for_payment(id, "succeeded").await;
    let reference = paid["provider_reference"].as_str().expect("a PaymentIntent id").to_owned();
    assert!(reference.starts_with("pi_"), "{paid}");
    assert_eq!(paid["failure_reason"], Value::Null);
    let booking = market.get_booking(market.booking_id()).await;
    assert_eq!(booking["status"], "confirmed", "{booking}");
    assert_eq!(booking["expires_at"], Value::Null, "a confirmed booking holds no expiring hold");

    let intents = market.stripe.standin().payment_intents();
    assert_eq!(intents.len(), 1, "one PaymentIntent: {intents:?}");
    assert_eq!(market.stripe.standin().succeeded_payment_intents(), 1);
    let intent = &intents[0];
    assert_eq!(intent["id"], reference.as_str());
    assert_eq!(intent["amount"], market.total());
    assert_eq!(intent["currency"], "eur");
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["metadata"]["payment_id"], id);

    let receipt = market.wait_for_mail(&market.guest, &format!("Receipt for your stay at {PROPERTY}")).await;
    assert!(receipt.text.contains(&money(market.total(), "EUR")), "{}", receipt.text);
    assert!(receipt.text.contains(&reference), "the receipt names the PaymentIntent: {}", receipt.text);
    assert!(receipt.html.contains(&reference), "and so does its HTML part: {}", receipt.html);
    market.wait_for_mail(&market.guest, &format!("Booking confirmed: {PROPERTY}")).await;
    let dates = market.dates();
    market.wait_for_mail(&market.host, &format!("Booking confirmed: {PROPERTY}, {dates}")).await;
    // 2 welcomes + 2 booking requests + the receipt + 2 confirmations, once each,
    // though the worker's result and Stripe's webhook both reported the success.
    market.wait_for_email_jobs(7).await;
    assert_eq!(
        market.subjects_to(&market.guest),
        [
            format!("Booking confirmed: {PROPERTY}"),
            format!("Booking request for {PROPERTY}"),
            format!("Receipt for your stay at {PROPERTY}")
        ]
    );
    assert_eq!(
        market.subjects_to(&market.host),
        [format!("Booking confirmed: {PROPERTY}, {dates}"), format!("New booking request: {PROPERTY}, {dates}")]
    );
}

// ---------------------------------------------------------------------------
// 2. A declined card
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_declined_card_fails_the_payment_keeps_the_hold_for_a_retry_and_another_card_then_pays() {
    let mut market = Marketplace::open("moderate").await;
    market.start_worker();

    let declined = market.pay(Some("pm_card_chargeDeclined")).await;
    let declined_id = declined["id"].as_str().unwrap();
    let failed = market.wait_for_payment(declined_id, "failed").await;
    let reason = failed["failure_reason"].as_str().expect("a failure reason");
    assert!(reason.to_lowercase().contains("declined"), "{reason}");
    let booking = market.get_booking(market.booking_id()).await;
    assert_eq!(booking["status"], "pending", "{booking}");
    let left = expires_at(&booking).expect("the hold expires again") - Utc::now();
    assert!(
        left > chrono::Duration::minutes(14) && left <= chrono::Duration::minutes(15),
        "the hold runs about 15 more minutes: {left}"
    );
    assert_eq!(market.stripe.standin().succeeded_payment_intents(), 0);

    let told = market.wait_for_mail(&market.guest, &format!("Your payment for {PROPERTY} did not go through")).await;
    assert!(told.text.contains("Your card was declined."), "{}", told.text);
    // 2 welcomes + 2 booking requests + the failure notice; no confirmation.
    market.wait_for_email_jobs(5).await;
    for party in [&market.guest, &market.host] {
        let subjects = market.subjects_to(party);
        assert!(!subjects.iter().any(|s| s.starts_with("Booking confirmed")), "{subjects:?}");
        assert!(!subjects.iter().any(|s| s.starts_with("Receipt")), "{subjects:?}");
    }

    // A failed payment does not block another.
    let retry = market.pay(Some("pm_card_visa")).await;
    let retry_id = retry["id"].as_str().unwrap();
    assert_ne!(retry_id, declined_id);
    let paid = market.wait_for_payment(retry_id, "succeeded").await;
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
    assert_eq!(market.payment(declined_id).await["status"], "failed", "the declined payment stays failed");
    assert_eq!(market.stripe.standin().succeeded_payment_intents(), 1);
    let succeeded: Vec<Value> =
        market.stripe.standin().payment_intents().into_iter().filter(|pi| pi["status"] == "succeeded").collect();
    assert_eq!(succeeded[0]["id"], paid["provider_reference"]);
    market.wait_for_mail(&market.guest, &format!("Booking confirmed: {PROPERTY}")).await;
}

// ---------------------------------------------------------------------------
// 3. A worker killed between Stripe's charge and our record of it
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_worker_killed_after_stripe_charged_but_before_recording_it_is_replaced_without_a_second_charge() {
    let market = Marketplace::open("moderate").await;
    // Only the worker may settle this payment, so that the test is about the
    // re-run job and its idempotency key, not about the webhook.
    market.stripe.standin().set_webhook(None, None);
    // The create-PaymentIntent request acts (charges), then hangs before
    // answering: long enough to kill the worker meanwhile, shorter than the
    // 3 missed heartbeats (at least 2 s after the kill) after which another
    // worker takes the orphaned job, so that its retry meets a finished key.
    market.stripe.standin().delay_next(1, Duration::from_millis(1500));
    let doomed = WorkerProcess::spawn(&market);

    let payment = market.pay(None).await;
    let id = payment["id"].as_str().unwrap();
    eventually("the doomed worker's charge at the stand-in", async || {
        (!market.stripe.standin().payment_intents().is_empty()).then_some(())
    })
    .await;
    doomed.kill();
    let charged = market.stripe.standin().payment_intents();
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0]["status"], "succeeded", "Stripe charged the card");
    let unrecorded = market.payment(id).await;
    assert_eq!(unrecorded["status"], "processing", "killed before recording: {unrecorded}");
    assert_eq!(unrecorded["provider_reference"], Value::Null);

    let started = Instant::now();
    let rescuer = TestWorker::spawn(market.stripe.worker_config(&market.app));
    let paid = market.wait_for_payment(id, "succeeded").await;
    let recovery = started.elapsed();
    let intents = market.stripe.standin().payment_intents();
    assert_eq!(intents.len(), 1, "the idempotency key kept Stripe from charging again: {intents:?}");
    assert_eq!(paid["provider_reference"], charged[0]["id"]);
    assert_eq!(market.stripe.standin().succeeded_payment_intents(), 1);
    assert_eq!(market.stripe.standin().charges().len(), 1);
    assert!(market.processed_events().await.is_empty(), "no webhook settled it: the re-run job did");
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
    market.wait_for_mail(&market.guest, &format!("Receipt for your stay at {PROPERTY}")).await;
    eprintln!("the orphaned charge was recovered in {recovery:?}");
    rescuer.stop().await;
}

// ---------------------------------------------------------------------------
// 4. Webhooks
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_webhook_event_delivered_twice_is_applied_once() {
    let mut market = Marketplace::open("moderate").await;
    market.start_worker();
    let payment = market.pay(None).await;
    let id = payment["id"].as_str().unwrap();
    market.wait_for_payment(id, "succeeded").await;
    let event = market.standin_event("payment_intent.succeeded").await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    market.wait_for_deliveries(&event_id, 1).await;
    market.wait_for_email_jobs(7).await;
    let events_before = market.processed_events().await;
    assert!(events_before.contains(&(event_id.clone(), "payment_intent.succeeded".into())), "{events_before:?}");

    // Stripe delivers the same event again…
    market.stripe.standin().resend_event(&event_id).unwrap();
    market.wait_for_deliveries(&event_id, 2).await;
    // …and so does anyone replaying it: acknowledged, not applied.
    let ack = expect_json(market.send_signed_event(&event).await, 200).await;
    assert_eq!(ack, json!({"received": true, "applied": false}));
    // An event whose effect is not idempotent by itself (a type we only
    // record) shows that the id, not the payment's state, stops a duplicate.
    let created = market.standin_event("payment_intent.created").await;
    market.wait_for_deliveries(created["id"].as_str().unwrap(), 1).await;
    let ack = expect_json(market.send_signed_event(&created).await, 200).await;
    assert_eq!(ack, json!({"received": true, "applied": false}), "payment_intent.created was seen before");

    assert_eq!(market.processed_events().await, events_before, "one row per event id, nothing new");
    let mails = |m: &Marketplace| (m.smtp.messages_to(&m.guest.email).len(), m.smtp.messages_to(&m.host.email).len());
    let before = mails(&market);
    stays_true("no email is sent again", Duration::from_secs(1), async || mails(&market) == before).await;
    assert_eq!(market.finished_jobs(EmailJob::QUEUE).await, 7);
    assert_eq!(market.payment(id).await["status"], "succeeded");
}

#[tokio::test]
async fn webhook_events_settle_a_payment_before_the_worker_runs_and_a_late_failure_is_ignored() {
    let mut market = Marketplace::open("moderate").await;
    let payment = market.pay(None).await; // no worker yet
    let id = payment["id"].as_str().unwrap();

    let succeeded = intent_event("payment_intent.succeeded", "pi_x", id, json!({"status": "succeeded"}));
    let ack = expect_json(market.send_signed_event(&succeeded).await, 200).await;
    assert_eq!(ack, json!({"received": true, "applied": true}));
    let paid = market.payment(id).await;
    assert_eq!((&paid["status"], &paid["provider_reference"]), (&json!("succeeded"), &json!("pi_x")), "{paid}");
    let booking = market.get_booking(market.booking_id()).await;
    assert_eq!((&booking["status"], &booking["expires_at"]), (&json!("confirmed"), &Value::Null), "{booking}");

    let late_failure = intent_event(
        "payment_intent.payment_failed",
        "pi_x",
        id,
        json!({"status": "requires_payment_method", "last_payment_error": {"message": "Your card was declined."}}),
    );
    let ack = expect_json(market.send_signed_event(&late_failure).await, 200).await;
    assert_eq!(ack, json!({"received": true, "applied": false}), "a late failure changes nothing");
    let still = market.payment(id).await;
    assert_eq!((&still["status"], &still["failure_reason"]), (&json!("succeeded"), &Value::Null), "{still}");
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
    let recorded: Vec<String> = market.processed_events().await.into_iter().map(|(_, kind)| kind).collect();
    assert_eq!(recorded, ["payment_intent.succeeded", "payment_intent.payment_failed"]);

    // The worker's charge job, run late, finds the payment settled and charges nothing.
    market.start_worker();
    eventually("the charge job to finish", async || (market.finished_jobs(PaymentJob::QUEUE).await >= 1).then_some(()))
        .await;
    assert!(market.stripe.standin().payment_intents().is_empty(), "no second charge of a settled payment");
    assert_eq!(market.payment(id).await["status"], "succeeded");
    market.wait_for_mail(&market.guest, &format!("Receipt for your stay at {PROPERTY}")).await;
}

const PENDING_INDEX: &str = "bookings_pending_expiry_idx";

/// Settling a payment finds its booking by key however many holds the
/// planner's statistics leave out. Taken with none and read with 5,000,
/// they made `... where booking_id = $1 and status = 'pending'` a scan of
/// every pending hold (70 ms a confirmation at 225,000 holds).
#[tokio::test]
async fn settling_a_payment_reads_its_booking_by_key_not_every_pending_hold() {
    let market = Marketplace::open("moderate").await;
    let declined = market.pay(None).await;
    let db = &market.app.db;
    // Statistics as an `analyze` in an hour without holds leaves them, and
    // no autovacuum to bring them up to date during the test.
    sqlx::query("alter table bookings set (autovacuum_enabled = off)").execute(db).await.unwrap();
    sqlx::query("analyze bookings").execute(db).await.unwrap();
    sqlx::query("update pg_class set reltuples = 0 where oid = $1::regclass")
        .bind(PENDING_INDEX)
        .execute(db)
        .await
        .unwrap();
    sqlx::query(
        "insert into bookings (booking_id, property_id, guest_id, check_in, check_out, guests, nightly_price,
             nightly_subtotal, cleaning_fee, service_fee, total_price, currency, cancellation_policy, expires_at)
         select gen_random_uuid(), property_id, guest_id, date '2040-01-01' + n, date '2040-01-02' + n, 1,
             100, 100, 0, 0, 100, currency, cancellation_policy, now() + interval '30 minutes'
         from bookings, generate_series(0, 4999) n where booking_id = $1::uuid",
    )
    .bind(market.booking_id())
    .execute(db)
    .await
    .unwrap();

    // The setup does mislead the planner: confirming one of the new holds
    // as the former statement did walks the index.
    let ((), control) = index_entries_read(db, PENDING_INDEX, async |conn| {
        sqlx::query(
            "update bookings set status = 'confirmed', expires_at = null
             where booking_id = (select booking_id from bookings where check_in = '2040-01-01')
               and status = 'pending'",
        )
        .execute(conn)
        .await
        .unwrap();
    })
    .await;
    assert!(control >= 5_000, "the former statement read only {control} entries: the test proves nothing");

    // A declined card holds the booking again, then a second card pays.
    let declined = PaymentId(declined["id"].as_str().unwrap().parse().unwrap());
    let ((), held) = index_entries_read(db, PENDING_INDEX, async |conn| {
        payments::mark_failed(conn, declined, "Your card was declined.", None).await.unwrap();
    })
    .await;
    let paid = market.pay(None).await;
    let paid = PaymentId(paid["id"].as_str().unwrap().parse().unwrap());
    let ((), confirmed) = index_entries_read(db, PENDING_INDEX, async |conn| {
        payments::mark_succeeded(conn, paid, Some("pi_x"), None).await.unwrap();
    })
    .await;

    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
    assert!(held < 100, "holding the booking again read {held} entries of the pending holds' index");
    assert!(confirmed < 100, "confirming the booking read {confirmed} entries of the pending holds' index");
}

/// What the worker does with Stripe's answer to a charge, in one
/// transaction: records the PaymentIntent, then settles.
async fn record_charge(db: &sqlx::PgPool, id: PaymentId) -> Result<Settled, DomainError> {
    let mut tx = db.begin().await?;
    payments::record_reference(&mut tx, id, "pi_x").await?;
    let settled = payments::mark_succeeded(&mut tx, id, Some("pi_x"), None).await?;
    tx.commit().await?;
    Ok(settled)
}

/// The worker records a charge while its guest pays the booking again.
/// `POST /payments` locks the booking, then its insert waits on the update
/// of the payment in flight; recording locks the booking before it writes
/// the payment, so the two take turns: the new attempt is refused and the
/// payment settles. Writing the payment first, each waited on the other
/// until PostgreSQL aborted one (40P01: a 500, or a failed job).
#[tokio::test]
async fn a_charge_recorded_while_its_guest_pays_again_takes_turns_with_the_new_attempt() {
    let market = Marketplace::open("moderate").await;
    let payment = market.pay(None).await;
    let payment_id = PaymentId(payment["id"].as_str().unwrap().parse().unwrap());
    let booking_id = BookingId(market.booking_id().parse().unwrap());
    let guest_id = UserId(market.booking["guest_id"].as_str().unwrap().parse().unwrap());
    let db = market.app.db.clone();

    // Paying again takes the booking's lock first...
    let mut paying = db.begin().await.unwrap();
    bookings::find_for_update(&mut paying, booking_id).await.unwrap().expect("the booking");
    // ...while the worker records the charge in flight.
    let recording = tokio::spawn(async move { record_charge(&db, payment_id).await });
    until_a_statement_waits_on_a_lock(&market.app.db).await;
    let guest = Actor { user_id: guest_id, role: Role::Guest };
    let again = payments::create(&mut paying, guest, booking_id, None, Some("pm_card_visa"), Utc::now(), None).await;
    paying.rollback().await.unwrap();

    match again {
        Err(DomainError::Database(sqlx::Error::Database(e)))
            if e.constraint() == Some("payments_one_live_per_booking") => {}
        other => panic!("paying again while a payment is in flight gave {other:?}"),
    }
    assert_eq!(recording.await.unwrap().expect("recording the charge"), Settled::Now);
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
}

/// Stripe's webhook settles a payment while the worker records the same
/// charge (the stand-in sends it as it answers). Both lock the booking
/// first, so one waits for the other and finds the payment settled. With
/// the worker writing the payment before it locked the booking, and the
/// webhook locking the booking, then the payment, each waited on the other.
#[tokio::test]
async fn the_worker_and_the_webhook_settling_one_payment_at_once_take_turns() {
    let market = Marketplace::open("moderate").await;
    let payment = market.pay(None).await;
    let payment_id = PaymentId(payment["id"].as_str().unwrap().parse().unwrap());
    let db = market.app.db.clone();

    // The worker has recorded the PaymentIntent...
    let mut worker = db.begin().await.unwrap();
    payments::record_reference(&mut worker, payment_id, "pi_x").await.unwrap();
    // ...when the webhook settles the payment...
    let webhook = tokio::spawn(async move {
        let mut tx = db.begin().await?;
        let settled = payments::mark_succeeded(&mut tx, payment_id, Some("pi_x"), None).await?;
        tx.commit().await?;
        Ok::<_, DomainError>(settled)
    });
    until_a_statement_waits_on_a_lock(&market.app.db).await;
    // ...and the worker goes on to settle it too.
    let recorded = payments::mark_succeeded(&mut worker, payment_id, Some("pi_x"), None).await;
    worker.commit().await.unwrap();

    assert_eq!(recorded.expect("the worker's settlement"), Settled::Now);
    assert_eq!(webhook.await.unwrap().expect("the webhook's settlement"), Settled::Already);
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
}

#[tokio::test]
async fn a_webhook_with_a_bad_or_stale_signature_is_refused_and_nothing_is_recorded() {
    let market = Marketplace::open("moderate").await;
    let payment = market.pay(None).await;
    let id = payment["id"].as_str().unwrap();
    let secret = market.app.config.stripe_webhook_secret.expose_secret().to_owned();
    let event = intent_event("payment_intent.succeeded", "pi_x", id, json!({"status": "succeeded"}));
    let now = Utc::now().timestamp();

    let wrong_secret = market.send_event(&event, "whsec_not_the_secret", now).await;
    let problem = expect_problem(wrong_secret, 401).await;
    assert!(problem["detail"].as_str().unwrap_or("").contains("signature"), "{problem}");
    expect_problem(market.send_event(&event, &secret, now - 400).await, 401).await;
    let body = serde_json::to_vec(&event).unwrap();
    let tampered = serde_json::to_vec(&json!({"id": event["id"], "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_other", "metadata": {"payment_id": id}}}}))
    .unwrap();
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut request = market.app.client.post(market.app.url("/payments/webhook")).body(body);
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        request.header("Content-Type", "application/json").send()
    };
    expect_problem(post(tampered, Some(sign(&body, &secret, now))).await.unwrap(), 401).await;
    expect_problem(post(body.clone(), None).await.unwrap(), 401).await;
    assert!(market.processed_events().await.is_empty(), "a refused event is not recorded");
    assert_eq!(market.payment(id).await["status"], "pending");

    let unknown = json!({"id": "evt_unknown_1", "object": "event", "type": "customer.created",
        "data": {"object": {"id": "cus_1", "object": "customer"}}});
    let ack = expect_json(market.send_signed_event(&unknown).await, 200).await;
    assert_eq!(ack, json!({"received": true, "applied": true}), "recorded, and nothing to do");
    assert_eq!(market.processed_events().await, [("evt_unknown_1".to_owned(), "customer.created".to_owned())]);

    // The same event, signed as it should be, is accepted: the refusals were the signatures'.
    expect_json(market.send_signed_event(&event).await, 200).await;
    assert_eq!(market.payment(id).await["status"], "succeeded");
}

// ---------------------------------------------------------------------------
// 5. One payment per booking
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_payment_repeated_with_the_same_idempotency_key_creates_one_payment() {
    let mut market = Marketplace::open("moderate").await;
    let body = json!({"booking_id": market.booking_id(), "payment_method": "pm_card_visa"});

    let first = market.pay_as(&market.guest.token, &body, Some("pay-once-123")).await;
    assert_eq!(first.headers().get("idempotent-replayed"), None);
    let first = expect_json(first, 202).await;
    let second = market.pay_as(&market.guest.token, &body, Some("pay-once-123")).await;
    assert_eq!(second.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let second = expect_json(second, 202).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second, first, "the first answer, replayed");
    let other_body = json!({"booking_id": market.booking_id(), "payment_method": "pm_card_mastercard"});
    let misuse = expect_problem(market.pay_as(&market.guest.token, &other_body, Some("pay-once-123")).await, 422).await;
    assert_eq!(misuse["errors"][0]["field"], "Idempotency-Key", "{misuse}");
    assert_eq!(market.payments_rows().await, 1);

    market.start_worker();
    market.wait_for_payment(first["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(market.stripe.standin().payment_intents().len(), 1, "one charge job, one charge");
}

#[tokio::test]
async fn twenty_concurrent_payment_attempts_for_one_booking_make_exactly_one_payment() {
    let mut market = Marketplace::open("moderate").await;
    let body = json!({"booking_id": market.booking_id()});
    let keys: Vec<Option<String>> = (0..20).map(|i| (i % 2 == 0).then(|| format!("attempt-{i}"))).collect();
    let answers = futures::future::join_all(keys.iter().map(|key| async {
        let response = market.pay_as(&market.guest.token, &body, key.as_deref()).await;
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }))
    .await;

    let accepted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 202).map(|(_, b)| b).collect();
    assert_eq!(accepted.len(), 1, "exactly one 202: {answers:?}");
    for (status, problem) in answers.iter().filter(|(s, _)| *s != 202) {
        assert_eq!(*status, 409, "{problem}");
        let kind = problem["type"].as_str().unwrap_or("");
        assert!(["/problems/payment-exists", "/problems/booking-not-payable"].contains(&kind), "{problem}");
    }
    assert_eq!(market.payments_rows().await, 1);

    market.start_worker();
    market.wait_for_payment(accepted[0]["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(market.stripe.standin().payment_intents().len(), 1);
}

// ---------------------------------------------------------------------------
// 6. Refunds on cancellation
// ---------------------------------------------------------------------------

/// Pays the booking, lets the guest cancel it and checks the refund of
/// `expected` end to end; returns the payment as it ends.
async fn cancel_a_paid_booking(policy: &str, expected: impl Fn(i64) -> i64, ends: &str) -> (Marketplace, Value) {
    let mut market = Marketplace::open(policy).await;
    market.start_worker();
    let id = market.pay(None).await["id"].as_str().unwrap().to_owned();
    let paid = market.wait_for_payment(&id, "succeeded").await;
    let intent = paid["provider_reference"].as_str().unwrap().to_owned();
    market.wait_for_email_jobs(7).await;
    let refund = expected(market.total());

    let cancelled = expect_json(
        market.app.delete(&format!("/bookings/{}", market.booking_id()), Some(&market.guest.token)).await,
        200,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["refund_amount"], refund, "{policy}, 30 days ahead: {cancelled}");

    let payment = market.wait_for_payment(&id, ends).await;
    assert_eq!(payment["refunded_amount"], refund, "{payment}");
    let refunds = market.stripe.standin().refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], refund);
    assert_eq!(refunds[0]["payment_intent"], intent.as_str());

    // Stripe's charge.refunded reports the same refund: it is not counted twice,
    // whether it came before or after the worker's own record.
    let event = market.standin_event("charge.refunded").await;
    assert_eq!(event["data"]["object"]["amount_refunded"], refund);
    market.wait_for_deliveries(event["id"].as_str().unwrap(), 1).await;
    let again = json!({
        "id": "evt_refund_report_again",
        "object": "event",
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_x", "object": "charge", "payment_intent": intent,
            "amount_refunded": refund, "refunded": refund == market.total()}}
    });
    let ack = expect_json(market.send_signed_event(&again).await, 200).await;
    assert_eq!(ack["applied"], false, "the same refund reported again changes nothing");
    let payment = market.payment(&id).await;
    assert_eq!((&payment["status"], &payment["refunded_amount"]), (&json!(ends), &json!(refund)), "{payment}");

    let refunded = money(refund, "EUR");
    let to_guest = market.wait_for_mail(&market.guest, &format!("Refund of {refunded} for {PROPERTY}")).await;
    assert!(to_guest.text.contains(&format!("we refunded {refunded}")), "{}", to_guest.text);
    market.wait_for_mail(&market.host, &format!("Refund to the guest for {PROPERTY}")).await;
    let cancelled = format!("Booking cancelled: {PROPERTY}");
    let to_guest = market.wait_for_mail(&market.guest, &cancelled).await;
    assert!(to_guest.text.contains(&format!("Refund: {refunded}")), "{}", to_guest.text);
    market.wait_for_mail(&market.host, &cancelled).await;
    market.wait_for_email_jobs(7 + 4).await;
    let refund_mails: i64 = sqlx::query_scalar("select count(*) from sent_emails where template = 'refund_issued'")
        .fetch_one(&market.app.db)
        .await
        .unwrap();
    assert_eq!(refund_mails, 2, "one refund email to each party");
    (market, payment)
}

#[tokio::test]
async fn a_guest_cancelling_a_paid_strict_booking_a_month_ahead_is_refunded_half_at_stripe() {
    let (market, payment) = cancel_a_paid_booking("strict", |total| total / 2, "partially_refunded").await;
    assert!(payment["refunded_amount"].as_i64().unwrap() < market.total());
}

#[tokio::test]
async fn a_guest_cancelling_a_paid_flexible_booking_a_month_ahead_is_refunded_in_full_at_stripe() {
    let (market, payment) = cancel_a_paid_booking("flexible", |total| total, "refunded").await;
    assert_eq!(payment["refunded_amount"], market.total());
}

// ---------------------------------------------------------------------------
// 7. Stripe failing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_charge_meeting_two_stripe_errors_is_retried_and_charged_once() {
    let mut market = Marketplace::open("moderate").await;
    market.stripe.standin().fail_next(2, 500, false).unwrap();
    market.start_worker();

    let id = market.pay(None).await["id"].as_str().unwrap().to_owned();
    let paid = market.wait_for_payment(&id, "succeeded").await;
    let intents = market.stripe.standin().payment_intents();
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(intents[0]["id"], paid["provider_reference"]);
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
}

#[tokio::test]
async fn a_charge_stripe_keeps_refusing_fails_visibly_waits_in_the_dead_set_and_can_be_run_again() {
    let mut market = Marketplace::open("moderate").await;
    market.stripe.standin().fail_next(20, 500, false).unwrap();
    market.start_worker();

    let id = market.pay(None).await["id"].as_str().unwrap().to_owned();
    let failed = market.wait_for_payment(&id, "failed").await;
    let reason = failed["failure_reason"].as_str().expect("a failure reason");
    assert!(reason.contains("payment provider"), "{reason}");
    assert!(market.stripe.standin().payment_intents().is_empty());
    let booking = market.get_booking(market.booking_id()).await;
    assert_eq!(booking["status"], "pending");
    let left = expires_at(&booking).expect("a retry window") - Utc::now();
    assert!(left > chrono::Duration::minutes(14), "{left}");
    market.wait_for_mail(&market.guest, &format!("Your payment for {PROPERTY} did not go through")).await;

    let redis = shared::redis::connect(&market.app.config).unwrap();
    let config = &market.app.config;
    let dead = eventually("the charge job in the dead set", async || {
        let dead = worker::dead::list(&redis, config, PaymentJob::QUEUE).await.unwrap();
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let job = &dead[0];
    assert!(job.payload.as_ref().is_some_and(|p| p.to_string().contains(&id)), "the charge of this payment: {job:?}");
    assert!(job.last_result.as_deref().is_some_and(|r| r.contains("500") || r.contains("Stripe")), "{job:?}");

    // Stripe is healthy again; the operator runs the job again.
    market.stripe.standin().fail_next(0, 500, false).unwrap();
    let finished = market.finished_jobs(PaymentJob::QUEUE).await;
    assert!(worker::dead::retry(&redis, config, PaymentJob::QUEUE, &job.id).await.unwrap());
    eventually("the retried job to finish", async || {
        (market.finished_jobs(PaymentJob::QUEUE).await > finished).then_some(())
    })
    .await;
    assert!(worker::dead::list(&redis, config, PaymentJob::QUEUE).await.unwrap().is_empty(), "the dead set is empty");
    assert_eq!(market.payment(&id).await["status"], "failed", "a failed payment stays failed");
    assert!(market.stripe.standin().payment_intents().is_empty(), "the failed payment was not charged after all");

    // The worker lives on: the guest pays again and it goes through.
    let retry = market.pay(None).await["id"].as_str().unwrap().to_owned();
    market.wait_for_payment(&retry, "succeeded").await;
    assert_eq!(market.stripe.standin().payment_intents().len(), 1);
}

// ---------------------------------------------------------------------------
// 8. Who may pay and see, and what a request may say
// ---------------------------------------------------------------------------

#[tokio::test]
async fn only_the_booking_s_guest_may_pay_it_and_only_its_parties_see_the_payment() {
    let market = Marketplace::open("moderate").await;
    let stranger = Account::new(&market.app, "guest").await;
    let body = json!({"booking_id": market.booking_id()});

    expect_problem(market.pay_as(&stranger.token, &body, None).await, 404).await;
    expect_problem(market.pay_as(&market.host.token, &body, None).await, 403).await;
    assert_eq!(market.payments_rows().await, 0);
    let id = market.pay(None).await["id"].as_str().unwrap().to_owned();

    let path = format!("/payments/{id}");
    expect_problem(market.app.get(&path, Some(&stranger.token)).await, 404).await;
    assert_eq!(expect_json(market.app.get(&path, Some(&market.host.token)).await, 200).await["id"], id.as_str());
    expect_problem(market.app.get(&path, None).await, 401).await;

    // The stranger books other dates and pays for them.
    let own_booking = market.book(&stranger, 60, 2).await;
    let own =
        expect_json(market.pay_as(&stranger.token, &json!({"booking_id": own_booking["id"]}), None).await, 202).await;
    let listed = async |token: &str| -> Vec<String> {
        let page = expect_json(market.app.get("/payments", Some(token)).await, 200).await;
        let mut ids: Vec<String> =
            page["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    let own_id = own["id"].as_str().unwrap().to_owned();
    let mut both = vec![id.clone(), own_id.clone()];
    both.sort();
    assert_eq!(listed(&market.guest.token).await, [id]);
    assert_eq!(listed(&stranger.token).await, [own_id]);
    assert_eq!(listed(&market.host.token).await, both, "the host sees its bookings' payments");
}

#[tokio::test]
async fn a_cancelled_or_expired_booking_cannot_be_paid() {
    let market = Marketplace::open("moderate").await;
    expect_json(market.app.delete(&format!("/bookings/{}", market.booking_id()), Some(&market.guest.token)).await, 200)
        .await;
    let cancelled = market.pay_as(&market.guest.token, &json!({"booking_id": market.booking_id()}), None).await;
    assert_eq!(expect_problem(cancelled, 409).await["type"], "/problems/booking-not-payable");

    let lapsed = market.book(&market.guest, 60, 2).await;
    sqlx::query("update bookings set expires_at = now() - interval '1 minute' where booking_id = $1::uuid")
        .bind(lapsed["id"].as_str().unwrap())
        .execute(&market.app.db)
        .await
        .unwrap();
    let expired = market.pay_as(&market.guest.token, &json!({"booking_id": lapsed["id"]}), None).await;
    assert_eq!(expect_problem(expired, 409).await["type"], "/problems/booking-not-payable");
    assert_eq!(market.payments_rows().await, 0);
}

#[tokio::test]
async fn a_payment_request_with_a_malformed_method_or_client_set_fields_is_refused_and_stores_nothing() {
    let market = Marketplace::open("moderate").await;
    let booking_id = market.booking_id();

    let bad_method = json!({"booking_id": booking_id, "payment_method": "not-a-pm"});
    let problem = expect_problem(market.pay_as(&market.guest.token, &bad_method, None).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "payment_method", "{problem}");
    for extra in [json!({"amount": 1}), json!({"status": "succeeded"}), json!({"currency": "USD"})] {
        let mut body = json!({"booking_id": booking_id});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        expect_problem(market.pay_as(&market.guest.token, &body, None).await, 400).await;
    }
    assert_eq!(market.payments_rows().await, 0, "nothing stored");
    let booking = market.get_booking(booking_id).await;
    assert!(expires_at(&booking).is_some(), "the hold was not frozen by a refused request: {booking}");
}

// ---------------------------------------------------------------------------
// 9. A charge that lands after its booking was cancelled
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_charge_that_succeeds_after_its_booking_was_cancelled_is_refunded_in_full() {
    let mut market = Marketplace::open("moderate").await;
    let id = market.pay(None).await["id"].as_str().unwrap().to_owned(); // no worker yet
    let cancelled = expect_json(
        market.app.delete(&format!("/bookings/{}", market.booking_id()), Some(&market.guest.token)).await,
        200,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");

    market.start_worker();
    let payment = market.wait_for_payment(&id, "refunded").await;
    assert_eq!(payment["refunded_amount"], market.total(), "{payment}");
    assert_eq!(market.stripe.standin().succeeded_payment_intents(), 1, "the card was charged");
    let refunds = market.stripe.standin().refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], market.total(), "…and everything went back");
    assert_eq!(refunds[0]["payment_intent"], payment["provider_reference"]);
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "cancelled", "it stays cancelled");
    let refunded = money(market.total(), "EUR");
    market.wait_for_mail(&market.guest, &format!("Refund of {refunded} for {PROPERTY}")).await;
    assert!(
        !market.subjects_to(&market.guest).iter().any(|s| s.starts_with("Booking confirmed")),
        "a cancelled booking is not confirmed"
    );
}

// ---------------------------------------------------------------------------
// 10. A charge given up as failed that Stripe made after all
// ---------------------------------------------------------------------------

// A charge Stripe made while every attempt of the worker failed to learn
// it (a Stripe outage through all of them) leaves the payment `failed` with
// no PaymentIntent. Stripe's succeeded webhook then reveals the charge, and
// the money must go back. (Before 5b3e0b2 the refund had no PaymentIntent
// to draw on and went to the dead set.)
#[tokio::test]
async fn a_charge_the_worker_gave_up_on_that_stripe_reports_succeeded_is_refunded_in_full() {
    let market = Marketplace::open("moderate").await;
    market.stripe.standin().set_webhook(None, None); // Stripe's report comes later, when the test sends it
    let id = market.pay(None).await["id"].as_str().unwrap().to_owned();

    // Stripe charged (as the lost first attempt did) …
    let charged = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents", market.stripe.running.base_url()))
        .bearer_auth("sk_test_standin")
        .form(&[
            ("amount", market.total().to_string()),
            ("currency", "eur".to_owned()),
            ("payment_method", "pm_card_visa".to_owned()),
            ("confirm", "true".to_owned()),
            ("metadata[payment_id]", id.clone()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(charged.status(), 200, "{}", charged.text().await.unwrap_or_default());
    // … but the worker gave up, as it does after its last attempt.
    let payment_id = PaymentId(id.parse().unwrap());
    let mut tx = market.app.db.begin().await.unwrap();
    payments::start_processing(&mut tx, payment_id).await.unwrap();
    payments::mark_failed(&mut tx, payment_id, "The payment provider could not be reached.", None).await.unwrap();
    tx.commit().await.unwrap();
    let failed = market.wait_for_payment(&id, "failed").await;
    assert_eq!(failed["provider_reference"], Value::Null, "the worker never learnt the PaymentIntent");

    // Stripe reports the charge: the money must go back.
    let worker = TestWorker::spawn(market.stripe.worker_config(&market.app));
    let secret = market.app.config.stripe_webhook_secret.expose_secret().to_owned();
    market.stripe.standin().set_webhook(Some(market.app.url("/payments/webhook")), Some(secret));
    let succeeded = market.standin_event("payment_intent.succeeded").await;
    let intent = succeeded["data"]["object"]["id"].as_str().unwrap().to_owned();
    market.stripe.standin().resend_event(succeeded["id"].as_str().unwrap()).unwrap();
    market.wait_for_deliveries(succeeded["id"].as_str().unwrap(), 1).await;

    let refunded = market.wait_for_payment(&id, "refunded").await;
    assert_eq!(refunded["refunded_amount"], market.total());
    assert_eq!(refunded["provider_reference"], json!(intent), "the webhook's PaymentIntent was recorded");
    let refunds = market.stripe.standin().refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!((&refunds[0]["amount"], &refunds[0]["payment_intent"]), (&json!(market.total()), &json!(intent)));
    worker.stop().await;
}

// A worker that takes over while Stripe still runs the first charge request
// (same idempotency key) waits for its answer instead of failing the payment.
#[tokio::test]
async fn a_worker_taking_over_a_charge_still_running_at_stripe_waits_for_it_and_charges_once() {
    let market = Marketplace::open("moderate").await;
    market.stripe.standin().delay_next(1, Duration::from_secs(8));
    let doomed = WorkerProcess::spawn(&market);
    let id = market.pay(None).await["id"].as_str().unwrap().to_owned();
    eventually("the charge at the stand-in", async || {
        (market.stripe.standin().succeeded_payment_intents() == 1).then_some(())
    })
    .await;
    doomed.kill();
    let rescuer = TestWorker::spawn(market.stripe.worker_config(&market.app));
    let paid = market.wait_for_payment(&id, "succeeded").await;
    assert_eq!(market.stripe.standin().payment_intents().len(), 1, "one charge");
    assert_eq!(paid["provider_reference"], market.stripe.standin().payment_intents()[0]["id"]);
    rescuer.stop().await;
}

/// Makes the scheduled `bookings` job of `kind` due now (it was queued to
/// become due at the hold's expiry or on the check-out day).
async fn make_booking_job_due(market: &Marketplace, kind: &str) {
    let moved =
        sqlx::query("update outbox set available_at = now() where queue = 'bookings' and payload->>'kind' = $1")
            .bind(kind)
            .execute(&market.app.db)
            .await
            .unwrap()
            .rows_affected();
    assert_eq!(moved, 1, "one {kind} job was scheduled");
}

/// Polls the booking's stored status until `status`, for less than the
/// sweeper's 30 s pass (the API would show a lapsed hold as expired before
/// anything stored it).
async fn wait_for_stored_status(market: &Marketplace, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stored: String = sqlx::query_scalar("select status::text from bookings where booking_id = $1::uuid")
            .bind(market.booking_id())
            .fetch_one(&market.app.db)
            .await
            .unwrap();
        if stored == status {
            return;
        }
        assert!(Instant::now() < deadline, "the booking is still {stored}, never {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_unpaid_hold_expires_through_the_bookings_queue_when_it_is_due() {
    let mut market = Marketplace::open("moderate").await;
    let due: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "select available_at from outbox where queue = 'bookings' and payload->>'kind' = 'expire_hold'",
    )
    .fetch_one(&market.app.db)
    .await
    .unwrap();
    let expires: chrono::DateTime<chrono::Utc> = market.booking["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((due - expires).num_seconds().abs() <= 1, "the job is due when the hold lapses: {due} vs {expires}");

    market.start_worker();
    tokio::time::sleep(Duration::from_millis(500)).await; // past the worker's first sweep
    sqlx::query("update bookings set expires_at = now() - interval '1 second' where booking_id = $1::uuid")
        .bind(market.booking_id())
        .execute(&market.app.db)
        .await
        .unwrap();
    make_booking_job_due(&market, "expire_hold").await;
    wait_for_stored_status(&market, "expired").await;
}

#[tokio::test]
async fn a_confirmed_stay_completes_through_the_bookings_queue_on_its_check_out_day() {
    let mut market = Marketplace::open("moderate").await;
    market.start_worker();
    let id = market.pay(None).await["id"].as_str().unwrap().to_owned();
    market.wait_for_payment(&id, "succeeded").await;
    let due: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "select available_at from outbox where queue = 'bookings' and payload->>'kind' = 'complete_stay'",
    )
    .fetch_one(&market.app.db)
    .await
    .unwrap();
    let check_out = market.booking["check_out"].as_str().unwrap();
    assert_eq!(
        due.format("%Y-%m-%d %H:%M:%S").to_string(),
        format!("{check_out} 00:00:00"),
        "due on the check-out day"
    );

    // The stay happens (moved into the past), and its day comes.
    sqlx::query(
        "update bookings set check_in = current_date - 4, check_out = current_date - 1 where booking_id = $1::uuid",
    )
    .bind(market.booking_id())
    .execute(&market.app.db)
    .await
    .unwrap();
    make_booking_job_due(&market, "complete_stay").await;
    wait_for_stored_status(&market, "completed").await;
}

#[tokio::test]
async fn a_card_that_needs_authentication_stays_processing_until_stripe_s_webhook_settles_it() {
    let mut market = Marketplace::open("moderate").await;
    market.start_worker();
    let id = market.pay(Some("pm_card_authenticationRequired")).await["id"].as_str().unwrap().to_owned();

    // Stripe answers requires_action: the worker records it and waits.
    let deadline = Instant::now() + WAIT;
    let intent = loop {
        let payment = market.payment(&id).await;
        if let Some(intent) = payment["provider_reference"].as_str() {
            assert_eq!(payment["status"], "processing", "{payment}");
            break intent.to_owned();
        }
        assert!(Instant::now() < deadline, "the worker never recorded the PaymentIntent: {payment}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(market.payment(&id).await["status"], "processing", "nothing settles it but Stripe");
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "pending");

    // The guest authenticates; Stripe's webhook settles the payment.
    market.stripe.standin().authenticate(&intent, true).expect("authenticate at the stand-in");
    let paid = market.wait_for_payment(&id, "succeeded").await;
    assert_eq!(paid["provider_reference"], json!(intent));
    assert_eq!(market.get_booking(market.booking_id()).await["status"], "confirmed");
    assert_eq!(market.stripe.standin().payment_intents().len(), 1, "one charge");
}
