//! [`Standin`]: the test controls, callable in process or over HTTP under `/_standin`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure};
use poem::http::StatusCode;
use serde_json::Value;

use crate::state::{Delay, Fail, Shared, Status};
use crate::{objects, payments, webhooks};

/// A handle on a running stand-in's state, to inspect what the code under test did and to
/// arm faults. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Standin {
    shared: Arc<Shared>,
}

impl Standin {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Every PaymentIntent, in creation order, as the API renders them.
    pub fn payment_intents(&self) -> Vec<Value> {
        let store = self.shared.lock();
        store.payment_intents.iter().map(|pi| objects::payment_intent(&store, pi)).collect()
    }

    /// How many PaymentIntents reached `succeeded`: the number of successful charges.
    pub fn succeeded_payment_intents(&self) -> usize {
        self.shared.lock().payment_intents.iter().filter(|pi| pi.status == Status::Succeeded).count()
    }

    /// Every charge attempt, successful or failed.
    pub fn charges(&self) -> Vec<Value> {
        self.shared.lock().charges.iter().map(objects::charge).collect()
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.shared.lock().refunds.iter().map(objects::refund).collect()
    }

    /// Every event generated, in order, whether or not a webhook URL was set.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock().events.clone()
    }

    /// Every webhook delivery attempt: `{event, attempt, url, status, error, delivered, at}`.
    pub fn deliveries(&self) -> Vec<Value> {
        self.shared.lock().deliveries.clone()
    }

    /// Sets (or, with `None`, clears) where events are sent; `secret` replaces the signing secret.
    pub fn set_webhook(&self, url: Option<String>, secret: Option<String>) {
        let mut store = self.shared.lock();
        store.webhook.url = url.filter(|url| !url.is_empty());
        if let Some(secret) = secret.filter(|secret| !secret.is_empty()) {
            store.webhook.secret = secret;
        }
    }

    pub fn webhook_secret(&self) -> String {
        self.shared.lock().webhook.secret.clone()
    }

    /// The next `count` API requests answer `status` (`api_error`, or `rate_limit` for 429)
    /// without acting. With `stored`, a request carrying an idempotency key has that error
    /// saved under the key, so that retries replay it — Stripe's behaviour for a 500 raised
    /// once the endpoint began executing. Without it, the failure is one Stripe never saw
    /// (a failure in front of the API), and a retry under the same key acts.
    pub fn fail_next(&self, count: u32, status: u16, stored: bool) -> anyhow::Result<()> {
        let status = StatusCode::from_u16(status)?;
        ensure!(status.is_client_error() || status.is_server_error(), "status {status} is not an error");
        self.shared.lock().faults.fail = (count > 0).then_some(Fail { remaining: count, status, stored });
        Ok(())
    }

    /// The next `count` API requests take `duration` longer. The request acts first and then
    /// waits, holding its idempotency key: a client that times out has been charged, and a
    /// retry under the same key meanwhile gets a 409.
    pub fn delay_next(&self, count: u32, duration: Duration) {
        self.shared.lock().faults.delay = (count > 0).then_some(Delay { remaining: count, duration });
    }

    /// Delivers an event again, unchanged (same id, same body, new signature): a duplicate,
    /// as Stripe may send.
    pub fn resend_event(&self, event_id: &str) -> anyhow::Result<()> {
        let store = self.shared.lock();
        if store.event(event_id).is_none() {
            bail!("no such event: {event_id}");
        }
        if store.webhook.url.is_none() {
            bail!("no webhook URL is set");
        }
        drop(store);
        webhooks::deliver(&self.shared, vec![event_id.to_owned()]);
        Ok(())
    }

    /// Completes (or fails) the 3D Secure step of a `requires_action` PaymentIntent, which
    /// Stripe's test card leaves to a browser. Returns the PaymentIntent, or Stripe's error.
    pub fn authenticate(&self, payment_intent: &str, succeed: bool) -> Result<Value, Value> {
        let mut store = self.shared.lock();
        let result = payments::authenticate(&mut store, payment_intent, succeed);
        let outbox = std::mem::take(&mut store.outbox);
        drop(store);
        webhooks::deliver(&self.shared, outbox);
        result.map_err(|error| error.to_json())
    }

    /// Forgets all objects, events, deliveries, idempotency keys and faults.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }
}
