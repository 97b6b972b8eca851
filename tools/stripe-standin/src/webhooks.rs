//! Webhook delivery as Stripe does it: the event JSON `POST`ed to the endpoint with
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, signed afresh at
//! each attempt, retried while the endpoint does not answer 2xx.
//!
//! Each event is delivered by its own task, so events can arrive in any order and before the
//! API response that caused them — as with Stripe. Stripe retries for up to three days; the
//! stand-in retries after the pauses in [`Settings::webhook_retry_delays`](crate::state::Settings).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::state::{Shared, now};

/// The `Stripe-Signature` header for `payload` signed at `timestamp`.
pub fn signature_header(secret: &str, timestamp: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("BUG: HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Starts delivering each event, if a webhook URL is set; events are recorded either way.
pub fn deliver(shared: &Arc<Shared>, event_ids: Vec<String>) {
    if shared.lock().webhook.url.is_none() {
        return;
    }
    for event_id in event_ids {
        tokio::spawn(deliver_one(shared.clone(), event_id));
    }
}

async fn deliver_one(shared: Arc<Shared>, event_id: String) {
    for (attempt, pause) in shared.settings.webhook_retry_delays.iter().enumerate() {
        tokio::time::sleep(*pause).await;
        let (webhook, payload) = {
            let store = shared.lock();
            let Some(event) = store.event(&event_id) else { return };
            (store.webhook.clone(), event.to_string())
        };
        let Some(url) = webhook.url else { return };
        let timestamp = now();
        let result = shared
            .http
            .post(&url)
            .header("Stripe-Signature", signature_header(&webhook.secret, timestamp, &payload))
            .header("Content-Type", "application/json; charset=utf-8")
            .header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .body(payload)
            .send()
            .await;
        let (status, error) = match &result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) => (None, Some(error.to_string())),
        };
        let delivered = result.is_ok_and(|response| response.status().is_success());
        tracing::info!(event = %event_id, attempt = attempt + 1, ?status, ?error, delivered, "webhook delivery");
        shared.lock().deliveries.push(json!({
            "event": event_id,
            "attempt": attempt + 1,
            "url": url,
            "status": status,
            "error": error,
            "delivered": delivered,
            "at": timestamp,
        }));
        if delivered {
            return;
        }
    }
    tracing::warn!(event = %event_id, "webhook not delivered; giving up");
}
