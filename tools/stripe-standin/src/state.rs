//! The in-memory world: Stripe objects, events and their deliveries, idempotency keys and
//! injected faults. Everything sits behind one mutex ([`Shared::lock`]) that no code holds
//! across an `.await`, so each API call acts atomically.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poem::http::StatusCode;
use serde_json::Value;

use crate::cards::{Decline, TestCard};
use crate::idempotency::Idempotency;
use crate::objects;

/// Settings fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The only accepted secret key; `None` accepts any `sk_test_…` key.
    pub api_key: Option<String>,
    /// Rendered as `api_version` in events and as the `Stripe-Version` response header.
    pub api_version: String,
    /// Pause before each webhook delivery attempt; its length is the number of attempts.
    pub webhook_retry_delays: Vec<Duration>,
}

/// What every request handler and delivery task shares.
#[derive(Debug)]
pub struct Shared {
    pub settings: Settings,
    pub store: Mutex<Store>,
    pub http: reqwest::Client,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves the data usable; a test tool keeps serving.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// All state. Objects are kept in creation order, which the `/_standin` listings show.
#[derive(Debug, Default)]
pub struct Store {
    pub payment_intents: Vec<PaymentIntent>,
    pub charges: Vec<Charge>,
    pub refunds: Vec<Refund>,
    pub payment_methods: Vec<PaymentMethod>,
    pub events: Vec<Value>,
    pub deliveries: Vec<Value>,
    pub webhook: Webhook,
    pub idempotency: Idempotency,
    pub faults: Faults,
    pub api_version: String,
    /// Ids of events created by the current call, delivered once the lock is released.
    pub outbox: Vec<String>,
}

/// Where events go. No URL: events are recorded but not sent.
#[derive(Debug, Default, Clone)]
pub struct Webhook {
    pub url: Option<String>,
    pub secret: String,
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub status: Status,
    pub capture_method: String,
    pub confirmation_method: String,
    pub client_secret: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Cleared by a failed attempt, as Stripe does: the next confirm needs a payment method.
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub latest_charge: Option<String>,
    pub amount_received: i64,
    pub last_payment_error: Option<PaymentError>,
    pub next_action: Option<NextAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Succeeded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::RequiresPaymentMethod => "requires_payment_method",
            Status::RequiresConfirmation => "requires_confirmation",
            Status::RequiresAction => "requires_action",
            Status::Succeeded => "succeeded",
        }
    }
}

/// `last_payment_error` of a PaymentIntent.
#[derive(Debug, Clone)]
pub struct PaymentError {
    pub kind: &'static str,
    pub code: &'static str,
    pub decline_code: Option<&'static str>,
    pub message: &'static str,
    pub charge: Option<String>,
    pub payment_method: Option<String>,
}

#[derive(Debug, Clone)]
pub enum NextAction {
    UseStripeSdk,
    RedirectToUrl { return_url: String },
}

#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub created: i64,
    pub payment_intent: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    /// `None` for a successful charge.
    pub failure: Option<&'static Decline>,
    pub payment_method: String,
    pub card: &'static TestCard,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    pub customer: Option<String>,
    pub receipt_email: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub metadata: BTreeMap<String, String>,
    pub reason: Option<String>,
}

/// A PaymentMethod made from a `pm_card_*` alias; each use of an alias makes a new one.
#[derive(Debug, Clone)]
pub struct PaymentMethod {
    pub id: String,
    pub created: i64,
    pub card: &'static TestCard,
}

/// Which API request caused an event (`request` in the event).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Faults armed through `/_standin/fail_next` and `/_standin/delay_next`.
#[derive(Debug, Default)]
pub struct Faults {
    pub fail: Option<Fail>,
    pub delay: Option<Delay>,
}

#[derive(Debug, Clone, Copy)]
pub struct Fail {
    pub remaining: u32,
    pub status: StatusCode,
    /// Store the injected error under the request's idempotency key, as Stripe stores a 500
    /// that happened once the endpoint had begun executing.
    pub stored: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Delay {
    pub remaining: u32,
    pub duration: Duration,
}

impl Faults {
    /// Takes one use of each armed fault for the current API request.
    pub fn take(&mut self) -> (Option<Fail>, Option<Duration>) {
        let fail = take_one(&mut self.fail, |fail| &mut fail.remaining);
        let delay = take_one(&mut self.delay, |delay| &mut delay.remaining).map(|delay| delay.duration);
        (fail, delay)
    }
}

fn take_one<T: Copy>(slot: &mut Option<T>, remaining: impl Fn(&mut T) -> &mut u32) -> Option<T> {
    let value = slot.as_mut()?;
    let left = remaining(value);
    *left = left.saturating_sub(1);
    let taken = *value;
    if *remaining(value) == 0 {
        *slot = None;
    }
    Some(taken)
}

impl Store {
    pub fn payment_intent(&self, id: &str) -> Option<&PaymentIntent> {
        self.payment_intents.iter().find(|pi| pi.id == id)
    }

    pub fn payment_intent_mut(&mut self, id: &str) -> Option<&mut PaymentIntent> {
        self.payment_intents.iter_mut().find(|pi| pi.id == id)
    }

    pub fn charge(&self, id: &str) -> Option<&Charge> {
        self.charges.iter().find(|charge| charge.id == id)
    }

    pub fn charge_mut(&mut self, id: &str) -> Option<&mut Charge> {
        self.charges.iter_mut().find(|charge| charge.id == id)
    }

    pub fn payment_method(&self, id: &str) -> Option<&PaymentMethod> {
        self.payment_methods.iter().find(|pm| pm.id == id)
    }

    /// Records an event and queues it for delivery.
    pub fn emit(&mut self, kind: &str, object: Value, request: &RequestInfo) {
        let id = new_id("evt");
        let pending_webhooks = u32::from(self.webhook.url.is_some());
        let event = objects::event(&id, kind, object, &self.api_version, pending_webhooks, request);
        tracing::info!(event = %id, kind, "event");
        self.events.push(event);
        self.outbox.push(id);
    }

    pub fn event(&self, id: &str) -> Option<&Value> {
        self.events.iter().find(|event| event["id"] == id)
    }

    /// Forgets every object, event, key and fault; keeps the webhook target.
    pub fn reset(&mut self) {
        *self = Store {
            webhook: self.webhook.clone(),
            api_version: std::mem::take(&mut self.api_version),
            ..Store::default()
        };
    }
}

/// A Stripe-looking id: the prefix, `_`, 24 random alphanumerics.
pub fn new_id(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &random[..24])
}

/// Seconds since the Unix epoch, Stripe's timestamps.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}
