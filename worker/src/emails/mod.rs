//! The `emails` queue: renders each event's email and sends it once.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use apalis::prelude::{AbortError, Attempt, BoxDynError, Data};
use lettre::message::Mailbox;
use sha2::{Digest, Sha256};
use shared::{
    jobs::{EmailJob, Envelope},
    users,
};
use sqlx::PgPool;
use tracing::Instrument;

use crate::mailer::{Email, Mailer};

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
    let span = tracing::info_span!(
        "job",
        queue = "emails",
        job_id = %job.job_id,
        request_id = job.request_id.as_deref().unwrap_or(""),
        attempt = attempt.current(),
    );
    let result =
        tokio::time::timeout(Duration::from_secs(30), send_once(&deps, &job.job)).instrument(span.clone()).await;
    let error = match result {
        Ok(Ok(outcome)) => {
            span.in_scope(|| tracing::info!(outcome, "email job done"));
            return Ok(());
        }
        Ok(Err(error)) => error,
        Err(_) => anyhow::anyhow!("timed out after 30 s"),
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
    let Some(email) = render(deps, job).await? else {
        return Ok("skipped: recipient no longer exists");
    };
    let dedup_key = job.dedup_key();
    let mut tx = deps.db.begin().await?;
    let claimed = sqlx::query!(
        "insert into sent_emails (dedup_key, recipient, template) values ($1, $2, $3) on conflict do nothing",
        dedup_key,
        email.to.email.to_string(),
        template_name(job),
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

fn template_name(job: &EmailJob) -> &'static str {
    match job {
        EmailJob::Welcome { .. } => "welcome",
    }
}

fn message_id(dedup_key: &str) -> String {
    let digest = Sha256::digest(dedup_key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@airbnb-clone.mail>")
}

/// Builds the email for `job`; `None` when its recipient is gone.
async fn render(deps: &EmailDeps, job: &EmailJob) -> anyhow::Result<Option<Email>> {
    match job {
        EmailJob::Welcome { user_id } => {
            let Some(user) = users::find(&deps.db, *user_id).await? else {
                return Ok(None);
            };
            let to = Mailbox::new(Some(format!("{} {}", user.first_name, user.last_name)), user.email.parse()?);
            let name = &user.first_name;
            Ok(Some(Email {
                to,
                subject: format!("Welcome to Airbnb Clone, {name}"),
                text: format!(
                    "Hi {name},\n\nyour account is ready. Search for a place to stay, or list your own.\n\nThe Airbnb Clone team\n"
                ),
                html: format!(
                    "<p>Hi {},</p><p>your account is ready. Search for a place to stay, or list your own.</p><p>The Airbnb Clone team</p>",
                    html_escape(name)
                ),
                message_id: message_id(&job.dedup_key()),
            }))
        }
    }
}

fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_html() {
        assert_eq!(html_escape("<b>Ana & \"Bo\"</b>"), "&lt;b&gt;Ana &amp; &quot;Bo&quot;&lt;/b&gt;");
    }

    #[test]
    fn message_ids_are_stable_per_event() {
        assert_eq!(message_id("welcome:1"), message_id("welcome:1"));
        assert_ne!(message_id("welcome:1"), message_id("welcome:2"));
    }
}
