//! PaymentIntents: created, confirmed with Stripe's test cards, retrieved. Each function runs
//! under the store's lock, acts atomically, and queues its events.

use poem::http::StatusCode;
use serde_json::Value;

use crate::cards::{self, AUTHENTICATION_REQUIRED, Decline, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::objects;
use crate::state::{
    Charge, NextAction, PaymentError, PaymentIntent, PaymentMethod, RequestInfo, Status, Store, new_id, now,
};

const CREATE_PARAMS: &[&str] = &[
    "amount",
    "currency",
    "payment_method",
    "confirm",
    "metadata",
    "capture_method",
    "confirmation_method",
    "description",
    "customer",
    "receipt_email",
    "statement_descriptor_suffix",
    "payment_method_types",
    "allowed_payment_method_types",
    "off_session",
    "error_on_requires_action",
    "return_url",
];
const CONFIRM_PARAMS: &[&str] = &["payment_method", "off_session", "error_on_requires_action", "return_url"];

/// `POST /v1/payment_intents`; with `confirm=true` it also confirms, as Stripe does.
pub fn create_payment_intent(store: &mut Store, params: &Params, request: &RequestInfo) -> ApiResult {
    params.warn_unmodelled("POST /v1/payment_intents", CREATE_PARAMS);
    let amount = params.positive("amount")?.ok_or_else(|| ApiError::missing_param("amount"))?;
    let currency = currency(params)?;
    let capture_method = params.choice("capture_method", &["automatic", "automatic_async", "manual"])?;
    if capture_method == Some("manual") {
        return Err(ApiError::not_implemented("capture_method=manual (separate capture)"));
    }
    let confirmation_method = params.choice("confirmation_method", &["automatic", "manual"])?;
    let confirm_now = params.boolean("confirm")?.unwrap_or(false);
    if confirm_now && params.str("payment_method").is_none() {
        return Err(missing_payment_method());
    }
    let mut payment_method_types = params.list("payment_method_types");
    if payment_method_types.is_empty() {
        payment_method_types = params.list("allowed_payment_method_types");
    }
    if payment_method_types.is_empty() {
        payment_method_types.push("card".into());
    }
    if payment_method_types.iter().any(|kind| kind != "card") {
        return Err(ApiError::not_implemented("payment method types other than card"));
    }
    // Last, as it creates the PaymentMethod of a `pm_card_*` alias.
    let payment_method = params.str("payment_method").map(|id| resolve_payment_method(store, id)).transpose()?;
    let id = new_id("pi");
    store.payment_intents.push(PaymentIntent {
        client_secret: format!("{id}_secret_{}", &new_id("s")[2..]),
        id: id.clone(),
        created: now(),
        amount,
        currency,
        status: if payment_method.is_some() { Status::RequiresConfirmation } else { Status::RequiresPaymentMethod },
        capture_method: capture_method.unwrap_or("automatic").to_owned(),
        confirmation_method: confirmation_method.unwrap_or("automatic").to_owned(),
        customer: params.str("customer").map(Into::into),
        description: params.str("description").map(Into::into),
        metadata: params.map("metadata"),
        payment_method,
        payment_method_types,
        receipt_email: params.str("receipt_email").map(Into::into),
        statement_descriptor_suffix: params.str("statement_descriptor_suffix").map(Into::into),
        latest_charge: None,
        amount_received: 0,
        last_payment_error: None,
        next_action: None,
    });
    let created = render(store, &id)?;
    store.emit("payment_intent.created", created.clone(), request);
    if confirm_now { confirm(store, &id, params, request) } else { Ok(created) }
}

/// `POST /v1/payment_intents/:id/confirm`.
pub fn confirm_payment_intent(store: &mut Store, id: &str, params: &Params, request: &RequestInfo) -> ApiResult {
    params.warn_unmodelled("POST /v1/payment_intents/:id/confirm", CONFIRM_PARAMS);
    let pi = store.payment_intent(id).ok_or_else(|| no_such_payment_intent(id))?;
    check_confirmable(store, pi)?;
    if let Some(pm) = params.str("payment_method") {
        let pm = resolve_payment_method(store, pm)?;
        if let Some(pi) = store.payment_intent_mut(id) {
            pi.payment_method = Some(pm);
        }
    }
    confirm(store, id, params, request)
}

/// `GET /v1/payment_intents/:id`.
pub fn retrieve_payment_intent(store: &Store, id: &str) -> ApiResult {
    store.payment_intent(id).ok_or_else(|| no_such_payment_intent(id))?;
    render(store, id)
}

/// Not Stripe: the customer completes (or fails) the 3D Secure step of a `requires_action`
/// PaymentIntent, which Stripe's test cards leave to a browser.
pub fn authenticate(store: &mut Store, id: &str, succeed: bool) -> ApiResult {
    let pi = store.payment_intent(id).ok_or_else(|| no_such_payment_intent(id))?;
    if pi.status != Status::RequiresAction {
        return Err(unexpected_state(store, pi, ("authenticate", "authenticated"), "requires_action"));
    }
    let Some(pm_id) = pi.payment_method.clone() else { return Err(missing_payment_method()) };
    let request = RequestInfo::default();
    if succeed {
        return charge_succeeded(store, id, &pm_id, &request);
    }
    let pi = store.payment_intent_mut(id).ok_or_else(|| no_such_payment_intent(id))?;
    pi.status = Status::RequiresPaymentMethod;
    pi.payment_method = None;
    pi.next_action = None;
    pi.last_payment_error = Some(PaymentError {
        kind: "invalid_request_error",
        code: "payment_intent_authentication_failure",
        decline_code: None,
        message: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new \
                  PaymentMethod to attempt to fulfill this PaymentIntent again.",
        charge: None,
        payment_method: Some(pm_id),
    });
    let rendered = render(store, id)?;
    store.emit("payment_intent.payment_failed", rendered.clone(), &request);
    Ok(rendered)
}

fn confirm(store: &mut Store, id: &str, params: &Params, request: &RequestInfo) -> ApiResult {
    let pi = store.payment_intent(id).ok_or_else(|| no_such_payment_intent(id))?;
    check_confirmable(store, pi)?;
    let Some(pm_id) = pi.payment_method.clone() else {
        return Err(missing_payment_method().with("payment_intent", render(store, id)?));
    };
    let card = store.payment_method(&pm_id).map(|pm| pm.card).ok_or_else(missing_payment_method)?;
    let off_session =
        params.choice("off_session", &["true", "false", "one_off", "recurring"])?.is_some_and(|v| v != "false");
    let error_on_requires_action = params.boolean("error_on_requires_action")?.unwrap_or(false);
    match &card.outcome {
        Outcome::Succeeds => charge_succeeded(store, id, &pm_id, request),
        Outcome::Declines(decline) => Err(charge_declined(store, id, &pm_id, decline, request)?),
        Outcome::RequiresAuthentication if off_session || error_on_requires_action => {
            Err(charge_declined(store, id, &pm_id, &AUTHENTICATION_REQUIRED, request)?)
        }
        Outcome::RequiresAuthentication => {
            let return_url = params.str("return_url").map(str::to_owned);
            let pi = store.payment_intent_mut(id).ok_or_else(|| no_such_payment_intent(id))?;
            pi.status = Status::RequiresAction;
            pi.last_payment_error = None;
            pi.next_action = Some(match return_url {
                Some(return_url) => NextAction::RedirectToUrl { return_url },
                None => NextAction::UseStripeSdk,
            });
            let rendered = render(store, id)?;
            store.emit("payment_intent.requires_action", rendered.clone(), request);
            Ok(rendered)
        }
    }
}

fn charge_succeeded(store: &mut Store, id: &str, pm_id: &str, request: &RequestInfo) -> ApiResult {
    let charge = new_charge(store, id, pm_id, None)?;
    let pi = store.payment_intent_mut(id).ok_or_else(|| no_such_payment_intent(id))?;
    pi.status = Status::Succeeded;
    pi.amount_received = pi.amount;
    pi.latest_charge = Some(charge.id.clone());
    pi.last_payment_error = None;
    pi.next_action = None;
    store.emit("charge.succeeded", objects::charge(&charge), request);
    store.charges.push(charge);
    let rendered = render(store, id)?;
    store.emit("payment_intent.succeeded", rendered.clone(), request);
    Ok(rendered)
}

/// Records a failed charge and returns the 402 `card_error` Stripe answers with.
fn charge_declined(
    store: &mut Store,
    id: &str,
    pm_id: &str,
    decline: &'static Decline,
    request: &RequestInfo,
) -> ApiResult<ApiError> {
    let charge = new_charge(store, id, pm_id, Some(decline))?;
    let error = PaymentError {
        kind: "card_error",
        code: decline.code,
        decline_code: Some(decline.decline_code),
        message: decline.message,
        charge: Some(charge.id.clone()),
        payment_method: Some(pm_id.to_owned()),
    };
    let pi = store.payment_intent_mut(id).ok_or_else(|| no_such_payment_intent(id))?;
    pi.status = Status::RequiresPaymentMethod;
    pi.payment_method = None;
    pi.next_action = None;
    pi.latest_charge = Some(charge.id.clone());
    pi.last_payment_error = Some(error.clone());
    store.emit("charge.failed", objects::charge(&charge), request);
    store.charges.push(charge);
    let rendered = render(store, id)?;
    store.emit("payment_intent.payment_failed", rendered.clone(), request);
    let Value::Object(body) = objects::payment_error(store, &error) else { unreachable!("an error is an object") };
    Ok(ApiError { status: StatusCode::PAYMENT_REQUIRED, body }.with("payment_intent", rendered))
}

fn new_charge(store: &Store, id: &str, pm_id: &str, failure: Option<&'static Decline>) -> ApiResult<Charge> {
    let pi = store.payment_intent(id).ok_or_else(|| no_such_payment_intent(id))?;
    let card = store.payment_method(pm_id).map(|pm| pm.card).ok_or_else(missing_payment_method)?;
    Ok(Charge {
        id: new_id("ch"),
        created: now(),
        payment_intent: pi.id.clone(),
        amount: pi.amount,
        amount_refunded: 0,
        currency: pi.currency.clone(),
        failure,
        payment_method: pm_id.to_owned(),
        card,
        metadata: pi.metadata.clone(),
        description: pi.description.clone(),
        customer: pi.customer.clone(),
        receipt_email: pi.receipt_email.clone(),
    })
}

fn check_confirmable(store: &Store, pi: &PaymentIntent) -> ApiResult<()> {
    match pi.status {
        Status::RequiresPaymentMethod | Status::RequiresConfirmation | Status::RequiresAction => Ok(()),
        Status::Succeeded => Err(unexpected_state(
            store,
            pi,
            ("confirm", "confirmed"),
            "requires_confirmation, requires_payment_method, requires_action",
        )),
    }
}

fn unexpected_state(store: &Store, pi: &PaymentIntent, (verb, past): (&str, &str), allowed: &str) -> ApiError {
    let error = ApiError::invalid(
        StatusCode::BAD_REQUEST,
        format!(
            "You cannot {verb} this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of \
             the following statuses may be {past}: {allowed}.",
            pi.status.as_str()
        ),
    )
    .code("payment_intent_unexpected_state");
    error.with("payment_intent", objects::payment_intent(store, pi))
}

/// A `pm_card_*` alias makes a new PaymentMethod, as Stripe does; an id made earlier is reused.
fn resolve_payment_method(store: &mut Store, id: &str) -> ApiResult<String> {
    if store.payment_method(id).is_some() {
        return Ok(id.to_owned());
    }
    let card = cards::by_alias(id)
        .ok_or_else(|| ApiError::no_such(StatusCode::BAD_REQUEST, "PaymentMethod", id, "payment_method"))?;
    let pm = PaymentMethod { id: new_id("pm"), created: now(), card };
    let pm_id = pm.id.clone();
    store.payment_methods.push(pm);
    Ok(pm_id)
}

fn render(store: &Store, id: &str) -> ApiResult {
    let pi = store.payment_intent(id).ok_or_else(|| no_such_payment_intent(id))?;
    Ok(objects::payment_intent(store, pi))
}

fn no_such_payment_intent(id: &str) -> ApiError {
    ApiError::no_such(StatusCode::NOT_FOUND, "payment_intent", id, "intent")
}

fn missing_payment_method() -> ApiError {
    ApiError::invalid(
        StatusCode::BAD_REQUEST,
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the \
         PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment \
         method.",
    )
    .code("parameter_missing")
    .param("payment_method")
}

/// A three-letter code, lower-cased as Stripe renders it.
fn currency(params: &Params) -> ApiResult<String> {
    let raw = params.str("currency").ok_or_else(|| ApiError::missing_param("currency"))?;
    if raw.len() != 3 || !raw.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(ApiError::invalid_param("currency", format!("Invalid currency: {raw}.")));
    }
    Ok(raw.to_ascii_lowercase())
}
