//! Builds the HTTP application and runs it until told to stop.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use poem::{
    Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route, Server,
    endpoint::make_sync,
    http::{HeaderValue, StatusCode, header},
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::{CatchPanic, NormalizePath, TrailingSlash},
};
use shared::Config;
use tracing::Instrument;

use crate::{
    error, graphql,
    openapi::{self, AllowedMethods},
    rate_limit, request_id, routes,
    state::{AppState, Writes},
};

/// The API server, bound to its address and ready to run.
pub struct Application {
    state: AppState,
    acceptor: TcpAcceptor,
    port: u16,
}

impl Application {
    /// Connects to PostgreSQL and Redis, applies migrations and binds
    /// `config.api_addr` (port 0 picks a free port, as tests do).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let state = AppState::new(config)?;
        shared::db::migrate(&state.db).await?;
        let acceptor = TcpListener::bind(state.config.api_addr)
            .into_acceptor()
            .await
            .with_context(|| format!("binding API_ADDR={}", state.config.api_addr))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(SocketAddr::port))
            .context("reading the bound port")?;
        Ok(Self { state, acceptor, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests
    /// (up to 30 s), waits for writes whose clients left (up to 30 s more)
    /// and stops the outbox relay.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(self.state.relay.clone().run(async {
            let _ = relay_stopped.await;
        }));
        let app = endpoint(&self.state);
        tracing::info!(port = self.port, "API listening; docs at /docs");
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(30)))
            .await
            .context("running the HTTP server")?;
        if tokio::time::timeout(Duration::from_secs(30), self.state.writes.finished()).await.is_err() {
            tracing::warn!("writes whose clients left were still running after 30 s; stopping anyway");
        }
        let _ = stop_relay.send(());
        let _ = relay.await;
        tracing::info!("API stopped");
        Ok(())
    }
}

/// The whole HTTP surface: the OpenAPI operations, the spec, the docs UI,
/// and the middleware every request goes through.
pub fn endpoint(state: &AppState) -> impl poem::Endpoint + 'static {
    let api = routes::api(state);
    let document = openapi::document(&api.spec());
    let allowed = Arc::new(AllowedMethods::from_document(&document));
    let docs = api.swagger_ui();
    Route::new()
        .nest("/", api)
        .at("/openapi.json", poem::get(make_sync(move |_| document.clone().with_content_type("application/json"))))
        .at("/graphql", graphql::endpoint(state))
        .nest("/docs", docs)
        .around({
            let writes = state.writes.clone();
            move |next, request| to_completion(next, request, writes.clone())
        })
        .with(NormalizePath::new(TrailingSlash::Trim))
        .around(rate_limit::per_client)
        .data(state.clone())
        .catch_all_error(error::render_problem)
        .around(move |next, request| with_allow_header(next, request, allowed.clone()))
        .with(CatchPanic::new().with_handler(|_| error::panic_response()))
        .around(request_id::with_request_id)
        .into_endpoint()
}

/// Runs a request that may write to its end even when its client goes away.
/// An HTTP/2 client that resets its stream (or a connection that drops)
/// would otherwise stop the handler at its next await: after a commit but
/// before what follows it, such as the cache bump that keeps searches fresh
/// or the relay's wake-up. Reads are left to be cancelled. Shutdown waits
/// for these writes (see [`Application::run_until_stopped`]). A write that
/// ends after its client left logs its status here: the request span's own
/// line is written by middleware that went with the client.
async fn to_completion<E: Endpoint + 'static>(
    next: Arc<E>,
    request: Request,
    writes: Writes,
) -> poem::Result<Response> {
    if request.method().is_safe() {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    let under_way = writes.start().await;
    let client = ClientWaits(Arc::new(AtomicBool::new(true)));
    let waits = Arc::clone(&client.0);
    let work = async move {
        let started = Instant::now();
        let response = next.call(request).await.map(IntoResponse::into_response);
        if !waits.load(Ordering::Acquire) {
            // The outer middleware, which logs every outcome, went with the client.
            log_unanswered(response.as_ref().map_or_else(poem::Error::status, Response::status), started);
        }
        drop(under_way);
        response
    };
    let outcome = tokio::spawn(work.instrument(tracing::Span::current())).await;
    drop(client);
    match outcome {
        Ok(response) => response,
        // A panic goes on to `CatchPanic`, which answers 500.
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => Err(poem::Error::new(error, StatusCode::SERVICE_UNAVAILABLE)),
    }
}

/// True while a request's client still waits for its response; cleared when
/// the future answering it is dropped (the client went) or has answered.
struct ClientWaits(Arc<AtomicBool>);

impl Drop for ClientWaits {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Logs the outcome of a write nobody was left to receive.
fn log_unanswered(status: StatusCode, started: Instant) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), latency_ms, "request failed after its client left");
    } else {
        tracing::info!(status = status.as_u16(), latency_ms, "request finished after its client left");
    }
}

/// A 405 lists the methods the path has in `Allow` (RFC 9110, 15.5.6).
async fn with_allow_header<E: Endpoint>(
    next: E,
    request: Request,
    allowed: Arc<AllowedMethods>,
) -> poem::Result<Response> {
    let path = request.uri().path().to_owned();
    let mut response = next.call(request).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let methods = if path.trim_end_matches('/') == "/openapi.json" { Some("GET") } else { allowed.of(&path) };
        if let Some(value) = methods.and_then(|m| HeaderValue::from_str(m).ok()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    Ok(response)
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi_spec(state: &AppState) -> String {
    openapi::document(&routes::api(state).spec())
}

#[cfg(test)]
mod tests {
    use std::{io, sync::Mutex};

    use poem::http::Method;

    use super::*;

    /// What a test's log subscriber wrote, from any task.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Log {
        fn lines_with(&self, text: &str) -> usize {
            String::from_utf8_lossy(&self.0.lock().expect("log buffer")).lines().filter(|l| l.contains(text)).count()
        }
    }

    // A current-thread runtime: the spawned write logs to this thread's subscriber.
    #[tokio::test]
    async fn a_write_whose_client_left_still_logs_how_it_ended() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let failing = Arc::new(poem::endpoint::make(|_| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Err::<Response, _>(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))
        }));
        let post = || Request::builder().method(Method::POST).finish();
        let writes = Writes::default();

        // The client leaves before the answer.
        let answer = to_completion(Arc::clone(&failing), post(), writes.clone());
        assert!(tokio::time::timeout(Duration::from_millis(5), answer).await.is_err());
        writes.finished().await;
        assert_eq!(log.lines_with("request failed after its client left status=500"), 1);

        // A client that waits gets the answer; the outer middleware logs it.
        let answered = to_completion(failing, post(), writes.clone()).await;
        assert_eq!(answered.err().map(|e| e.status()), Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(log.lines_with("after its client left"), 1);
    }
}
