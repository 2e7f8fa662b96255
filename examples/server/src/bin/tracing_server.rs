//! An axum server instrumented with `tracing` only, exported by picotrace.
//!
//! The handlers know nothing of picotrace: they use `#[instrument]`, `tracing::info!`
//! and `Span::record`, as most Rust servers do. `main` installs picotrace-std's
//! [`TracingLayer`], so their spans go out over OTLP. Two lines are picotrace's
//! (`TracingSpanExt`): the incoming `traceparent` becomes the server span's parent
//! (`set_parent`) and the client span's context goes out in the request headers
//! (`trace_context`).
//!
//! `GET /checkout` calls this server's own `GET /inventory` over HTTP, which runs a
//! (simulated) query; after `--requests` checkouts (0: never) the server stops and
//! `provider.shutdown()` reports whether every span was exported.
//!
//! ```sh
//! OTEL_SERVICE_NAME=shop OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//!     cargo run -p picotrace-examples --bin tracing_server -- --port 8080 --requests 1
//! curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
//!     http://127.0.0.1:8080/checkout
//! ```
//!
//! With `--requests 1` the server stops after the checkout and shuts the provider
//! down, which exports what is queued; stopped with Ctrl-C instead, it exits without
//! shutting down, and spans still waiting for the scheduled export (5 s by default)
//! are lost.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use picotrace_examples::arg;
use picotrace_std::tracing_layer::{TracingLayer, TracingSpanExt as _};
use picotrace_std::{HeaderMapCarrier, HeaderMapInjector};
use tracing::{info, instrument, Span};
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone)]
struct App {
    base: String,
    served: Arc<AtomicUsize>,
    requests: usize,
    done: Arc<tokio::sync::Notify>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = picotrace_std::init_from_env()?;
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(TracingLayer::new(provider.tracer())),
    )?;
    let port = arg("port", "8080");
    let requests: usize = arg("requests", "0").parse()?;
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let app = App {
        base: format!("http://127.0.0.1:{port}"),
        served: Arc::default(),
        requests,
        done: Arc::default(),
    };
    let done = Arc::clone(&app.done);
    let router = Router::new()
        .route("/checkout", get(checkout))
        .route("/inventory", get(inventory))
        .with_state(app);
    eprintln!("tracing_server listening on 127.0.0.1:{port}");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { done.notified().await })
        .await?;
    provider.shutdown()?;
    eprintln!("tracing_server: every span exported");
    Ok(())
}

/// Continues the caller's trace, if its headers carry one (in the formats
/// `OTEL_PROPAGATORS` names), then records the server span's `http.*` fields: a span a
/// ratio sampler dropped as a root starts recording under a sampled caller, without the
/// fields it was created with (see `TracingSpanExt::set_parent`).
fn continue_trace(headers: &HeaderMap, route: &'static str) {
    let span = Span::current();
    if let Ok(incoming) = picotrace_std::propagators().extract_context(&HeaderMapCarrier(headers)) {
        span.set_parent(&incoming);
    }
    span.record("http.request.method", "GET");
    span.record("http.route", route);
}

#[instrument(
    name = "GET /checkout",
    skip_all,
    fields(
        otel.kind = "server",
        http.request.method = tracing::field::Empty,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    )
)]
async fn checkout(State(app): State<App>, headers: HeaderMap) -> String {
    continue_trace(&headers, "/checkout");
    tokio::time::sleep(Duration::from_millis(2)).await;
    let body = call_inventory(format!("{}/inventory", app.base)).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    Span::current().record("http.response.status_code", 200);
    if app.served.fetch_add(1, Ordering::SeqCst) + 1 == app.requests {
        app.done.notify_one();
    }
    format!("checkout ok: {body}\n")
}

#[instrument(name = "GET /inventory", skip_all, fields(otel.kind = "client", url.full = %url))]
async fn call_inventory(url: String) -> String {
    let mut outgoing = HeaderMap::new();
    if let Some(cx) = Span::current().trace_context() {
        picotrace_std::propagators().inject_context(&cx, &mut HeaderMapInjector(&mut outgoing));
    }
    let response = tokio::task::spawn_blocking(move || {
        let mut request = ureq::get(&url).header("connection", "close");
        for (name, value) in &outgoing {
            if let Ok(value) = value.to_str() {
                request = request.header(name.as_str(), value);
            }
        }
        request
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
    })
    .await;
    match response {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "inventory call failed");
            String::from("inventory unavailable")
        }
        Err(e) => {
            tracing::error!(error = %e, "inventory call panicked");
            String::from("inventory unavailable")
        }
    }
}

#[instrument(
    name = "GET /inventory",
    skip_all,
    fields(
        otel.kind = "server",
        http.request.method = tracing::field::Empty,
        http.route = tracing::field::Empty,
    )
)]
async fn inventory(headers: HeaderMap) -> &'static str {
    continue_trace(&headers, "/inventory");
    let rows = query_stock("widgets").await;
    info!(rows, "inventory answered");
    "3 in stock"
}

#[instrument(fields(otel.name = "SELECT stock", otel.kind = "client", db.system = "postgresql"))]
async fn query_stock(item: &str) -> u64 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    info!(rows = 1, "stock read");
    1
}
