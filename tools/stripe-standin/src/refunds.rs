//! Refunds: against a PaymentIntent's successful charge or a charge, in full or in parts.

use poem::http::StatusCode;

use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::objects;
use crate::state::{Refund, RequestInfo, Status, Store, new_id, now};

const REFUND_PARAMS: &[&str] = &["payment_intent", "charge", "amount", "metadata", "reason"];

/// `POST /v1/refunds`: against `payment_intent` (its successful charge) or `charge`; `amount`
/// defaults to what is left to refund.
pub fn create_refund(store: &mut Store, params: &Params, request: &RequestInfo) -> ApiResult {
    params.warn_unmodelled("POST /v1/refunds", REFUND_PARAMS);
    let charge_id = match (params.str("payment_intent"), params.str("charge")) {
        (Some(pi_id), _) => {
            let pi = store
                .payment_intent(pi_id)
                .ok_or_else(|| ApiError::no_such(StatusCode::BAD_REQUEST, "payment_intent", pi_id, "payment_intent"))?;
            pi.latest_charge.clone().filter(|_| pi.status == Status::Succeeded).ok_or_else(|| {
                ApiError::invalid_param(
                    "payment_intent",
                    format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
                )
            })?
        }
        (None, Some(charge_id)) => {
            let charge = store
                .charge(charge_id)
                .ok_or_else(|| ApiError::no_such(StatusCode::BAD_REQUEST, "charge", charge_id, "charge"))?;
            if charge.failure.is_some() {
                return Err(ApiError::invalid_param(
                    "charge",
                    format!("Charge {charge_id} failed; it cannot be refunded."),
                ));
            }
            charge.id.clone()
        }
        (None, None) => {
            return Err(ApiError::invalid(
                StatusCode::BAD_REQUEST,
                "One of the following params should be provided for this request: payment_intent or charge.",
            )
            .code("parameter_missing"));
        }
    };
    let charge = store
        .charge(&charge_id)
        .ok_or_else(|| ApiError::no_such(StatusCode::NOT_FOUND, "charge", &charge_id, "charge"))?;
    let remaining = charge.amount - charge.amount_refunded;
    if remaining == 0 {
        return Err(ApiError::invalid(
            StatusCode::BAD_REQUEST,
            format!("Charge {charge_id} has already been refunded."),
        )
        .code("charge_already_refunded"));
    }
    let amount = params.positive("amount")?.unwrap_or(remaining);
    if amount > remaining {
        return Err(ApiError::invalid_param(
            "amount",
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})."),
        )
        .code("amount_too_large"));
    }
    let reason = params.choice("reason", &["duplicate", "fraudulent", "requested_by_customer"])?.map(str::to_owned);
    let refund = Refund {
        id: new_id("re"),
        created: now(),
        amount,
        currency: charge.currency.clone(),
        charge: charge_id.clone(),
        payment_intent: charge.payment_intent.clone(),
        metadata: params.map("metadata"),
        reason,
    };
    let rendered = objects::refund(&refund);
    store.refunds.push(refund);
    let charge = store
        .charge_mut(&charge_id)
        .ok_or_else(|| ApiError::no_such(StatusCode::NOT_FOUND, "charge", &charge_id, "charge"))?;
    charge.amount_refunded += amount;
    let charge = objects::charge(charge);
    store.emit("refund.created", rendered.clone(), request);
    store.emit("charge.refunded", charge, request);
    Ok(rendered)
}

/// `GET /v1/refunds/:id`.
pub fn retrieve_refund(store: &Store, id: &str) -> ApiResult {
    let refund = store
        .refunds
        .iter()
        .find(|refund| refund.id == id)
        .ok_or_else(|| ApiError::no_such(StatusCode::NOT_FOUND, "refund", id, "refund"))?;
    Ok(objects::refund(refund))
}
