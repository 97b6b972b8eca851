//! The async-stripe rc.10 calls the worker needs, written once as the worker would write them,
//! compile-checked and exercised against the stand-in. Copy from here.

mod common;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use stripe::{ApiErrorsCode, ApiErrorsType, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{CreatePaymentIntent, RetrievePaymentIntent};
use stripe_core::refund::CreateRefund;
use stripe_core::{PaymentIntent, PaymentIntentStatus, Refund};
use stripe_types::Currency;
use stripe_webhook::{EventObject, Webhook};

use common::{Receiver, WEBHOOK_SECRET, standin_with};
use stripe_standin::StandinConfig;

// (a) A client on a custom base URL (no `/v1`; the client appends `v1/…`). The timeout is per
// attempt; without one, the async client waits forever.
fn stripe_client(secret_key: &str, base_url: &str) -> Result<stripe::Client, StripeError> {
    stripe::ClientBuilder::new(secret_key).url(base_url).timeout(Duration::from_secs(20)).build()
}

// (b) Create and confirm in one call. `Currency::from_str` only knows lower-case codes:
// "EUR" would parse as `Currency::Unknown("EUR")`.
async fn charge(
    client: &stripe::Client,
    amount_minor: i64,
    currency: &str,
    payment_method: &str,
    payment_id: &str,
    idempotency_key: &str,
) -> Result<PaymentIntent, StripeError> {
    let currency = Currency::from_str(&currency.to_ascii_lowercase()).expect("infallible");
    if let Currency::Unknown(code) = &currency {
        return Err(StripeError::ConfigError(format!("unknown currency {code}")));
    }
    let key = IdempotencyKey::new(idempotency_key).map_err(|e| StripeError::ConfigError(e.to_string()))?;
    CreatePaymentIntent::new(amount_minor, currency)
        .payment_method(payment_method)
        .confirm(true)
        .metadata(HashMap::from([("payment_id".to_owned(), payment_id.to_owned())]))
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key))
        .send(client)
        .await
}

// (c) Retrieve by id.
async fn retrieve(client: &stripe::Client, payment_intent_id: &str) -> Result<PaymentIntent, StripeError> {
    RetrievePaymentIntent::new(payment_intent_id).send(client).await
}

// (d) Refund part (or, without `.amount`, the rest) of a PaymentIntent's charge.
async fn refund(
    client: &stripe::Client,
    payment_intent_id: &str,
    amount_minor: i64,
    idempotency_key: &str,
) -> Result<Refund, StripeError> {
    let key = IdempotencyKey::new(idempotency_key).map_err(|e| StripeError::ConfigError(e.to_string()))?;
    CreateRefund::new()
        .payment_intent(payment_intent_id)
        .amount(amount_minor)
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key))
        .send(client)
        .await
}

// (e) What a failed call means for the worker.
#[derive(Debug, PartialEq)]
enum Failure {
    /// The card was declined: final for this attempt; tell the guest.
    Declined { code: Option<String>, decline_code: Option<String>, message: String },
    /// The same key is still being processed: retry later with the same key.
    InProgress,
    /// Stripe refused the request (4xx other than a decline): a bug or a state conflict; do not retry as is.
    Rejected { status: u16, code: Option<String>, message: String },
    /// 5xx `api_error` or 429: outcome unknown; retry with the same key (and reconcile).
    ServerError { status: u16 },
    /// Connection failure or timeout: outcome unknown; retry with the same key.
    Network(String),
    /// A response that did not parse (possibly a 2xx, so possibly charged!): outcome unknown.
    Unreadable(String),
}

fn classify(error: StripeError) -> Failure {
    match error {
        StripeError::Stripe(error, status) => {
            let code = error.code.as_ref().map(|code| code.as_str().to_owned());
            let message = error.message.clone().unwrap_or_default();
            match (&error.type_, status) {
                (ApiErrorsType::CardError, _) => {
                    Failure::Declined { code, decline_code: error.decline_code.clone(), message }
                }
                (_, 409) if error.code == Some(ApiErrorsCode::IdempotencyKeyInUse) => Failure::InProgress,
                (ApiErrorsType::ApiError, _) | (_, 429 | 500..) => Failure::ServerError { status },
                _ => Failure::Rejected { status, code, message },
            }
        }
        StripeError::Timeout => Failure::Network("timeout".into()),
        StripeError::ClientError(message) => Failure::Network(message),
        StripeError::JSONDeserialize(message) => Failure::Unreadable(message),
        StripeError::ConfigError(message) => Failure::Rejected { status: 0, code: None, message },
    }
}

// (f) Verify a webhook and read what we act on. `construct_event` checks the signature and a
// fixed 300 s tolerance against the current clock.
#[derive(Debug, PartialEq)]
enum Fact {
    Succeeded { payment_intent: String },
    Failed { payment_intent: String, message: Option<String> },
    NeedsAction { payment_intent: String },
    Refunded { payment_intent: Option<String>, amount_refunded: i64 },
    Ignored(String),
}

fn read_webhook(body: &str, signature: &str, secret: &str) -> Result<(String, Fact), stripe_webhook::WebhookError> {
    let event = Webhook::construct_event(body, signature, secret)?;
    let fact = match event.data.object {
        EventObject::PaymentIntentSucceeded(pi) => Fact::Succeeded { payment_intent: pi.id.as_str().to_owned() },
        EventObject::PaymentIntentPaymentFailed(pi) => Fact::Failed {
            payment_intent: pi.id.as_str().to_owned(),
            message: pi.last_payment_error.and_then(|error| error.message),
        },
        EventObject::PaymentIntentRequiresAction(pi) => Fact::NeedsAction { payment_intent: pi.id.as_str().to_owned() },
        EventObject::ChargeRefunded(charge) => Fact::Refunded {
            payment_intent: charge.payment_intent.as_ref().map(|pi| pi.id().as_str().to_owned()),
            amount_refunded: charge.amount_refunded,
        },
        _ => Fact::Ignored(event.type_.to_string()),
    };
    Ok((event.id.as_str().to_owned(), fact))
}

// (g) The status as an enum (non-exhaustive: a wildcard arm is required), and the latest
// charge's id.
fn outcome(pi: &PaymentIntent) -> (&'static str, Option<String>) {
    let status = match &pi.status {
        PaymentIntentStatus::Succeeded => "paid",
        PaymentIntentStatus::RequiresPaymentMethod => "declined",
        PaymentIntentStatus::RequiresAction => "needs customer action",
        PaymentIntentStatus::Processing => "pending",
        PaymentIntentStatus::RequiresConfirmation | PaymentIntentStatus::RequiresCapture => "not finished",
        PaymentIntentStatus::Canceled => "canceled",
        // `Unknown(_)`, and variants a later version may add (the enum is non-exhaustive).
        _ => "unknown",
    };
    (status, pi.latest_charge.as_ref().map(|charge| charge.id().as_str().to_owned()))
}

#[tokio::test]
async fn the_recipes_work_end_to_end() {
    let receiver = Receiver::start(0).await;
    let config = StandinConfig { webhook_url: Some(receiver.url.clone()), ..Default::default() };
    let stripe = standin_with(config).await;
    let client = stripe_client("sk_test_recipes", &stripe.base_url()).unwrap();

    let paid = charge(&client, 12_000, "EUR", "pm_card_visa", "pay-1", "pay-1/attempt-1").await.unwrap();
    let (status, latest_charge) = outcome(&retrieve(&client, paid.id.as_str()).await.unwrap());
    assert_eq!((status, latest_charge.is_some()), ("paid", true));

    let declined = charge(&client, 12_000, "EUR", "pm_card_chargeDeclined", "pay-2", "pay-2/attempt-1").await;
    assert_eq!(
        classify(declined.unwrap_err()),
        Failure::Declined {
            code: Some("card_declined".into()),
            decline_code: Some("generic_decline".into()),
            message: "Your card was declined.".into()
        }
    );

    let refunded = refund(&client, paid.id.as_str(), 2_000, "pay-1/refund-1").await.unwrap();
    assert_eq!(refunded.amount, 2_000);

    stripe.standin().fail_next(1, 503, false).unwrap();
    let error = charge(&client, 100, "eur", "pm_card_visa", "pay-3", "pay-3/attempt-1").await.unwrap_err();
    assert_eq!(classify(error), Failure::ServerError { status: 503 });

    let error = retrieve(&client, "pi_nope").await.unwrap_err();
    assert!(
        matches!(classify(error), Failure::Rejected { status: 404, code: Some(code), .. } if code == "resource_missing")
    );

    stripe.standin().delay_next(1, Duration::from_millis(800));
    let slow = stripe_client("sk_test_recipes", &stripe.base_url()).unwrap();
    let error = CreatePaymentIntent::new(100, Currency::EUR)
        .customize()
        .request_strategy(RequestStrategy::Idempotent(IdempotencyKey::new("slow").unwrap()))
        .timeout(Duration::from_millis(200))
        .send(&slow)
        .await
        .unwrap_err();
    assert_eq!(classify(error), Failure::Network("timeout".into()));
    let error = CreatePaymentIntent::new(100, Currency::EUR)
        .customize()
        .request_strategy(RequestStrategy::Idempotent(IdempotencyKey::new("slow").unwrap()))
        .send(&slow)
        .await
        .unwrap_err();
    assert_eq!(classify(error), Failure::InProgress);

    let mut facts = Vec::new();
    for delivery in receiver.wait_until(|all| all.iter().any(|r| r.kind() == "charge.refunded")).await {
        facts.push(read_webhook(&delivery.body, &delivery.signature, WEBHOOK_SECRET).unwrap().1);
    }
    assert!(facts.contains(&Fact::Succeeded { payment_intent: paid.id.as_str().to_owned() }));
    assert!(
        facts.contains(&Fact::Refunded { payment_intent: Some(paid.id.as_str().to_owned()), amount_refunded: 2_000 })
    );
    assert!(
        facts
            .iter()
            .any(|fact| matches!(fact, Fact::Failed { message: Some(m), .. } if m == "Your card was declined."))
    );
    assert!(facts.contains(&Fact::Ignored("payment_intent.created".into())));
}
