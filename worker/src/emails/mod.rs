//! The `emails` queue: renders each event's email and sends it once.
//!
//! Jobs carry ids; what an email says is read from the database when it is
//! sent, and worded by [`templates`].

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use apalis::prelude::{AbortError, Attempt, BoxDynError, Data};
use lettre::message::Mailbox;
use sha2::{Digest, Sha256};
use shared::{
    bookings::{self, Addressee},
    domain::BookingId,
    jobs::{EmailJob, Envelope, Party},
    payments, users,
};
use sqlx::PgPool;
use tracing::Instrument;

use crate::mailer::{Email, Mailer};

mod format;
pub mod templates;

use templates::{BookingMail, Letter};

/// What the email handler needs.
#[derive(Clone)]
pub struct EmailDeps {
    pub db: PgPool,
    pub mailer: Mailer,
}

/// Attempts before a job is given up and left in the queue's dead set.
pub const MAX_ATTEMPTS: usize = 6;

/// apalis handler: one email job.
pub async fn handle(job: Envelope<EmailJob>, attempt: Attempt, deps: Data<Arc<EmailDeps>>) -> Result<(), BoxDynError> {
    let span = job.span(attempt.current());
    let deps = Arc::clone(&deps);
    let work = async move {
        tokio::time::timeout(Duration::from_secs(30), send_once(&deps, &job.job))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out after 30 s")))
    };
    let error = match crate::startup::to_completion(work.instrument(span.clone())).await.and_then(|sent| sent) {
        Ok(outcome) => {
            span.in_scope(|| tracing::info!(outcome, "email job done"));
            return Ok(());
        }
        Err(error) => error,
    };
    span.in_scope(|| tracing::warn!(error = format!("{error:#}"), "email job failed"));
    if attempt.current() >= MAX_ATTEMPTS {
        span.in_scope(|| tracing::error!("email job gave up; it stays in the dead set"));
        return Err(AbortError::new(format!("{error:#}")).into());
    }
    Err(format!("{error:#}").into())
}

/// Sends the email of `job` unless it was sent already. Returns what happened.
///
/// The ledger row is inserted in a transaction held open while the SMTP
/// server accepts the message: a second run of the same event waits on the
/// row and then skips; a failed send rolls the row back, so a retry sends.
/// Only a crash between the SMTP server's acceptance and the commit can
/// repeat an email; its Message-ID is stable so receivers can drop it.
pub async fn send_once(deps: &EmailDeps, job: &EmailJob) -> anyhow::Result<&'static str> {
    let email = match render(deps, job).await? {
        Draft::Ready(email) => email,
        Draft::Skip(reason) => return Ok(reason),
    };
    let dedup_key = job.dedup_key();
    let mut tx = deps.db.begin().await?;
    let claimed = sqlx::query!(
        "insert into sent_emails (dedup_key, recipient, template) values ($1, $2, $3) on conflict do nothing",
        dedup_key,
        email.to.email.to_string(),
        job.template(),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        return Ok("skipped: already sent");
    }
    deps.mailer.send(email).await?;
    tx.commit().await.context("recording the sent email")?;
    Ok("sent")
}

fn message_id(dedup_key: &str) -> String {
    let digest = Sha256::digest(dedup_key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@airbnb-clone.mail>")
}

/// A job's email, or why it has none.
enum Draft {
    Ready(Email),
    Skip(&'static str),
}

const RECIPIENT_GONE: Draft = Draft::Skip("skipped: recipient no longer exists");

/// Builds the email of `job` from the data as it stands now.
async fn render(deps: &EmailDeps, job: &EmailJob) -> anyhow::Result<Draft> {
    // Payment emails name the payment; the rest of their data is its booking's.
    let payment_id = match *job {
        EmailJob::PaymentReceipt { payment_id }
        | EmailJob::PaymentFailed { payment_id }
        | EmailJob::RefundIssued { payment_id, .. } => Some(payment_id),
        _ => None,
    };
    let payment = match payment_id {
        Some(id) => Some(
            payments::find(&deps.db, id)
                .await
                .context("loading the payment")?
                .with_context(|| format!("payment {id} does not exist"))?,
        ),
        None => None,
    };
    let paid_booking = || payment.as_ref().map(|p| p.booking_id).expect("BUG: loaded above for payment emails");
    let (booking_id, to, template): (_, _, fn(&BookingMail) -> Letter) = match *job {
        EmailJob::Welcome { user_id } => {
            let Some(user) = users::find(&deps.db, user_id).await.context("loading the user")? else {
                return Ok(RECIPIENT_GONE);
            };
            return Ok(Draft::Ready(compose(&Addressee::from(&user), templates::welcome(&user), job)?));
        }
        EmailJob::BookingRequested { booking_id, to } => (booking_id, to, templates::booking_requested),
        EmailJob::BookingChanged { booking_id, to, at: _ } => (booking_id, to, templates::booking_changed),
        EmailJob::BookingCancelled { booking_id, to } => (booking_id, to, templates::booking_cancelled),
        EmailJob::HoldExpired { booking_id } => (booking_id, Party::Guest, templates::hold_expired),
        EmailJob::ReviewInvitation { booking_id } => (booking_id, Party::Guest, templates::review_invitation),
        EmailJob::BookingConfirmed { booking_id, to } => (booking_id, to, templates::booking_confirmed),
        EmailJob::PaymentReceipt { .. } => (paid_booking(), Party::Guest, templates::payment_receipt),
        EmailJob::PaymentFailed { .. } => (paid_booking(), Party::Guest, templates::payment_failed),
        EmailJob::RefundIssued { to, .. } => (paid_booking(), to, templates::refund_issued),
    };
    let Some(mut mail) = load_booking_mail(deps, booking_id, to).await? else {
        return Ok(RECIPIENT_GONE);
    };
    mail.payment = payment;
    Ok(Draft::Ready(compose(&mail.recipient, template(&mail), job)?))
}

/// What a booking email needs, in one read; `None` when its recipient's
/// account is gone.
async fn load_booking_mail(deps: &EmailDeps, booking_id: BookingId, to: Party) -> anyhow::Result<Option<BookingMail>> {
    // Bookings are never deleted: a missing one is a bug, left to the dead set.
    let found = bookings::correspondence(&deps.db, booking_id, to)
        .await
        .context("loading the booking")?
        .with_context(|| format!("booking {booking_id} does not exist"))?;
    let Some(recipient) = found.recipient else {
        return Ok(None);
    };
    Ok(Some(BookingMail {
        booking: found.booking,
        property_name: found.property_name,
        property_city: found.property_city,
        recipient,
        to,
        guest_name: found.guest_first_name,
        payment: None,
    }))
}

/// Addresses `letter` to `user` in both its forms.
fn compose(user: &Addressee, letter: Letter, job: &EmailJob) -> anyhow::Result<Email> {
    let address = user.email.parse().with_context(|| format!("{:?} is not a mail address", user.email))?;
    Ok(Email {
        to: Mailbox::new(Some(format!("{} {}", user.first_name, user.last_name)), address),
        text: letter.text(),
        html: letter.html(),
        subject: letter.subject,
        message_id: message_id(&job.dedup_key()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_per_event() {
        assert_eq!(message_id("welcome:1"), message_id("welcome:1"));
        assert_ne!(message_id("welcome:1"), message_id("welcome:2"));
    }
}
