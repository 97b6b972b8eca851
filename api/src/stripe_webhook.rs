//! Stripe's webhook: signature verification and the events we apply.
//!
//! The signature is checked as Stripe documents it (HMAC-SHA256 of
//! `"{t}.{body}"` with the endpoint's secret, any `v1` entry matching, `t`
//! within five minutes). Events are read for the few fields we use rather
//! than parsed whole, so that an event in another API version still applies.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::{
    domain::PaymentId,
    payments::{self, Settled},
};
use sqlx::PgPool;

/// Signatures older (or newer) than this are refused, against replays.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the signature timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
    #[error("no v1 signature matches the body")]
    Mismatch,
    #[error("the body is not a Stripe event: {0}")]
    NotAnEvent(#[from] serde_json::Error),
}

/// The parts of a Stripe event we use.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&inner_pad).chain_update(message).finalize();
    Sha256::new().chain_update(&outer_pad).chain_update(inner).finalize().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies `header` (`t=…,v1=…[,v1=…]`) over `body` at `now` (unix s).
pub fn verify_at(body: &[u8], header: &str, secret: &str, now: i64) -> Result<Event, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v1)) => signatures.push(v1),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let expected = hex(&hmac_sha256(secret.as_bytes(), &signed));
    if !signatures.iter().any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes())) {
        return Err(SignatureError::Mismatch);
    }
    Ok(serde_json::from_slice(body)?)
}

/// Verifies a webhook request now.
pub fn verify(body: &[u8], header: &str, secret: &str) -> Result<Event, SignatureError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    verify_at(body, header, secret, now)
}

/// The `Stripe-Signature` header Stripe would send for `body` at `timestamp`.
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={timestamp},v1={}", hex(&hmac_sha256(secret.as_bytes(), &signed)))
}

fn text<'a>(object: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(object, |value, key| value.get(key)).and_then(|v| v.as_str())
}

/// Our payment for a PaymentIntent or Charge object: by its recorded
/// PaymentIntent id, else by the payment id we put in its metadata.
async fn payment_of(
    db: &mut sqlx::PgConnection,
    intent: Option<&str>,
    object: &serde_json::Value,
) -> sqlx::Result<Option<PaymentId>> {
    if let Some(intent) = intent
        && let Some(id) = payments::by_reference(&mut *db, intent).await?
    {
        return Ok(Some(id));
    }
    Ok(text(object, &["metadata", "payment_id"]).and_then(|id| id.parse().ok()).map(PaymentId))
}

/// Applies `event` once: false when its id was seen before. Events about
/// payments that are not ours, and other event types, are recorded and
/// ignored.
pub async fn apply(db: &PgPool, event: &Event, request_id: Option<&str>) -> Result<bool, shared::error::DomainError> {
    let mut tx = db.begin().await?;
    if !payments::claim_webhook_event(&mut tx, &event.id, &event.kind).await? {
        tracing::info!(event_id = event.id, kind = event.kind, "duplicate webhook event ignored");
        return Ok(false);
    }
    let object = &event.data.object;
    let outcome = match event.kind.as_str() {
        "payment_intent.succeeded" => {
            let intent = text(object, &["id"]);
            match payment_of(&mut tx, intent, object).await? {
                Some(id) => Some(payments::mark_succeeded(&mut tx, id, intent, request_id).await?),
                None => None,
            }
        }
        "payment_intent.payment_failed" => {
            let intent = text(object, &["id"]);
            let reason = text(object, &["last_payment_error", "message"]).unwrap_or("The payment failed.");
            match payment_of(&mut tx, intent, object).await? {
                Some(id) => Some(payments::mark_failed(&mut tx, id, reason, request_id).await?),
                None => None,
            }
        }
        "charge.refunded" => {
            let intent = text(object, &["payment_intent"]);
            let refunded = object.get("amount_refunded").and_then(|v| v.as_i64()).unwrap_or(0);
            match payment_of(&mut tx, intent, object).await? {
                Some(id) => Some(payments::record_refund(&mut tx, id, refunded, request_id).await?),
                None => None,
            }
        }
        _ => None,
    };
    tx.commit().await?;
    tracing::info!(event_id = event.id, kind = event.kind, applied = ?outcome, "webhook event processed");
    Ok(matches!(outcome, Some(Settled::Now)) || outcome.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long_key = [0xaa_u8; 131];
        let mac = hmac_sha256(&long_key, b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex(&mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#;

    #[test]
    fn a_signed_event_verifies_and_anything_else_is_refused() {
        let header = sign(BODY, "whsec_x", 1_000);
        let event = verify_at(BODY, &header, "whsec_x", 1_100).unwrap();
        assert_eq!((event.id.as_str(), event.kind.as_str()), ("evt_1", "payment_intent.succeeded"));
        assert!(matches!(verify_at(BODY, &header, "whsec_other", 1_100), Err(SignatureError::Mismatch)));
        assert!(matches!(verify_at(BODY, &header, "whsec_x", 1_301), Err(SignatureError::Stale)));
        let tampered = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_2"}}}"#;
        assert!(matches!(verify_at(tampered, &header, "whsec_x", 1_100), Err(SignatureError::Mismatch)));
        assert!(matches!(verify_at(BODY, "v1=abc", "whsec_x", 1_100), Err(SignatureError::Malformed)));
        // Several v1 entries (a rolled secret): any match will do.
        let rolled = format!("t=1000,v1=deadbeef,{}", header.split(',').nth(1).unwrap());
        assert!(verify_at(BODY, &rolled, "whsec_x", 1_000).is_ok());
    }
}
