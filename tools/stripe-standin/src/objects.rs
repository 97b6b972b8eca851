//! Stripe objects as JSON, field for field as the API renders them (`object`, `livemode`,
//! nulls for what the stand-in does not model). async-stripe parses responses strictly: every
//! non-`Option` field of its structs must be present, and every present field must parse —
//! the tests in `tests/` hold these builders to that.

use serde_json::{Value, json};

use crate::cards::TestCard;
use crate::state::{Charge, NextAction, PaymentError, PaymentIntent, PaymentMethod, Refund, RequestInfo, Store, now};

pub fn payment_intent(store: &Store, pi: &PaymentIntent) -> Value {
    let next_action = pi.next_action.as_ref().map(|action| match action {
        NextAction::UseStripeSdk => json!({
            "type": "use_stripe_sdk",
            "use_stripe_sdk": { "type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.com/standin/3ds" },
        }),
        NextAction::RedirectToUrl { return_url } => json!({
            "type": "redirect_to_url",
            "redirect_to_url": {
                "return_url": return_url,
                "url": format!("https://hooks.stripe.com/3d_secure_2/hosted?payment_intent={}", pi.id),
            },
        }),
    });
    json!({
        "id": pi.id,
        "object": "payment_intent",
        "amount": pi.amount,
        "amount_capturable": 0,
        "amount_received": pi.amount_received,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": pi.capture_method,
        "client_secret": pi.client_secret,
        "confirmation_method": pi.confirmation_method,
        "created": pi.created,
        "currency": pi.currency,
        "customer": pi.customer,
        "description": pi.description,
        "last_payment_error": pi.last_payment_error.as_ref().map(|error| payment_error(store, error)),
        "latest_charge": pi.latest_charge,
        "livemode": false,
        "metadata": pi.metadata,
        "next_action": next_action,
        "on_behalf_of": null,
        "payment_method": pi.payment_method,
        "payment_method_types": pi.payment_method_types,
        "processing": null,
        "receipt_email": pi.receipt_email,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": pi.statement_descriptor_suffix,
        "status": pi.status.as_str(),
        "transfer_data": null,
        "transfer_group": null,
    })
}

/// `last_payment_error`, and the body of the matching 402 error: Stripe embeds the
/// PaymentMethod object in both.
pub fn payment_error(store: &Store, error: &PaymentError) -> Value {
    let mut value = json!({
        "type": error.kind,
        "code": error.code,
        "doc_url": format!("https://stripe.com/docs/error-codes/{}", error.code.replace('_', "-")),
        "message": error.message,
    });
    if let Some(decline_code) = error.decline_code {
        value["decline_code"] = decline_code.into();
    }
    if let Some(charge) = &error.charge {
        value["charge"] = charge.as_str().into();
    }
    if let Some(pm) = error.payment_method.as_deref().and_then(|id| store.payment_method(id)) {
        value["payment_method"] = payment_method(pm);
    }
    value
}

pub fn payment_method(pm: &PaymentMethod) -> Value {
    json!({
        "id": pm.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing_details(),
        "card": {
            "brand": pm.card.brand,
            "country": "US",
            "display_brand": pm.card.brand,
            "exp_month": 12,
            "exp_year": expiry_year(),
            "fingerprint": fingerprint(pm.card),
            "funding": pm.card.funding,
            "generated_from": null,
            "last4": pm.card.last4,
            "wallet": null,
        },
        "created": pm.created,
        "customer": null,
        "livemode": false,
        "metadata": {},
        "type": "card",
    })
}

pub fn charge(charge: &Charge) -> Value {
    let succeeded = charge.failure.is_none();
    let outcome = match charge.failure {
        None => json!({
            "network_status": "approved_by_network",
            "reason": null,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        }),
        Some(decline) => json!({
            "network_status": "declined_by_network",
            "reason": decline.decline_code,
            "risk_level": "normal",
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }),
    };
    json!({
        "id": charge.id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": if succeeded { charge.amount } else { 0 },
        "amount_refunded": charge.amount_refunded,
        "application": null,
        "application_fee": null,
        "application_fee_amount": null,
        "balance_transaction": succeeded.then(|| format!("txn_{}", &charge.id[3..])),
        "billing_details": billing_details(),
        "calculated_statement_descriptor": "STRIPE STANDIN",
        "captured": succeeded,
        "created": charge.created,
        "currency": charge.currency,
        "customer": charge.customer,
        "description": charge.description,
        "disputed": false,
        "failure_balance_transaction": null,
        "failure_code": charge.failure.map(|decline| decline.code),
        "failure_message": charge.failure.map(|decline| decline.message),
        "fraud_details": {},
        "livemode": false,
        "metadata": charge.metadata,
        "on_behalf_of": null,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": charge.payment_intent,
        "payment_method": charge.payment_method,
        "payment_method_details": {
            "type": "card",
            "card": {
                "brand": charge.card.brand,
                "country": "US",
                "exp_month": 12,
                "exp_year": expiry_year(),
                "fingerprint": fingerprint(charge.card),
                "funding": charge.card.funding,
                "last4": charge.card.last4,
                "network": charge.card.brand,
            },
        },
        "receipt_email": charge.receipt_email,
        "receipt_number": null,
        "receipt_url": format!("https://pay.stripe.com/receipts/standin/{}", charge.id),
        "refunded": succeeded && charge.amount_refunded == charge.amount,
        "review": null,
        "shipping": null,
        "source": null,
        "source_transfer": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": if succeeded { "succeeded" } else { "failed" },
        "transfer_data": null,
        "transfer_group": null,
    })
}

pub fn refund(refund: &Refund) -> Value {
    json!({
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "balance_transaction": format!("txn_{}", &refund.id[3..]),
        "charge": refund.charge,
        "created": refund.created,
        "currency": refund.currency,
        "metadata": refund.metadata,
        "payment_intent": refund.payment_intent,
        "reason": refund.reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    })
}

pub fn event(
    id: &str,
    kind: &str,
    object: Value,
    api_version: &str,
    pending_webhooks: u32,
    request: &RequestInfo,
) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": api_version,
        "created": now(),
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": pending_webhooks,
        "request": { "id": request.id, "idempotency_key": request.idempotency_key },
        "type": kind,
    })
}

fn billing_details() -> Value {
    json!({
        "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
        "email": null,
        "name": null,
        "phone": null,
    })
}

/// Test cards carry a future expiry; three years ahead is enough.
fn expiry_year() -> i64 {
    1970 + now() / 31_556_952 + 3
}

fn fingerprint(card: &TestCard) -> String {
    format!("StandIn{}{}", card.brand.len(), card.last4)
}
