//! Outgoing mail over SMTP (lettre).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
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
    /// Each with when it was put back.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

/// Open connections kept for reuse; more may be open while busy.
const MAX_IDLE: usize = 16;

/// A kept connection idle for longer is checked with a NOOP before its
/// next message; one used more recently is taken as it is. A server that
/// closed it meanwhile fails the send, which the job's retry sends again,
/// as it would if the server closed it after the NOOP. Under load each
/// message saves a round trip to the server.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(2);

impl Relay {
    fn new(host: String, port: u16) -> Self {
        Self { host, port, hello: ClientId::default(), idle: Mutex::new(Vec::new()) }
    }

    async fn send(&self, envelope: &Envelope, message: &[u8]) -> anyhow::Result<()> {
        let idle = self.idle.lock().expect("BUG: the SMTP pool lock is never poisoned").pop();
        // A kept connection the server has since closed answers no NOOP.
        let alive = match idle {
            Some((connection, since)) if since.elapsed() < CHECK_AFTER_IDLE => Some(connection),
            Some((mut connection, _)) => connection.test_connected().await.then_some(connection),
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
                    idle.push((connection, Instant::now()));
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

    /// A minimal SMTP server: accepts every message and records every
    /// command line it receives, with the connection it came on.
    async fn recording_server() -> (u16, Arc<Mutex<Vec<(usize, String)>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for connection in 0.. {
                let (stream, _) = listener.accept().await.unwrap();
                let log = log.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 test ready\r\n").await.unwrap();
                    let mut in_data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                write.write_all(b"250 queued\r\n").await.unwrap();
                            }
                            continue;
                        }
                        log.lock().unwrap().push((connection, line.clone()));
                        let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                            Some("DATA") => {
                                in_data = true;
                                b"354 go on\r\n"
                            }
                            Some("QUIT") => b"221 bye\r\n",
                            _ => b"250 ok\r\n",
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn a_connection_used_a_moment_ago_is_reused_without_a_noop_and_an_idle_one_is_checked() {
        let (port, seen) = recording_server().await;
        let relay = Relay::new("127.0.0.1".into(), port);
        let envelope =
            Envelope::new(Some("from@example.com".parse().unwrap()), vec!["to@example.com".parse().unwrap()]).unwrap();
        let message = b"Subject: hi\r\n\r\nhello\r\n";
        for _ in 0..3 {
            relay.send(&envelope, message).await.unwrap();
        }
        let commands = |verb: &str| {
            let seen = seen.lock().unwrap();
            let matching: Vec<usize> =
                seen.iter().filter(|(_, line)| line.to_ascii_uppercase().starts_with(verb)).map(|(c, _)| *c).collect();
            matching
        };
        assert_eq!(commands("MAIL"), [0, 0, 0], "three messages over one connection");
        assert!(commands("NOOP").is_empty(), "no check between messages sent back to back");

        tokio::time::sleep(CHECK_AFTER_IDLE + Duration::from_millis(100)).await;
        relay.send(&envelope, message).await.unwrap();
        assert_eq!(commands("NOOP"), [0], "a connection idle for a while is checked first");
        assert_eq!(commands("MAIL"), [0, 0, 0, 0]);
    }

    #[tokio::test]
    async fn relay_connections_send_small_writes_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect_without_delay("127.0.0.1", port).await.unwrap();
        assert!(stream.nodelay().unwrap(), "Nagle's algorithm is off");
    }
}
