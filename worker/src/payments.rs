//! The `payments` queue: charges and refunds through Stripe.
//!
//! Every Stripe call carries an idempotency key derived from the payment
//! (`payment-<id>`, `refund-<id>`), so a job that runs twice — retried,
//! redelivered after a crash between Stripe's answer and our commit —
//! gets Stripe's first answer again instead of charging twice. The outcome
//! is then recorded through the same idempotent transitions the webhook
//! uses ([`shared::payments`]).

use std::{collections::HashMap, sync::Arc, time::Duration};

use apalis::prelude::{AbortError, Attempt, BoxDynError, Data};
use secrecy::ExposeSecret;
use shared::{
    Config,
    domain::PaymentId,
    jobs::{Envelope, PaymentJob},
    outbox::Relay,
    payments::{self, Payment},
};
use sqlx::PgPool;
use stripe::{ApiErrorsType, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::{
    PaymentIntentAllowedPaymentMethodTypes, PaymentIntentStatus, payment_intent::CreatePaymentIntent,
    refund::CreateRefund,
};
use tracing::Instrument;

/// What the payments handler needs.
#[derive(Clone)]
pub struct PaymentDeps {
    pub db: PgPool,
    pub stripe: stripe::Client,
    /// Woken after a commit that queued emails or refunds.
    pub relay: Relay,
}

/// Attempts before a charge is given up (failed, visibly) or a refund left
/// in the dead set.
pub const MAX_ATTEMPTS: usize = 6;

/// How long one Stripe call may take.
const STRIPE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for a request Stripe is still running under the same
/// idempotency key (another worker's, before it died) to finish.
const IN_PROGRESS_WAIT: Duration = Duration::from_secs(60);

/// True for Stripe's "a request with this idempotency key is in progress".
fn in_progress(error: &StripeError) -> bool {
    matches!(error, StripeError::Stripe(api, 409) if api.code == Some(stripe::ApiErrorsCode::IdempotencyKeyInUse))
}

/// The Stripe client: the real API, or the base URL of a stand-in.
pub fn client(config: &Config) -> anyhow::Result<stripe::Client> {
    let mut builder = stripe::ClientBuilder::new(config.stripe_secret_key.expose_secret());
    if let Some(base) = &config.stripe_api_base {
        builder = builder.url(base.clone());
    }
    Ok(builder.build()?)
}

/// A failure to act on a job.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Worth another attempt (Stripe unreachable or failing, the database away).
    #[error("{0:#}")]
    Transient(anyhow::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Transient(error.into())
    }
}

impl From<shared::error::DomainError> for Failure {
    fn from(error: shared::error::DomainError) -> Self {
        Self::Transient(error.into())
    }
}

/// apalis handler: one payment job.
pub async fn handle(
    job: Envelope<PaymentJob>,
    attempt: Attempt,
    deps: Data<Arc<PaymentDeps>>,
) -> Result<(), BoxDynError> {
    let span = job.span(attempt.current());
    let work = {
        let (deps, job) = (Arc::clone(&deps), job.clone());
        async move {
            let request_id = job.request_id.as_deref();
            match job.job {
                PaymentJob::Charge { payment_id } => charge(&deps, payment_id, request_id).await,
                PaymentJob::Refund { payment_id, amount } => refund(&deps, payment_id, amount, request_id).await,
            }
        }
    };
    let result = crate::startup::to_completion(work.instrument(span.clone()))
        .await
        .unwrap_or_else(|error| Err(Failure::Transient(error)));
    let request_id = job.request_id.as_deref();
    let Err(Failure::Transient(error)) = result else {
        return Ok(());
    };
    let _entered = span.enter();
    tracing::warn!(error = format!("{error:#}"), "payment job failed");
    if attempt.current() < MAX_ATTEMPTS {
        return Err(format!("{error:#}").into());
    }
    if let PaymentJob::Charge { payment_id } = job.job {
        // Visible to the guest: the booking's hold gets its retry window.
        let reason = "The payment provider could not be reached; no charge was confirmed. Please try again.";
        if let Err(record) = give_up(&deps, payment_id, reason, request_id).await {
            tracing::error!(error = format!("{record:#}"), "could not record the failed payment");
        }
    }
    tracing::error!("payment job gave up; it stays in the dead set");
    Err(AbortError::new(format!("{error:#}")).into())
}

async fn give_up(deps: &PaymentDeps, id: PaymentId, reason: &str, request_id: Option<&str>) -> anyhow::Result<()> {
    let mut tx = deps.db.begin().await?;
    payments::mark_failed(&mut tx, id, reason, request_id).await?;
    tx.commit().await?;
    deps.relay.wake();
    Ok(())
}

fn idempotent(key: String) -> Result<RequestStrategy, Failure> {
    let key = IdempotencyKey::new(key).map_err(|e| Failure::Transient(anyhow::anyhow!("idempotency key: {e}")))?;
    Ok(RequestStrategy::Idempotent(key))
}

/// A Stripe error that another attempt will not change.
fn card_or_request_error(error: &StripeError) -> Option<String> {
    match error {
        StripeError::Stripe(api, status)
            if *status < 500 && !matches!(api.type_, ApiErrorsType::ApiError | ApiErrorsType::IdempotencyError) =>
        {
            Some(api.message.clone().unwrap_or_else(|| "The payment was refused.".to_owned()))
        }
        _ => None,
    }
}

/// Charges a pending payment: one PaymentIntent, created and confirmed.
async fn charge(deps: &PaymentDeps, id: PaymentId, request_id: Option<&str>) -> Result<(), Failure> {
    let mut tx = deps.db.begin().await?;
    let payment = payments::start_processing(&mut tx, id).await?;
    tx.commit().await?;
    if !payment.status.in_flight() {
        tracing::info!(payment_id = %id, status = ?payment.status, "payment already settled");
        return Ok(());
    }
    let result = create_intent(deps, &payment).await;
    let mut tx = deps.db.begin().await?;
    match result {
        Ok(intent) => {
            payments::record_reference(&mut tx, id, intent.id.as_str()).await?;
            match intent.status {
                PaymentIntentStatus::Succeeded => {
                    payments::mark_succeeded(&mut tx, id, Some(intent.id.as_str()), request_id).await?;
                }
                PaymentIntentStatus::RequiresPaymentMethod | PaymentIntentStatus::Canceled => {
                    let reason = intent
                        .last_payment_error
                        .and_then(|e| e.message)
                        .unwrap_or_else(|| "The card was declined.".to_owned());
                    payments::mark_failed(&mut tx, id, &reason, request_id).await?;
                }
                // requires_action, processing…: Stripe's webhook settles it.
                other => tracing::info!(payment_id = %id, status = other.as_str(), "payment awaits Stripe's outcome"),
            }
        }
        Err(error) => match card_or_request_error(&error) {
            Some(reason) => {
                if let StripeError::Stripe(api, _) = &error
                    && let Some(intent) = &api.payment_intent
                {
                    payments::record_reference(&mut tx, id, intent.id.as_str()).await?;
                }
                tracing::info!(payment_id = %id, reason, "payment refused by Stripe");
                payments::mark_failed(&mut tx, id, &reason, request_id).await?;
            }
            None => return Err(Failure::Transient(anyhow::anyhow!("Stripe: {error}"))),
        },
    }
    tx.commit().await?;
    deps.relay.wake();
    Ok(())
}

async fn create_intent(deps: &PaymentDeps, payment: &Payment) -> Result<stripe_core::PaymentIntent, StripeError> {
    let currency =
        payment.currency.to_lowercase().parse::<stripe_types::Currency>().expect("BUG: Currency parsing is infallible");
    let metadata = HashMap::from([
        ("payment_id".to_owned(), payment.id.to_string()),
        ("booking_id".to_owned(), payment.booking_id.to_string()),
    ]);
    let mut request = CreatePaymentIntent::new(payment.amount, currency)
        .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card])
        .confirm(true)
        .metadata(metadata)
        .description(format!("Booking {}", payment.booking_id));
    if let Some(method) = &payment.payment_method {
        request = request.payment_method(method.clone());
    }
    let deadline = tokio::time::Instant::now() + IN_PROGRESS_WAIT;
    loop {
        let strategy =
            idempotent(format!("payment-{}", payment.id)).map_err(|e| StripeError::ConfigError(e.to_string()))?;
        match request.customize().request_strategy(strategy).timeout(STRIPE_TIMEOUT).send(&deps.stripe).await {
            // The first attempt is still running at Stripe: its answer will
            // be ours, so wait for it rather than spend an attempt.
            Err(error) if in_progress(&error) && tokio::time::Instant::now() < deadline => {
                tracing::info!(payment_id = %payment.id, "an earlier charge attempt is still in progress at Stripe; waiting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            result => return result,
        }
    }
}

/// Gives `amount` of a charged payment back.
async fn refund(deps: &PaymentDeps, id: PaymentId, amount: i64, request_id: Option<&str>) -> Result<(), Failure> {
    let payment = payments::find(&deps.db, id)
        .await?
        .ok_or_else(|| Failure::Transient(anyhow::anyhow!("payment {id} does not exist")))?;
    if payment.refunded_amount >= amount {
        tracing::info!(payment_id = %id, "refund already recorded");
        return Ok(());
    }
    let Some(intent) = payment.provider_reference.clone() else {
        return Err(Failure::Transient(anyhow::anyhow!("payment {id} has no PaymentIntent to refund")));
    };
    let metadata = HashMap::from([("payment_id".to_owned(), id.to_string())]);
    let request = CreateRefund::new().payment_intent(intent).amount(amount).metadata(metadata);
    let strategy = idempotent(format!("refund-{id}"))?;
    match request.customize().request_strategy(strategy).timeout(STRIPE_TIMEOUT).send(&deps.stripe).await {
        Ok(refund) => {
            let mut tx = deps.db.begin().await?;
            payments::record_refund(&mut tx, id, refund.amount, request_id).await?;
            tx.commit().await?;
            deps.relay.wake();
            tracing::info!(payment_id = %id, amount = refund.amount, "refund issued");
            Ok(())
        }
        Err(error) => Err(Failure::Transient(anyhow::anyhow!("Stripe refund: {error}"))),
    }
}
