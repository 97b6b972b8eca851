use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use secrecy::ExposeSecret;
use shared::{
    domain::{BookingId, PaymentId, ValidationErrors},
    pagination::{CursorTime, Page, PageLimit, decode_cursor},
    payments::{self, Payment, PaymentStatus},
};
use uuid::Uuid;

use crate::{
    auth::BearerAuth,
    error::{ApiError, Result},
    idempotency::{self, Begun},
    request_id::RequestId,
    routes::Tag,
    state::AppState,
    stripe_webhook,
    types::{RawJson, Text},
};

pub struct PaymentsApi {
    pub state: AppState,
}

/// Where a payment is.
#[derive(Enum, async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "PaymentStatus", rename_all = "snake_case")]
#[graphql(name = "PaymentStatus")]
pub(crate) enum Status {
    /// Accepted; the worker will charge the card.
    Pending,
    /// Sent to Stripe; waiting for the outcome.
    Processing,
    Succeeded,
    /// See `failure_reason`; the booking's hold lasts 15 more minutes for a retry.
    Failed,
    PartiallyRefunded,
    Refunded,
}

impl From<PaymentStatus> for Status {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Processing => Self::Processing,
            PaymentStatus::Succeeded => Self::Succeeded,
            PaymentStatus::Failed => Self::Failed,
            PaymentStatus::PartiallyRefunded => Self::PartiallyRefunded,
            PaymentStatus::Refunded => Self::Refunded,
        }
    }
}

/// A card payment of a booking's total, in minor units of `currency`.
#[derive(Object, async_graphql::SimpleObject)]
#[oai(rename = "Payment")]
#[graphql(name = "Payment")]
pub(crate) struct PaymentBody {
    pub(crate) id: Uuid,
    pub(crate) booking_id: Uuid,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) status: Status,
    pub(crate) refunded_amount: i64,
    #[oai(nullable)]
    pub(crate) payment_method: Option<String>,
    /// The Stripe PaymentIntent id, once one exists.
    #[oai(nullable)]
    pub(crate) provider_reference: Option<String>,
    #[oai(nullable)]
    pub(crate) failure_reason: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl From<Payment> for PaymentBody {
    fn from(p: Payment) -> Self {
        Self {
            id: p.id.0,
            booking_id: p.booking_id.0,
            amount: p.amount,
            currency: p.currency,
            status: p.status.into(),
            refunded_amount: p.refunded_amount,
            payment_method: p.payment_method,
            provider_reference: p.provider_reference,
            failure_reason: p.failure_reason,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A page of payments.
#[derive(Object)]
struct PaymentPage {
    items: Vec<PaymentBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// Pay for a pending booking; the amount is the booking's total.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct CreatePaymentRequest {
    booking_id: Uuid,
    /// A Stripe payment method id. With a test key it defaults to
    /// `pm_card_visa`; `pm_card_chargeDeclined` is declined.
    #[oai(nullable, validator(max_length = 255))]
    payment_method: Option<Text>,
}

#[derive(ApiResponse)]
enum CreatePaymentResponse {
    /// Accepted: the card is charged in the background; poll the payment.
    #[oai(status = 202)]
    Accepted(
        Json<PaymentBody>,
        #[oai(header = "Location")] String,
        /// `true` when this answers a retry with the same `Idempotency-Key`.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
    ),
}

/// Acknowledgement of a webhook event.
#[derive(Object)]
struct WebhookAck {
    received: bool,
    /// False when the event was seen before (and ignored).
    applied: bool,
}

#[OpenApi(tag = "Tag::Payments")]
impl PaymentsApi {
    /// Pay for a booking (its guest)
    ///
    /// Answers at once with a `pending` payment; the worker charges the card
    /// through Stripe and the payment moves to `succeeded` (the booking is
    /// then `confirmed`) or `failed`. One payment in progress or done per
    /// booking (409). Send an `Idempotency-Key` to retry safely.
    #[oai(path = "/payments", method = "post", operation_id = "createPayment")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<CreatePaymentRequest>,
        /// Makes retries safe: 1 to 255 visible ASCII characters, unique per request.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        request_id: Data<&RequestId>,
    ) -> Result<CreatePaymentResponse> {
        let key = idempotency::parse_key(idempotency_key.0)?;
        let mut guard = match idempotency::begin(&self.state.db, auth.0.user_id, key, "POST /payments", &body.0).await?
        {
            Begun::Replay(stored) => {
                let payment: PaymentBody = idempotency::replayed(stored)?;
                let location = format!("/payments/{}", payment.id);
                return Ok(CreatePaymentResponse::Accepted(Json(payment), location, Some("true".into())));
            }
            Begun::Fresh(guard) => guard,
        };
        let default_method = self.state.config.stripe_test_mode().then_some("pm_card_visa");
        let payment = payments::create(
            &mut guard.tx,
            auth.0,
            BookingId(body.0.booking_id),
            body.0.payment_method.as_deref(),
            default_method,
            Utc::now(),
            Some(&request_id.0.0),
        )
        .await?;
        let body = PaymentBody::from(payment);
        guard.finish(202, &body).await?;
        self.state.relay.wake();
        tracing::info!(payment_id = %body.id, booking_id = %body.booking_id, "payment accepted");
        let location = format!("/payments/{}", body.id);
        Ok(CreatePaymentResponse::Accepted(Json(body), location, None))
    }

    /// The caller's payments
    ///
    /// A guest sees its own, a host those of its properties' bookings, an
    /// admin all. Newest first.
    #[oai(path = "/payments", method = "get", operation_id = "listPayments")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only the payments of this booking.
        booking_id: Query<Option<Uuid>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> Result<Json<PaymentPage>> {
        let mut errors = ValidationErrors::new();
        let limit = errors.check("limit", PageLimit::parse(limit.0));
        let after = cursor.0.as_deref().and_then(|c| errors.check("cursor", decode_cursor(c)));
        errors.into_result()?;
        let limit = limit.expect("checked");
        let rows = payments::list(&self.state.read_db, auth.0, booking_id.0.map(BookingId), after, limit).await?;
        let page = Page::from_rows(rows, limit, |p| (CursorTime(p.created_at), p.id)).map(PaymentBody::from);
        Ok(Json(PaymentPage { items: page.items, next_cursor: page.next_cursor }))
    }

    /// A payment (the guest, the host or an admin)
    #[oai(path = "/payments/:payment_id", method = "get", operation_id = "getPayment")]
    async fn get(&self, auth: BearerAuth, payment_id: Path<Uuid>) -> Result<Json<PaymentBody>> {
        Ok(Json(payments::visible(&self.state.db, auth.0, PaymentId(payment_id.0)).await?.into()))
    }

    /// Stripe webhook
    ///
    /// For Stripe only: events signed with the endpoint's secret
    /// (`Stripe-Signature`, 5-minute tolerance; 401 otherwise). Each event
    /// id is applied once; `payment_intent.succeeded`,
    /// `payment_intent.payment_failed` and `charge.refunded` settle payments
    /// in whatever order they arrive.
    #[oai(path = "/payments/webhook", method = "post", operation_id = "stripeWebhook")]
    async fn webhook(
        &self,
        body: RawJson,
        #[oai(name = "Stripe-Signature")] signature: Header<Option<String>>,
        request_id: Data<&RequestId>,
    ) -> Result<Json<WebhookAck>> {
        let Some(signature) = signature.0 else {
            return Err(ApiError::unauthorized("The Stripe-Signature header is missing."));
        };
        let secret = self.state.config.stripe_webhook_secret.expose_secret();
        let event = stripe_webhook::verify(&body.0, &signature, secret)
            .map_err(|e| ApiError::unauthorized(format!("The webhook signature was refused: {e}.")))?;
        let applied = stripe_webhook::apply(&self.state.db, &event, Some(&request_id.0.0)).await?;
        if applied {
            self.state.relay.wake();
        }
        Ok(Json(WebhookAck { received: true, applied }))
    }
}
