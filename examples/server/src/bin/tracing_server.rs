//! An axum server instrumented with `tracing` only, exported by picotrace.
//!
//! The handlers know nothing of picotrace: they use `#[instrument]`, `tracing::info!`
//! and `Span::record`, as most Rust servers do. `main` installs picotrace-std's
//! [`TracingLayer`], so their spans go out over OTLP. Two lines are picotrace's
//! (`TracingSpanExt`): the incoming `traceparent` becomes the server span's parent
//! (`set_parent`) and the client span's context goes out in the request headers
//! (`trace_context`).
//!
//! `GET /checkout` calls this server's own `GET /inventory` over HTTP (or the one at
//! `--inventory URL`), which runs a (simulated) query, and answers 502 when that call
//! fails; after `--requests` checkouts (0: never) the server stops and
//! `provider.shutdown()` reports whether every span was exported.
//!
//! ```sh
//! OTEL_SERVICE_NAME=shop OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//!     cargo run -p picotrace-examples --bin tracing_server -- --port 8080 --requests 1
//! curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
//!     http://127.0.0.1:8080/checkout
//! ```
//!
//! With `--requests 1` the server stops after the checkout; stopped with Ctrl-C or
//! SIGTERM it gives the requests in flight `--grace-ms` (10 s) to finish, and cuts them
//! off after that or at a second signal. Either way it then shuts the provider down,
//! which exports what is queued (spans waiting for the scheduled export, 5 s by
//! default, would otherwise be lost with the process) and says how many spans were
//! still running.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::get;
use axum::Router;
use picotrace_examples::arg;
use picotrace_std::tracing_layer::{TracingLayer, TracingSpanExt as _};
use picotrace_std::{HeaderMapCarrier, HeaderMapInjector};
use tracing::{info, instrument, Span};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

#[derive(Clone)]
struct App {
    /// Where `/checkout` calls `/inventory` (this server, unless `--inventory` says).
    inventory: String,
    served: Arc<AtomicUsize>,
    requests: usize,
    done: Arc<tokio::sync::Notify>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    picotrace_examples::exit_code("tracing_server", run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    picotrace_examples::check_args(&["port", "requests", "grace-ms", "inventory"])?;
    let provider = picotrace_std::init_from_env()?;
    // INFO and above: hyper's and h2's DEBUG and TRACE events would fill the spans.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(TracingLayer::new(provider.tracer()).with_filter(LevelFilter::INFO)),
    )?;
    let port = arg("port", "8080");
    let requests = picotrace_examples::requests_arg()?;
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .map_err(|e| picotrace_examples::cannot_listen(&port, e))?;
    // The address bound: `--port 0` picks a free port (found by review: the server
    // printed port 0 and called itself there).
    let addr = listener.local_addr()?;
    let grace = picotrace_examples::grace_arg()?;
    let app = App {
        // Without a trailing slash: `{inventory}/inventory` (found by review: `//`
        // was not routed, and every checkout answered 502).
        inventory: arg("inventory", &format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned(),
        served: Arc::default(),
        requests,
        done: Arc::default(),
    };
    let done = Arc::clone(&app.done);
    let router = Router::new()
        .route("/checkout", get(checkout))
        .route("/inventory", get(inventory))
        .with_state(app);
    picotrace_examples::say!("tracing_server listening on {addr}");
    let stopping = Arc::new(tokio::sync::Notify::new());
    let serve = axum::serve(listener, router).with_graceful_shutdown({
        let stopping = Arc::clone(&stopping);
        async move {
            tokio::select! {
                () = done.notified() => {}
                () = picotrace_examples::stop_signal() => picotrace_examples::say!("tracing_server: stopping"),
            }
            stopping.notify_one();
        }
    });
    // Requests in flight get `--grace-ms` (10 s) to finish, then are cut off.
    let finished =
        picotrace_examples::serve_within_grace(serve, stopping, grace, "tracing_server").await?;
    // Its message, not its `Debug` form, if spans were lost or still running.
    picotrace_examples::shut_down(provider, finished, "tracing_server")?;
    picotrace_examples::say!("tracing_server: every span exported");
    Ok(())
}

/// Continues the caller's trace, if its headers carry one (in the formats
/// `OTEL_PROPAGATORS` names), then records the server span's `http.*` fields: a span a
/// ratio sampler dropped as a root starts recording under a sampled caller, with the
/// fields it was created with (the layer keeps a dropped root's; see
/// `TracingSpanExt::set_parent`), and these recorded after.
fn continue_trace(method: &Method, uri: &Uri, headers: &HeaderMap, route: &'static str) {
    let span = Span::current();
    if let Ok(incoming) = picotrace_std::propagators().extract_context(&HeaderMapCarrier(headers)) {
        span.set_parent(&incoming);
    }
    // axum's `get` serves `HEAD` too (found by review: recorded as `GET`).
    if method == Method::HEAD {
        span.record("otel.name", format!("HEAD {route}"));
        span.record("http.request.method", "HEAD");
    } else {
        span.record("http.request.method", "GET");
    }
    span.record("http.route", route);
    // These routes have no parameters: the path is the route.
    span.record("url.path", route);
    // The query, when one came, its secret values redacted (the HTTP server
    // conventions; found by review: left out).
    if let Some(query) = uri.query() {
        span.record("url.query", picotrace_std::redact_query(query).as_ref());
    }
}

#[instrument(
    name = "GET /checkout",
    skip_all,
    fields(
        otel.kind = "server",
        otel.name = tracing::field::Empty,
        http.request.method = tracing::field::Empty,
        http.route = tracing::field::Empty,
        url.path = tracing::field::Empty,
        url.query = tracing::field::Empty,
        url.scheme = "http",
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
)]
async fn checkout(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, String) {
    continue_trace(&method, &uri, &headers, "/checkout");
    tokio::time::sleep(Duration::from_millis(2)).await;
    let stock = call_inventory(format!("{}/inventory", app.inventory)).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let span = Span::current();
    let (status, body) = match stock {
        Ok(body) => (StatusCode::OK, format!("checkout ok: {body}\n")),
        Err(()) => {
            // A 5xx this server answers makes its server span an error, the status code
            // its `error.type` (semantic conventions, HTTP server spans).
            span.record("error.type", "502");
            span.record("otel.status_code", "error");
            (
                StatusCode::BAD_GATEWAY,
                String::from("checkout failed: inventory unavailable\n"),
            )
        }
    };
    span.record("http.response.status_code", status.as_u16());
    if app.served.fetch_add(1, Ordering::SeqCst) + 1 == app.requests {
        app.done.notify_one();
    }
    (status, body)
}

/// The client span of the call: method, address and port, and the answer's status
/// code; a 4xx or 5xx answer, or none, is an error with its `error.type`.
#[instrument(
    name = "GET /inventory",
    skip_all,
    fields(
        otel.kind = "client",
        http.request.method = "GET",
        url.full = picotrace_examples::url_without_credentials(&url).as_deref(),
        server.address = tracing::field::Empty,
        server.port = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
)]
async fn call_inventory(url: String) -> Result<String, ()> {
    let span = Span::current();
    if let Ok(uri) = url.parse::<axum::http::Uri>() {
        if let Some(host) = uri.host() {
            span.record("server.address", host);
        }
        // The scheme's default port (found by review: 80 for https too).
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        span.record("server.port", uri.port_u16().unwrap_or(default_port));
    }
    let mut outgoing = HeaderMap::new();
    if let Some(cx) = Span::current().trace_context() {
        picotrace_std::propagators().inject_context(&cx, &mut HeaderMapInjector(&mut outgoing));
    }
    let response = tokio::task::spawn_blocking(move || {
        // A 4xx or 5xx answer is a response to record, not an `Err`.
        // A bound on the wait (ureq sets none: found by review, a call that never got
        // an answer held its request, and a graceful shutdown, for ever).
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut request = agent.get(&url).header("connection", "close");
        for (name, value) in &outgoing {
            if let Ok(value) = value.to_str() {
                request = request.header(name.as_str(), value);
            }
        }
        let mut answer = request.call()?;
        let status = answer.status().as_u16();
        Ok::<_, ureq::Error>((status, answer.body_mut().read_to_string()?))
    })
    .await;
    match response {
        Ok(Ok((status, body))) => {
            span.record("http.response.status_code", status);
            if status >= 400 {
                span.record("error.type", status.to_string());
                span.record("otel.status_code", "error");
                return Err(());
            }
            Ok(body)
        }
        Ok(Err(e)) => {
            // An error-level event with the error: the span's status and an
            // `exception` event (the layer's rule).
            span.record("error.type", "_OTHER");
            tracing::error!(error = %e, "inventory call failed");
            Err(())
        }
        Err(e) => {
            span.record("error.type", "_OTHER");
            tracing::error!(error = %e, "inventory call panicked");
            Err(())
        }
    }
}

#[instrument(
    name = "GET /inventory",
    skip_all,
    fields(
        otel.kind = "server",
        otel.name = tracing::field::Empty,
        http.request.method = tracing::field::Empty,
        http.route = tracing::field::Empty,
        url.path = tracing::field::Empty,
        url.query = tracing::field::Empty,
        url.scheme = "http",
        http.response.status_code = tracing::field::Empty,
    )
)]
async fn inventory(method: Method, uri: Uri, headers: HeaderMap) -> &'static str {
    continue_trace(&method, &uri, &headers, "/inventory");
    let rows = query_stock("widgets").await;
    info!(rows, "inventory answered");
    Span::current().record("http.response.status_code", 200);
    "3 in stock"
}

#[instrument(fields(otel.name = "SELECT stock", otel.kind = "client", db.system.name = "postgresql"))]
async fn query_stock(item: &str) -> u64 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    info!(rows = 1, "stock read");
    1
}
