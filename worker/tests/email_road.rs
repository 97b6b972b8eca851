//! The job road end to end: registration → outbox → Redis → worker → SMTP,
//! against real PostgreSQL, Redis and an SMTP server, including the faults
//! it must survive.

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use secrecy::SecretString;
use serde_json::json;
use shared::jobs::{EmailJob, Job};
use testkit::{PrivateRedis, SmtpCatcher, TestApp, TestWorker};

const PASSWORD: &str = "a long enough password";

async fn outbox_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from outbox").fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_registration_s_welcome_email_arrives_over_smtp_once() {
    let smtp = SmtpCatcher::start();
    let app = TestApp::spawn_with(|c| c.smtp_url = SecretString::from(smtp.url())).await;
    let worker = TestWorker::spawn(app.config.clone());
    let email = TestApp::unique_email("welcome");

    let user = app.register(&email, PASSWORD, "guest").await;

    let messages = smtp.wait_for(&email, 1, Duration::from_secs(20)).await;
    assert_eq!(messages.len(), 1, "one welcome email");
    let message = &messages[0];
    assert!(message.contains("Subject: Welcome to Airbnb Clone, Test"), "{message}");
    assert!(message.contains("Content-Type: text/plain"), "a text part: {message}");
    assert!(message.contains("Content-Type: text/html"), "an HTML part: {message}");
    assert_eq!(outbox_rows(&app).await, 0, "the outbox row was relayed and removed");

    // The same event handled again (a redelivered job) sends nothing more.
    let deps =
        worker::emails::EmailDeps { db: app.db.clone(), mailer: worker::mailer::Mailer::new(&app.config).unwrap() };
    let user_id = serde_json::from_value(user["id"].clone()).unwrap();
    let outcome = worker::emails::send_once(&deps, &EmailJob::Welcome { user_id }).await.unwrap();
    assert_eq!(outcome, "skipped: already sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages_to(&email).len(), 1);
    worker.stop().await;
}

#[tokio::test]
async fn a_pushed_job_starts_at_once_though_the_next_poll_is_a_minute_away() {
    let smtp = SmtpCatcher::start();
    let app = TestApp::spawn_with(|c| c.smtp_url = SecretString::from(smtp.url())).await;
    let mut config = app.config.clone();
    config.queue_poll_interval = Duration::from_secs(60);
    let worker = TestWorker::spawn(config);
    // Past the consumers' first (empty) poll and their subscription.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let email = TestApp::unique_email("wake");

    let started = Instant::now();
    app.register(&email, PASSWORD, "guest").await;

    // Only the announcement of the push can start the job before the
    // minute is up.
    let messages = smtp.wait_for(&email, 1, Duration::from_secs(30)).await;
    assert_eq!(messages.len(), 1, "the welcome email, long before the next poll");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    worker.stop().await;
}

#[tokio::test]
async fn a_registration_during_a_redis_outage_is_mailed_once_redis_returns() {
    let smtp = SmtpCatcher::start();
    let mut redis = PrivateRedis::start();
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = SecretString::from(smtp.url());
        c.redis_url = SecretString::from(redis.url());
    })
    .await;
    let worker = TestWorker::spawn(app.config.clone());
    let email = TestApp::unique_email("outage");

    redis.stop();
    app.register(&email, PASSWORD, "guest").await;
    // The job waits in the outbox while Redis is away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(outbox_rows(&app).await, 1, "the job is kept in the outbox");
    // The relays found Redis away before claiming it: the row is not put
    // off, and goes at their first pass once Redis answers.
    let (attempts, due): (i32, bool) =
        sqlx::query_as("select attempts, available_at <= now() from outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!((attempts, due), (0, true), "an outage is not a failed push");
    assert!(smtp.messages_to(&email).is_empty());

    redis.start_again().unwrap();
    let messages = smtp.wait_for(&email, 1, Duration::from_secs(45)).await;
    assert_eq!(messages.len(), 1, "the welcome email arrives after the outage");
    assert_eq!(outbox_rows(&app).await, 0);
    worker.stop().await;
}

/// An SMTP server that accepts connections and never answers: a job sending
/// to it stays in flight.
fn black_hole() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_mid_run_is_run_by_another_worker() {
    let smtp = SmtpCatcher::start();
    let (hole, connections) = black_hole();
    let app = TestApp::spawn().await;
    let config = &app.config;
    let mut doomed = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env("DATABASE_URL", secrecy::ExposeSecret::expose_secret(&config.database_url))
        .env("REDIS_URL", secrecy::ExposeSecret::expose_secret(&config.redis_url))
        .env("REDIS_NAMESPACE", &config.redis_namespace)
        .env("SMTP_URL", format!("smtp://127.0.0.1:{hole}"))
        .env("WORKER_HEARTBEAT_SECS", "1")
        .env("QUEUE_POLL_INTERVAL_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let email = TestApp::unique_email("killed");
    app.register(&email, PASSWORD, "guest").await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while connections.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the doomed worker never started the job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    doomed.kill().unwrap(); // SIGKILL: no clean-up, no acknowledgement
    doomed.wait().unwrap();
    assert!(smtp.messages_to(&email).is_empty());

    let mut config = app.config.clone();
    config.smtp_url = SecretString::from(smtp.url());
    let rescuer = TestWorker::spawn(config);
    let messages = smtp.wait_for(&email, 1, Duration::from_secs(30)).await;
    assert_eq!(messages.len(), 1, "the orphaned job ran again, once");
    // The ledger row commits just after the SMTP server accepted the message.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sent = loop {
        let sent: i64 = sqlx::query_scalar("select count(*) from sent_emails").fetch_one(&app.db).await.unwrap();
        if sent > 0 || Instant::now() > deadline {
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sent, 1);
    rescuer.stop().await;
}

/// An SMTP server that keeps each message as soon as its data ends and
/// answers `250` only `hold` later: a client that goes away meanwhile had its
/// message accepted without hearing so.
fn slow_smtp(hold: Duration) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let kept = messages.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || {
                let _ = serve_smtp(stream, &kept, hold);
            });
        }
    });
    (port, messages)
}

fn serve_smtp(stream: TcpStream, kept: &Mutex<Vec<String>>, hold: Duration) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    writer.write_all(b"220 slow ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command == "DATA" {
            writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
            let mut message = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line == ".\r\n" {
                    break;
                }
                message.push_str(&line);
            }
            kept.lock().unwrap().push(message);
            std::thread::sleep(hold);
            writer.write_all(b"250 OK queued\r\n")?;
        } else if command == "QUIT" {
            return writer.write_all(b"221 bye\r\n");
        } else {
            writer.write_all(b"250 OK\r\n")?;
        }
    }
}

// A Redis connection that breaks stops the worker's consumers, which are
// started again; a job they were running must not be cut off between the
// SMTP server's acceptance and the record of it, or it is mailed twice.
#[tokio::test]
async fn an_email_in_flight_when_the_worker_s_redis_connection_breaks_is_sent_once() {
    let (port, messages) = slow_smtp(Duration::from_secs(2));
    let redis = PrivateRedis::start();
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = SecretString::from(format!("smtp://127.0.0.1:{port}"));
        c.redis_url = SecretString::from(redis.url());
    })
    .await;
    let worker = TestWorker::spawn(app.config.clone());
    app.register(&TestApp::unique_email("cut"), PASSWORD, "guest").await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while messages.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the welcome email never reached the SMTP server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server holds its answer: cut every client of Redis, the worker's too.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query_async(&mut conn).await.unwrap();

    // The job finishes: run by the consumer started again after the one that
    // held it stopped beating.
    let done = format!("{}:done", app.config.redis_key(EmailJob::QUEUE));
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let finished: usize = redis::cmd("SCARD").arg(&done).query_async(&mut conn).await.unwrap();
        if finished > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the welcome job never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // a second send would be held this long
    assert_eq!(messages.lock().unwrap().len(), 1, "the welcome email was sent once");
    let sent: i64 = sqlx::query_scalar("select count(*) from sent_emails").fetch_one(&app.db).await.unwrap();
    assert_eq!(sent, 1, "and recorded");
    worker.stop().await;
}

#[tokio::test]
async fn a_worker_stops_gracefully_and_jobs_left_queued_are_taken_by_the_next_one() {
    let smtp = SmtpCatcher::start();
    let app = TestApp::spawn_with(|c| c.smtp_url = SecretString::from(smtp.url())).await;
    let worker = TestWorker::spawn(app.config.clone());
    let started = Instant::now();
    worker.stop().await;
    assert!(started.elapsed() < Duration::from_secs(10), "an idle worker stops at once");

    let email = TestApp::unique_email("queued");
    let response = app
        .post("/users", &json!({"email": email, "password": PASSWORD, "first_name": "Q", "last_name": "Ueued"}), None)
        .await;
    assert_eq!(response.status(), 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(smtp.messages_to(&email).is_empty(), "no worker runs");

    let next = TestWorker::spawn(app.config.clone());
    assert_eq!(smtp.wait_for(&email, 1, Duration::from_secs(20)).await.len(), 1);
    next.stop().await;
}

#[tokio::test]
async fn the_janitor_trims_finished_jobs_but_keeps_recent_ones() {
    let smtp = SmtpCatcher::start();
    let app = TestApp::spawn_with(|c| c.smtp_url = SecretString::from(smtp.url())).await;
    let worker = TestWorker::spawn(app.config.clone());
    let email = TestApp::unique_email("janitor");
    app.register(&email, PASSWORD, "guest").await;
    assert_eq!(smtp.wait_for(&email, 1, Duration::from_secs(20)).await.len(), 1);
    worker.stop().await;

    let redis = shared::redis::connect(&app.config).unwrap();
    let queue = app.config.redis_key("emails");
    let mut conn = redis.clone();
    let done: Vec<String> = redis::cmd("SMEMBERS").arg(format!("{queue}:done")).query_async(&mut conn).await.unwrap();
    assert_eq!(done.len(), 1, "the welcome job finished");

    assert_eq!(worker::janitor::trim(&redis, &queue, worker::janitor::RETENTION).await.unwrap(), 0, "recent jobs stay");
    assert_eq!(worker::janitor::trim(&redis, &queue, Duration::ZERO).await.unwrap(), 1);
    let data: i64 = redis::cmd("HLEN").arg(format!("{queue}:data")).query_async(&mut conn).await.unwrap();
    let meta: i64 = redis::cmd("EXISTS").arg(format!("{queue}:meta:{}", done[0])).query_async(&mut conn).await.unwrap();
    let still_done: i64 = redis::cmd("SCARD").arg(format!("{queue}:done")).query_async(&mut conn).await.unwrap();
    assert_eq!((data, meta, still_done), (0, 0, 0));
}
