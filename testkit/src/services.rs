use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of the test's own, migrated by the application under test and
/// dropped when this value drops.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.expect("connect to PostgreSQL (TEST_DATABASE_URL)");
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        Self { url: format!("{base}/{name}"), name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime we may block: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A unique Redis namespace whose keys are deleted when it drops.
pub struct RedisNamespace(pub String);

impl RedisNamespace {
    pub fn new() -> Self {
        Self(format!("test-{}", uuid::Uuid::new_v4().simple()))
    }
}

impl Default for RedisNamespace {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisNamespace {
    fn drop(&mut self) {
        clean_redis_namespace(&default_redis_url(), &self.0);
    }
}

pub(crate) fn default_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Deletes every Redis key under `namespace:` and the apalis registry
/// entries of its queues.
pub(crate) fn clean_redis_namespace(url: &str, namespace: &str) {
    let Ok(client) = redis::Client::open(url) else { return };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return };
    let pattern = format!("{namespace}:*");
    let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn).unwrap_or_default();
    for chunk in keys.chunks(500) {
        let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(chunk).query(&mut conn);
    }
    let registered: Vec<String> =
        redis::cmd("ZRANGE").arg("core:apalis:queues:list").arg(0).arg(-1).query(&mut conn).unwrap_or_default();
    let ours: Vec<&String> = registered.iter().filter(|m| m.starts_with(&format!("{namespace}:"))).collect();
    if !ours.is_empty() {
        let _: redis::RedisResult<i64> = redis::cmd("ZREM").arg("core:apalis:queues:list").arg(ours).query(&mut conn);
    }
}

fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "nothing listens on port {port} after {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// A real SMTP server (Python's aiosmtpd) on a free loopback port that
/// stores every message in a Maildir.
pub struct SmtpCatcher {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl SmtpCatcher {
    pub fn start() -> Self {
        let python = std::env::var("AIOSMTPD_PYTHON").unwrap_or_else(|_| "python3".into());
        let port = free_port();
        let dir = temp_dir("smtp");
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start aiosmtpd with {python} (set AIOSMTPD_PYTHON; the test command installs it): {e}")
            });
        wait_for_port(port, Duration::from_secs(10)).expect("aiosmtpd listening");
        Self { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("maildir").join("new")) else { return Vec::new() };
        entries.filter_map(|e| e.ok()).filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect()
    }

    /// Messages addressed to `recipient` (case-insensitive).
    pub fn messages_to(&self, recipient: &str) -> Vec<String> {
        let needle = format!("x-rcptto: {}", recipient.to_lowercase());
        self.messages().into_iter().filter(|m| m.to_lowercase().contains(&needle)).collect()
    }

    /// Waits until `count` messages to `recipient` arrived.
    pub async fn wait_for(&self, recipient: &str, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages_to(recipient);
            if messages.len() >= count || Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpCatcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A redis-server of the test's own, which the test may stop and restart
/// on the same port to play an outage.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let mut redis = Self { port: free_port(), dir: temp_dir("redis"), child: None };
        redis.start_again().expect("start redis-server");
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("redis-server must be installed")?;
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10))
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
