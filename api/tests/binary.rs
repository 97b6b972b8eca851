//! The `api` binary as an operator runs it: configuration from the
//! environment, JSON logs, `create-admin`, and a clean exit on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use testkit::{RedisNamespace, TestDatabase, free_port};

struct Binary {
    port: u16,
    child: Child,
}

fn api_command(database: &TestDatabase, namespace: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &database.url)
        .env("REDIS_URL", std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()))
        .env("REDIS_NAMESPACE", namespace);
    command
}

async fn start(database: &TestDatabase, namespace: &str) -> Binary {
    let port = free_port();
    let child = api_command(database, namespace)
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the api binary");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("http://127.0.0.1:{port}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the api binary did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Binary { port, child }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_api_binary_logs_json_lines_with_the_request_id_and_exits_cleanly_on_sigterm() {
    let database = TestDatabase::create().await;
    let namespace = RedisNamespace::new();
    let namespace = &namespace.0;
    let mut api = start(&database, namespace).await;

    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/ready", api.port))
        .header("X-Request-Id", "binary-test-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    sigterm(&api.child);
    let status = wait_with_timeout(&mut api.child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");

    let stderr = BufReader::new(api.child.stderr.take().unwrap());
    let lines: Vec<Value> = stderr
        .lines()
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).expect("every log line is JSON"))
        .collect();
    let served = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "binary-test-request-1")
        .expect("a log line on the request's span carries its id");
    assert_eq!(served["span"]["path"], "/ready");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "API stopped" || l["message"] == "API stopped"));
}

#[tokio::test]
async fn an_operator_creates_the_first_admin_from_the_command_line() {
    let database = TestDatabase::create().await;
    let namespace = RedisNamespace::new();
    let namespace = &namespace.0;
    let mut api = start(&database, namespace).await;
    let email = format!("ops-{}@example.com", uuid::Uuid::new_v4().simple());

    let output = api_command(&database, namespace)
        .env("ADMIN_PASSWORD", "operator password 1")
        .args(["create-admin", "--email", &email])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", api.port);
    let tokens: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": "operator password 1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().expect("the admin signs in");
    let me: Value =
        client.get(format!("{base}/users/me")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "admin");
    let list = client.get(format!("{base}/users")).bearer_auth(token).send().await.unwrap();
    assert_eq!(list.status(), 200, "an admin lists users");

    // A weak password is refused with a clear message and creates nothing.
    let weak = api_command(&database, namespace)
        .env("ADMIN_PASSWORD", "short")
        .args(["create-admin", "--email", "other-admin@example.com"])
        .output()
        .unwrap();
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password must be 8 to 128 characters"));

    sigterm(&api.child);
    assert!(wait_with_timeout(&mut api.child, Duration::from_secs(15)).success());
}

#[tokio::test]
async fn a_malformed_setting_stops_start_up_with_one_line_naming_it() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_api")).env_clear().env("API_ADDR", "not-an-address").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: invalid configuration: API_ADDR"), "{stderr}");
}
