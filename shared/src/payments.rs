//! Payments: created by the guest, charged by the worker through Stripe,
//! settled by the worker's result or by Stripe's webhook, whichever comes
//! first; refunded on cancellation. Every transition is idempotent and moves
//! forward only (the database refuses any other), so late, repeated or
//! out-of-order results change nothing.
//!
//! The booking follows its payment: its hold freezes while the payment is
//! in flight, it is confirmed when the payment succeeds, and its hold gets
//! [`RETRY_WINDOW`] more when a card is declined. A payment that succeeds
//! for a booking that meanwhile left `pending` is refunded in full.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

use crate::{
    bookings,
    domain::{BookingId, BookingStatus, PaymentId, UserId},
    error::DomainError,
    jobs::{BookingJob, EmailJob, PaymentJob},
    outbox,
    pagination::{CursorTime, PageLimit},
    policy::Actor,
};

/// Extra hold after a declined card, for the guest to retry.
pub const RETRY_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// Where a payment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type)]
#[sqlx(type_name = "payment_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Accepted, waiting for the worker.
    Pending,
    /// Sent to Stripe; waiting for its outcome (or for the guest to authenticate).
    Processing,
    Succeeded,
    Failed,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub fn in_flight(self) -> bool {
        matches!(self, Self::Pending | Self::Processing)
    }
}

/// A payment with the parties of its booking.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Payment {
    #[sqlx(rename = "payment_id")]
    pub id: PaymentId,
    pub booking_id: BookingId,
    pub guest_id: UserId,
    pub host_id: UserId,
    pub amount: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub refunded_amount: i64,
    pub payment_method: Option<String>,
    pub provider_reference: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "pa.payment_id, pa.booking_id, b.guest_id, p.host_id, pa.amount, pa.currency, pa.status, \
     pa.refunded_amount, pa.payment_method, pa.provider_reference, pa.failure_reason, pa.created_at, pa.updated_at";
const FROM: &str = "payments pa join bookings b using (booking_id) join properties p on p.property_id = b.property_id";

/// A Stripe payment method id, e.g. `pm_card_visa`.
pub fn parse_payment_method(raw: &str) -> Result<String, &'static str> {
    let ok = raw.len() <= 255
        && raw
            .strip_prefix("pm_")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if ok { Ok(raw.to_owned()) } else { Err("must be a Stripe payment method id such as pm_card_visa") }
}

/// Starts paying `booking_id` for its stored total: a `pending` payment and
/// its charge job, in the caller's transaction. `default_method` stands in
/// when the request names none (test mode only).
#[tracing::instrument(skip(conn, request_id))]
pub async fn create(
    conn: &mut PgConnection,
    actor: Actor,
    booking_id: BookingId,
    payment_method: Option<&str>,
    default_method: Option<&str>,
    now: DateTime<Utc>,
    request_id: Option<&str>,
) -> Result<Payment, DomainError> {
    let method = match payment_method.or(default_method) {
        Some(raw) => parse_payment_method(raw).map_err(|e| DomainError::invalid("payment_method", e))?,
        None => return Err(DomainError::invalid("payment_method", "is required")),
    };
    let booking = bookings::find_for_update(conn, booking_id)
        .await?
        .filter(|b| actor.may_see_booking(b.parties()))
        .ok_or(DomainError::NotFound("booking"))?;
    if actor.user_id != booking.guest_id {
        return Err(DomainError::Forbidden("Only the booking's guest pays for it.".into()));
    }
    let status = booking.status_at(now);
    if status != BookingStatus::Pending {
        return Err(DomainError::conflict(
            "booking-not-payable",
            format!("Only a pending booking is paid; this one is {}.", format!("{status:?}").to_lowercase()),
        ));
    }
    let id = PaymentId::new();
    sqlx::query!(
        "insert into payments (payment_id, booking_id, amount, currency, payment_method) values ($1, $2, $3, $4, $5)",
        id as PaymentId,
        booking.id as BookingId,
        booking.total_price,
        booking.currency,
        method,
    )
    .execute(&mut *conn)
    .await?;
    // The hold no longer lapses while its payment is in flight.
    sqlx::query!("update bookings set expires_at = null where booking_id = $1", booking.id as BookingId)
        .execute(&mut *conn)
        .await?;
    outbox::enqueue(conn, &PaymentJob::Charge { payment_id: id }, request_id).await?;
    find(&mut *conn, id).await?.ok_or(DomainError::NotFound("payment"))
}

pub async fn find(executor: impl PgExecutor<'_>, id: PaymentId) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLUMNS} from {FROM} where pa.payment_id = $1")))
        .bind(id)
        .fetch_optional(executor)
        .await
}

async fn find_for_update(conn: &mut PgConnection, id: PaymentId) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from {FROM} where pa.payment_id = $1 for no key update of pa"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Locks the booking of payment `id` for the rest of the transaction; false
/// when there is no such payment.
///
/// Every transaction that settles a payment takes this lock before it
/// locks or writes the payment, in the order [`create`] takes them: it
/// holds the booking while its insert waits on the unique index behind the
/// update of the booking's payment in flight. A settlement that wrote the
/// payment first and then waited for the booking (the worker recording
/// Stripe's answer, or the webhook settling the same payment) made the two
/// wait on each other until PostgreSQL aborted one (40P01).
async fn lock_booking_of(conn: &mut PgConnection, id: PaymentId) -> sqlx::Result<bool> {
    let booking = sqlx::query_scalar!(
        "select booking_id from bookings
         where booking_id = (select booking_id from payments where payment_id = $1)
         for no key update",
        id as PaymentId,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(booking.is_some())
}

/// A payment about to be settled, locked for the rest of the transaction
/// after its booking (see [`lock_booking_of`]).
async fn find_for_settling(conn: &mut PgConnection, id: PaymentId) -> sqlx::Result<Option<Payment>> {
    if !lock_booking_of(conn, id).await? {
        return Ok(None);
    }
    find_for_update(conn, id).await
}

/// A payment `actor` may see: the guest, the host, an admin.
pub async fn visible(executor: impl PgExecutor<'_>, actor: Actor, id: PaymentId) -> Result<Payment, DomainError> {
    match find(executor, id).await? {
        Some(payment)
            if actor.may_see_booking(crate::policy::BookingParties {
                guest_id: payment.guest_id,
                host_id: payment.host_id,
            }) =>
        {
            Ok(payment)
        }
        _ => Err(DomainError::NotFound("payment")),
    }
}

/// Sort key of payment lists (newest first).
pub type PaymentCursor = (CursorTime, PaymentId);

/// Payments `actor` may see (of one booking, optionally), newest first.
pub async fn list(
    executor: impl PgExecutor<'_>,
    actor: Actor,
    booking: Option<BookingId>,
    cursor: Option<PaymentCursor>,
    limit: PageLimit,
) -> sqlx::Result<Vec<Payment>> {
    let mut sql = QueryBuilder::<Postgres>::new(format!("select {COLUMNS} from {FROM} where true"));
    if !actor.is_admin() {
        sql.push(" and (b.guest_id = ")
            .push_bind(actor.user_id)
            .push(" or p.host_id = ")
            .push_bind(actor.user_id)
            .push(")");
    }
    if let Some(booking) = booking {
        sql.push(" and pa.booking_id = ").push_bind(booking);
    }
    if let Some((time, id)) = cursor {
        sql.push(" and (pa.created_at, pa.payment_id) < (").push_bind(time.0).push(", ").push_bind(id).push(")");
    }
    sql.push(" order by pa.created_at desc, pa.payment_id desc limit ").push_bind(limit.fetch());
    sql.build_query_as().fetch_all(executor).await
}

/// The latest payment of each of `bookings` that has one (the one that
/// settled it, or the attempt in flight or last failed). Callers reach
/// bookings through their visibility rules first.
#[tracing::instrument(skip_all, fields(bookings = bookings.len()))]
pub async fn latest_of_bookings(executor: impl PgExecutor<'_>, bookings: &[BookingId]) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select distinct on (pa.booking_id) {COLUMNS} from {FROM} where pa.booking_id = any($1) \
         order by pa.booking_id, pa.created_at desc, pa.payment_id desc"
    )))
    .bind(bookings)
    .fetch_all(executor)
    .await
}

/// The payment a refund of `booking_id` draws on: its succeeded one.
pub async fn settled_for_booking(conn: &mut PgConnection, booking_id: BookingId) -> sqlx::Result<Option<PaymentId>> {
    sqlx::query_scalar!(
        r#"select payment_id as "id: PaymentId" from payments
           where booking_id = $1 and status in ('succeeded', 'partially_refunded')"#,
        booking_id as BookingId,
    )
    .fetch_optional(conn)
    .await
}

/// True while a payment of `booking_id` is pending or processing.
pub async fn in_flight_for_booking(conn: &mut PgConnection, booking_id: BookingId) -> sqlx::Result<bool> {
    let in_flight = sqlx::query_scalar!(
        r#"select exists (select 1 from payments where booking_id = $1 and status in ('pending', 'processing')) as "in_flight!""#,
        booking_id as BookingId,
    )
    .fetch_one(conn)
    .await?;
    Ok(in_flight)
}

/// The payment a Stripe PaymentIntent belongs to.
pub async fn by_reference(executor: impl PgExecutor<'_>, reference: &str) -> sqlx::Result<Option<PaymentId>> {
    sqlx::query_scalar!(
        r#"select payment_id as "id: PaymentId" from payments where provider_reference = $1"#,
        reference
    )
    .fetch_optional(executor)
    .await
}

/// Marks a pending payment as sent to Stripe; returns the payment as it
/// stands (already settled ones are returned unchanged).
pub async fn start_processing(conn: &mut PgConnection, id: PaymentId) -> Result<Payment, DomainError> {
    let payment = find_for_update(conn, id).await?.ok_or(DomainError::NotFound("payment"))?;
    if payment.status == PaymentStatus::Pending {
        sqlx::query!("update payments set status = 'processing' where payment_id = $1", id as PaymentId)
            .execute(&mut *conn)
            .await?;
        return find(&mut *conn, id).await?.ok_or(DomainError::NotFound("payment"));
    }
    Ok(payment)
}

/// Records the PaymentIntent of a payment (the first one recorded stays),
/// its booking locked first (see [`lock_booking_of`]).
pub async fn record_reference(conn: &mut PgConnection, id: PaymentId, reference: &str) -> sqlx::Result<()> {
    lock_booking_of(conn, id).await?;
    sqlx::query!(
        "update payments set provider_reference = coalesce(provider_reference, $2) where payment_id = $1",
        id as PaymentId,
        reference,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What settling a payment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// This call moved it; the booking followed.
    Now,
    /// It was settled before; nothing changed.
    Already,
}

/// A payment succeeded: confirms its booking and queues the receipt and
/// confirmations — or, when the booking left `pending` meanwhile, a full
/// refund.
#[tracing::instrument(skip(conn, request_id))]
pub async fn mark_succeeded(
    conn: &mut PgConnection,
    id: PaymentId,
    reference: Option<&str>,
    request_id: Option<&str>,
) -> Result<Settled, DomainError> {
    let payment = find_for_settling(conn, id).await?.ok_or(DomainError::NotFound("payment"))?;
    if payment.status == PaymentStatus::Failed {
        // Given up as unreachable, yet charged after all: give it back. The
        // refund needs the PaymentIntent, which the worker may never have learnt.
        tracing::error!(payment_id = %id, "a payment recorded as failed was charged; refunding it");
        if let Some(reference) = reference {
            record_reference(conn, id, reference).await?;
        }
        outbox::enqueue(conn, &PaymentJob::Refund { payment_id: id, amount: payment.amount }, request_id).await?;
        return Ok(Settled::Now);
    }
    if !payment.status.in_flight() {
        return Ok(Settled::Already);
    }
    sqlx::query!(
        "update payments set status = 'succeeded', failure_reason = null,
             provider_reference = coalesce(provider_reference, $2)
         where payment_id = $1",
        id as PaymentId,
        reference,
    )
    .execute(&mut *conn)
    .await?;
    outbox::enqueue(conn, &EmailJob::PaymentReceipt { payment_id: id }, request_id).await?;
    if let Some(check_out) = bookings::confirm_paid(conn, payment.booking_id).await? {
        let booking_id = payment.booking_id;
        let due = Some(bookings::completion_due(check_out));
        let completion = outbox::Entry::new(&BookingJob::CompleteStay { booking_id }, due)?;
        let [to_guest, to_host] = outbox::Entry::to_both_parties(|to| EmailJob::BookingConfirmed { booking_id, to })?;
        outbox::enqueue_all(conn, &[completion, to_guest, to_host], request_id).await?;
    } else {
        tracing::warn!(payment_id = %id, booking_id = %payment.booking_id, "payment succeeded for a booking no longer pending; refunding it");
        sqlx::query!(
            "update bookings set refund_amount = $2 where booking_id = $1",
            payment.booking_id as BookingId,
            payment.amount,
        )
        .execute(&mut *conn)
        .await?;
        outbox::enqueue(conn, &PaymentJob::Refund { payment_id: id, amount: payment.amount }, request_id).await?;
    }
    Ok(Settled::Now)
}

/// A payment failed (card declined, or Stripe unusable after every retry):
/// the booking's hold gets [`RETRY_WINDOW`] more and the guest is told.
#[tracing::instrument(skip(conn, request_id))]
pub async fn mark_failed(
    conn: &mut PgConnection,
    id: PaymentId,
    reason: &str,
    request_id: Option<&str>,
) -> Result<Settled, DomainError> {
    let payment = find_for_settling(conn, id).await?.ok_or(DomainError::NotFound("payment"))?;
    if !payment.status.in_flight() {
        return Ok(Settled::Already);
    }
    let reason: String = reason.chars().take(1000).collect();
    sqlx::query!(
        "update payments set status = 'failed', failure_reason = $2 where payment_id = $1",
        id as PaymentId,
        reason
    )
    .execute(&mut *conn)
    .await?;
    if let Some(due) = bookings::hold_again(conn, payment.booking_id, RETRY_WINDOW).await? {
        let job = BookingJob::ExpireHold { booking_id: payment.booking_id };
        outbox::enqueue_at(conn, &job, Some(due), request_id).await?;
    }
    outbox::enqueue(conn, &EmailJob::PaymentFailed { payment_id: id }, request_id).await?;
    Ok(Settled::Now)
}

/// Records that `refunded_total` of a payment has gone back (the largest
/// total reported wins, so the worker's result and the webhook agree in
/// any order) and tells both parties once.
#[tracing::instrument(skip(conn, request_id))]
pub async fn record_refund(
    conn: &mut PgConnection,
    id: PaymentId,
    refunded_total: i64,
    request_id: Option<&str>,
) -> Result<Settled, DomainError> {
    let payment = find_for_update(conn, id).await?.ok_or(DomainError::NotFound("payment"))?;
    let refunded = refunded_total.clamp(0, payment.amount);
    // A failed payment is refunded only when it was charged after all.
    let refundable =
        matches!(payment.status, PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Failed);
    if !refundable || refunded <= payment.refunded_amount {
        return Ok(Settled::Already);
    }
    let status = if refunded == payment.amount || payment.status == PaymentStatus::Failed {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    };
    sqlx::query!(
        "update payments set refunded_amount = $2, status = $3 where payment_id = $1",
        id as PaymentId,
        refunded,
        status as PaymentStatus,
    )
    .execute(&mut *conn)
    .await?;
    outbox::notify_parties(conn, |to| EmailJob::RefundIssued { payment_id: id, to }, request_id).await?;
    Ok(Settled::Now)
}

/// Records a Stripe webhook event id; false when it was seen before.
pub async fn claim_webhook_event(conn: &mut PgConnection, event_id: &str, event_type: &str) -> sqlx::Result<bool> {
    let claimed = sqlx::query!(
        "insert into processed_webhook_events (event_id, event_type) values ($1, $2) on conflict do nothing",
        event_id,
        event_type,
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1;
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_methods_are_stripe_ids() {
        assert!(parse_payment_method("pm_card_visa").is_ok());
        assert!(parse_payment_method("pm_1NqG2x2eZvKYlo2C").is_ok());
        for bad in ["", "pm_", "card_visa", "pm_card visa", "pm_card-visa"] {
            assert!(parse_payment_method(bad).is_err(), "{bad}");
        }
    }
}
