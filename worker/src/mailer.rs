//! Outgoing mail over SMTP (lettre).

use anyhow::Context;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use secrecy::ExposeSecret;
use shared::Config;

/// An email ready to send: a subject, a plain-text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Stable per event, so receivers can drop a duplicate too.
    pub message_id: String,
}

/// A pooled SMTP client.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `SMTP_URL` in lettre's form: `smtp://host:port` (plain, for a local
    /// catcher), `smtp://user:pass@host:587?tls=required` or `smtps://…`.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose_secret())
            .context("SMTP_URL is not a valid SMTP URL")?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = config
            .mail_from
            .parse()
            .with_context(|| format!("MAIL_FROM={:?} is not a valid mailbox", config.mail_from))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, email: Email) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(email.to)
            .subject(email.subject)
            .message_id(Some(email.message_id))
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .context("building the message")?;
        self.transport.send(message).await.context("sending over SMTP")?;
        Ok(())
    }
}
