//! The `worker` binary exits cleanly on SIGTERM.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use testkit::{RedisNamespace, TestDatabase};

#[tokio::test]
async fn the_worker_binary_exits_cleanly_on_sigterm() {
    let database = TestDatabase::create().await;
    let namespace = RedisNamespace::new();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env("DATABASE_URL", &database.url)
        .env("REDIS_NAMESPACE", &namespace.0)
        .env("REDIS_URL", std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(worker.try_wait().unwrap().is_none(), "the worker keeps running");

    let started = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap().success());
    loop {
        if let Some(status) = worker.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the worker did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
