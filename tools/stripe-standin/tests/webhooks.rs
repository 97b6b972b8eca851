//! Webhooks from the stand-in verify and parse with async-stripe-webhook's
//! `Webhook::construct_event`, arrive again when an endpoint fails, and are not repeated by
//! idempotent replays.

mod common;

use std::time::Duration;

use stripe_core::PaymentIntentStatus;
use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_core::refund::CreateRefund;
use stripe_types::Currency;
use stripe_webhook::{EventObject, EventType, Webhook, WebhookError};

use common::{Receiver, WEBHOOK_SECRET, client, standin_with};
use stripe_standin::StandinConfig;

async fn standin_sending_to(receiver: &Receiver) -> stripe_standin::RunningStandin {
    standin_with(StandinConfig { webhook_url: Some(receiver.url.clone()), ..Default::default() }).await
}

fn payment(payment_method: &str) -> CreatePaymentIntent {
    CreatePaymentIntent::new(5_000, Currency::EUR).payment_method(payment_method).confirm(true)
}

#[tokio::test]
async fn delivered_events_verify_and_parse_into_their_typed_objects() {
    let receiver = Receiver::start(0).await;
    let stripe = standin_sending_to(&receiver).await;
    let client = client(&stripe.base_url());

    let paid = payment("pm_card_visa").send(&client).await.unwrap();
    let declined = payment("pm_card_chargeDeclined").send(&client).await.unwrap_err();
    let needs_action = payment("pm_card_authenticationRequired").send(&client).await.unwrap();
    CreateRefund::new().payment_intent(paid.id.as_str()).amount(1_500).send(&client).await.unwrap();
    assert!(matches!(declined, stripe::StripeError::Stripe(_, 402)));

    let delivery = receiver.event_of_type("payment_intent.succeeded").await;
    let event = Webhook::construct_event(&delivery.body, &delivery.signature, WEBHOOK_SECRET).unwrap();
    assert_eq!(event.type_, EventType::PaymentIntentSucceeded);
    // The version async-stripe rc.10 is generated for (`stripe_shared::version::VERSION`).
    assert_eq!(event.api_version.map(|version| version.as_str().to_owned()).as_deref(), Some("2026-09-30.endive"));
    let EventObject::PaymentIntentSucceeded(pi) = event.data.object else { panic!("{:?}", event.type_) };
    assert_eq!((pi.id.clone(), pi.status), (paid.id.clone(), PaymentIntentStatus::Succeeded));

    let delivery = receiver.event_of_type("payment_intent.payment_failed").await;
    let event = Webhook::construct_event(&delivery.body, &delivery.signature, WEBHOOK_SECRET).unwrap();
    let EventObject::PaymentIntentPaymentFailed(pi) = event.data.object else { panic!("{:?}", event.type_) };
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    let error = pi.last_payment_error.expect("last_payment_error");
    assert_eq!(
        (error.message.as_deref(), error.decline_code.as_deref()),
        (Some("Your card was declined."), Some("generic_decline"))
    );

    let delivery = receiver.event_of_type("payment_intent.requires_action").await;
    let event = Webhook::construct_event(&delivery.body, &delivery.signature, WEBHOOK_SECRET).unwrap();
    let EventObject::PaymentIntentRequiresAction(pi) = event.data.object else { panic!("{:?}", event.type_) };
    assert_eq!((pi.id.clone(), pi.status), (needs_action.id, PaymentIntentStatus::RequiresAction));

    let delivery = receiver.event_of_type("charge.refunded").await;
    let event = Webhook::construct_event(&delivery.body, &delivery.signature, WEBHOOK_SECRET).unwrap();
    let EventObject::ChargeRefunded(charge) = event.data.object else { panic!("{:?}", event.type_) };
    assert_eq!(charge.payment_intent.as_ref().map(|pi| pi.id().clone()), Some(paid.id.clone()));
    assert_eq!((charge.amount_refunded, charge.refunded), (1_500, false));

    // The other events Stripe sends alongside parse as well.
    for kind in ["payment_intent.created", "charge.succeeded", "charge.failed", "refund.created"] {
        let delivery = receiver.event_of_type(kind).await;
        let event = Webhook::construct_event(&delivery.body, &delivery.signature, WEBHOOK_SECRET).unwrap();
        assert!(!matches!(event.data.object, EventObject::Unknown(_)), "{kind}");
    }
}

#[tokio::test]
async fn a_tampered_payload_or_another_secret_is_rejected() {
    let receiver = Receiver::start(0).await;
    let stripe = standin_sending_to(&receiver).await;
    payment("pm_card_visa").send(&client(&stripe.base_url())).await.unwrap();
    let delivery = receiver.event_of_type("payment_intent.succeeded").await;

    let tampered = delivery.body.replacen("\"amount\":5000", "\"amount\":1", 1);
    assert_ne!(tampered, delivery.body);
    let result = Webhook::construct_event(&tampered, &delivery.signature, WEBHOOK_SECRET);
    assert!(matches!(result, Err(WebhookError::BadSignature)), "{result:?}");

    let result = Webhook::construct_event(&delivery.body, &delivery.signature, "whsec_other");
    assert!(matches!(result, Err(WebhookError::BadSignature)), "{result:?}");

    // Signatures older than 300 s are refused.
    let timestamp: i64 =
        delivery.signature.split(',').next().and_then(|t| t.strip_prefix("t=")).unwrap().parse().unwrap();
    let result =
        Webhook::construct_event_with_timestamp(&delivery.body, &delivery.signature, WEBHOOK_SECRET, timestamp + 301);
    assert!(matches!(result, Err(WebhookError::BadTimestamp(_))), "{result:?}");
}

#[tokio::test]
async fn a_failing_endpoint_gets_the_event_again_until_it_accepts() {
    let receiver = Receiver::start(2).await;
    let stripe = standin_sending_to(&receiver).await;
    let pi = CreatePaymentIntent::new(700, Currency::USD).send(&client(&stripe.base_url())).await.unwrap();

    let all = receiver.wait_until(|all| all.iter().any(|r| r.accepted)).await;
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r.json()["id"] == all[0].json()["id"]), "the same event each time");
    assert_eq!(all[2].json()["data"]["object"]["id"], pi.id.as_str());
    let attempts: Vec<_> = stripe.standin().deliveries().iter().map(|d| d["status"].as_u64()).collect();
    assert_eq!(attempts, [Some(500), Some(500), Some(200)]);
}

#[tokio::test]
async fn a_resent_event_arrives_again_with_the_same_id() {
    let receiver = Receiver::start(0).await;
    let stripe = standin_sending_to(&receiver).await;
    CreatePaymentIntent::new(700, Currency::USD).send(&client(&stripe.base_url())).await.unwrap();
    let first = receiver.event_of_type("payment_intent.created").await;
    let id = first.json()["id"].as_str().unwrap().to_owned();

    stripe.standin().resend_event(&id).unwrap();

    let all = receiver.wait_until(|all| all.len() == 2).await;
    assert_eq!((all[0].body.clone(), all[1].json()["id"].as_str()), (all[1].body.clone(), Some(id.as_str())));
}

#[tokio::test]
async fn an_idempotent_replay_sends_no_second_event() {
    let receiver = Receiver::start(0).await;
    let stripe = standin_sending_to(&receiver).await;
    let client = client(&stripe.base_url());
    let key = stripe::IdempotencyKey::new("one-payment").unwrap();
    for _ in 0..2 {
        use stripe::StripeRequest;
        payment("pm_card_visa")
            .customize()
            .request_strategy(stripe::RequestStrategy::Idempotent(key.clone()))
            .send(&client)
            .await
            .unwrap();
    }
    receiver.event_of_type("payment_intent.succeeded").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let succeeded = receiver.all().iter().filter(|r| r.kind() == "payment_intent.succeeded").count();
    assert_eq!(succeeded, 1);
    let events = stripe.standin().events();
    assert_eq!(events.len(), 3, "created, charge.succeeded, succeeded: {events:#?}");
    assert_eq!(events[0]["request"]["idempotency_key"], "one-payment");
}
