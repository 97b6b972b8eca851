//! Outgoing mail over SMTP (lettre).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    address::Envelope,
    message::{Mailbox, MultiPart},
    transport::smtp::{client::AsyncSmtpConnection, extension::ClientId},
};
use secrecy::ExposeSecret;
use shared::Config;
use tokio::net::TcpStream;

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
    transport: Transport,
    from: Mailbox,
}

#[derive(Clone)]
enum Transport {
    /// lettre's pooled transport: TLS, STARTTLS and authentication.
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
    /// A plain `smtp://host:port` relay (a local MTA or a catcher) over
    /// connections with Nagle's algorithm off. lettre 0.11.23 writes a
    /// message's body and its closing `.` in two writes; with Nagle on, the
    /// second waits for the server's delayed ACK, 40 ms a message, and the
    /// email job holds its ledger transaction (a pooled PostgreSQL
    /// connection) meanwhile.
    Plain(Arc<Relay>),
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Mailer {
    /// `SMTP_URL` in lettre's form: `smtp://host:port` (plain, for a local
    /// relay or catcher), `smtp://user:pass@host:587?tls=required` or
    /// `smtps://…`.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let url = config.smtp_url.expose_secret();
        let transport = match plain_relay(url) {
            Some((host, port)) => Transport::Plain(Arc::new(Relay::new(host, port))),
            None => Transport::Lettre(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("SMTP_URL is not a valid SMTP URL")?
                    .timeout(Some(TIMEOUT))
                    .build(),
            ),
        };
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
        match &self.transport {
            Transport::Lettre(transport) => {
                transport.send(message).await.context("sending over SMTP")?;
            }
            Transport::Plain(relay) => relay.send(message.envelope(), &message.formatted()).await?,
        }
        Ok(())
    }
}

/// Host and port of an `smtp://host[:port]` URL that asks for no TLS and
/// no authentication; `None` for any other.
fn plain_relay(url: &str) -> Option<(String, u16)> {
    let authority = url.strip_prefix("smtp://")?.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['@', '?', '/', '#']) {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, 25),
    };
    Some((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port))
}

/// Connections to a plain relay, kept open between messages.
struct Relay {
    host: String,
    port: u16,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
}

/// Open connections kept for reuse; more may be open while busy.
const MAX_IDLE: usize = 16;

impl Relay {
    fn new(host: String, port: u16) -> Self {
        Self { host, port, hello: ClientId::default(), idle: Mutex::new(Vec::new()) }
    }

    async fn send(&self, envelope: &Envelope, message: &[u8]) -> anyhow::Result<()> {
        let idle = self.idle.lock().expect("BUG: the SMTP pool lock is never poisoned").pop();
        // A kept connection the server has since closed answers no NOOP.
        let alive = match idle {
            Some(mut connection) => connection.test_connected().await.then_some(connection),
            None => None,
        };
        let mut connection = match alive {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        match tokio::time::timeout(TIMEOUT, connection.send(envelope, message)).await {
            Ok(Ok(_)) => {
                let mut idle = self.idle.lock().expect("BUG: the SMTP pool lock is never poisoned");
                if idle.len() < MAX_IDLE {
                    idle.push(connection);
                }
                Ok(())
            }
            // The connection's state is unknown after a failure: drop it.
            Ok(Err(error)) => Err(anyhow::Error::from(error).context("sending over SMTP")),
            Err(_) => anyhow::bail!("sending over SMTP: no answer within {TIMEOUT:?}"),
        }
    }

    async fn connect(&self) -> anyhow::Result<AsyncSmtpConnection> {
        let stream = tokio::time::timeout(TIMEOUT, connect_without_delay(&self.host, self.port))
            .await
            .context("connecting to the SMTP server: timed out")??;
        let connection =
            tokio::time::timeout(TIMEOUT, AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello))
                .await
                .context("greeting the SMTP server: timed out")?
                .context("greeting the SMTP server")?;
        Ok(connection)
    }
}

/// A TCP connection whose small writes leave at once (TCP_NODELAY).
async fn connect_without_delay(host: &str, port: u16) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to the SMTP server at {host}:{port}"))?;
    stream.set_nodelay(true).context("turning Nagle's algorithm off")?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_url_without_tls_or_credentials_is_a_plain_relay() {
        assert_eq!(plain_relay("smtp://127.0.0.1:1025"), Some(("127.0.0.1".into(), 1025)));
        assert_eq!(plain_relay("smtp://mail.internal"), Some(("mail.internal".into(), 25)));
        assert_eq!(plain_relay("smtp://[::1]:2525/"), Some(("::1".into(), 2525)));
        assert_eq!(plain_relay("smtp://user:secret@mail.example.com:587"), None);
        assert_eq!(plain_relay("smtp://mail.example.com:587?tls=required"), None);
        assert_eq!(plain_relay("smtps://mail.example.com"), None);
        assert_eq!(plain_relay("smtp://"), None);
    }

    #[tokio::test]
    async fn relay_connections_send_small_writes_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect_without_delay("127.0.0.1", port).await.unwrap();
        assert!(stream.nodelay().unwrap(), "Nagle's algorithm is off");
    }
}
