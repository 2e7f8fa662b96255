//! An axum server on a multi-thread tokio runtime, traced with picotrace.
//!
//! `GET /checkout` reads what the caller sent (`extract`: its trace context and its
//! baggage) and continues the trace in a server span held across several `.await`s,
//! with the context and the baggage current while the handler's future runs
//! (`with_context`, `with_baggage`) on whichever worker thread polls it. Code deep in
//! the handler calls this server's own `GET /inventory` with reqwest, in an
//! `HttpClientSpan` under the current context: a client span with the HTTP client
//! conventions' attributes, whose context and the current baggage go out in the
//! request's headers. The handler keeps the server span: after
//! the `.await` it sets the response status and ends it. The `/inventory` handler
//! continues that context, records the `tenant` it got as baggage, and runs its
//! database step inside [`InSpan`](picotrace_std::InSpan). After `--requests`
//! checkouts (0: never) the server stops and `provider.shutdown()` reports whether
//! every span was exported.
//!
//! ```sh
//! OTEL_SERVICE_NAME=shop OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//!     cargo run -p picotrace-examples --bin axum_server -- --port 8080 --requests 1
//! curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
//!     -H 'baggage: tenant=acme' http://127.0.0.1:8080/checkout
//! ```
//!
//! With `--requests 1` the server stops after the checkout; stopped with Ctrl-C or
//! SIGTERM it gives the requests in flight `--grace-ms` (10 s) to finish, and cuts them
//! off after that or at a second signal. Either way it then shuts the provider down,
//! which exports what is queued (spans waiting for the scheduled export, 5 s by
//! default, would otherwise be lost with the process) and says how many spans were
//! still running. `--inventory URL` calls another server's `/inventory`.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::get;
use axum::Router;
use picotrace::{semconv, SpanKind};
use picotrace_examples::arg;
use picotrace_std::{
    current_baggage, current_context, FutureExt as _, HeaderMapCarrier, HttpClientSpan,
    TracerProvider,
};

#[derive(Clone)]
struct App {
    /// Its propagation helpers read and write only what `OTEL_PROPAGATORS` names.
    provider: &'static TracerProvider,
    base: String,
    /// One HTTP client for the process (it pools connections).
    client: reqwest::Client,
    served: Arc<AtomicUsize>,
    requests: usize,
    done: Arc<tokio::sync::Notify>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    picotrace_examples::exit_code("axum_server", run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    picotrace_examples::check_args(&["port", "requests", "grace-ms", "inventory"])?;
    let provider = picotrace_std::init_from_env()?;
    let port = arg("port", "8080");
    let requests = picotrace_examples::requests_arg()?;
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .map_err(|e| picotrace_examples::cannot_listen(&port, e))?;
    // The address bound: `--port 0` picks a free port (found by review: the server
    // printed port 0 and called itself there).
    let addr = listener.local_addr()?;
    let grace = picotrace_examples::grace_arg()?;
    // Without a trailing slash: `{base}/inventory`.
    let base = arg("inventory", &format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    // Refused at start (found by review: a bad URL gave a 502 on every checkout, with
    // no span and nothing said).
    reqwest::Url::parse(&format!("{base}/inventory"))
        .map_err(|e| format!("--inventory {base}: not a URL: {e}"))?;
    let app = App {
        provider,
        base,
        // A bound on each call (reqwest sets none: a downstream that never answers
        // would hold its request, and a graceful shutdown, for good).
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        served: Arc::default(),
        requests,
        done: Arc::default(),
    };
    let done = Arc::clone(&app.done);
    let stopping = Arc::new(tokio::sync::Notify::new());
    let router = Router::new()
        .route("/checkout", get(checkout))
        .route("/inventory", get(inventory))
        .with_state(app);
    picotrace_examples::say!("axum_server listening on {addr}");
    let serve = axum::serve(listener, router).with_graceful_shutdown({
        let stopping = Arc::clone(&stopping);
        async move {
            tokio::select! {
                () = done.notified() => {}
                () = picotrace_examples::stop_signal() => picotrace_examples::say!("axum_server: stopping"),
            }
            stopping.notify_one();
        }
    });
    // Requests in flight get `--grace-ms` (10 s) to finish, then are cut off.
    let finished =
        picotrace_examples::serve_within_grace(serve, stopping, grace, "axum_server").await?;
    // The runtime is still alive: spans ended on its worker threads are all exported,
    // or shutdown says how many were lost.
    // Its message, not its `Debug` form, if spans were lost or still running.
    picotrace_examples::shut_down(provider, finished, "axum_server")?;
    picotrace_examples::say!("axum_server: every span exported");
    Ok(())
}

async fn checkout(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let tracer = app.provider.tracer();
    // The caller's trace context and baggage, in the formats `OTEL_PROPAGATORS` names.
    let incoming = app.provider.extract(&HeaderMapCarrier(&headers));
    // Held across every `.await` below, possibly resumed on another worker thread.
    // axum's `get` serves `HEAD` too (found by review: recorded as `GET`).
    let (name, method) = get_or_head(&method, "GET /checkout", "HEAD /checkout");
    let mut span = tracer.start_server_span(name, &incoming.context);
    span.set_attribute(semconv::HTTP_REQUEST_METHOD, method);
    span.set_attribute(semconv::HTTP_ROUTE, "/checkout");
    span.set_attribute(semconv::URL_PATH, "/checkout");
    span.set_attribute("url.scheme", "http");
    record_query(&mut span, &uri);
    let context = span.trace_context();
    // Until the answer: a client that hangs up makes hyper drop this future, and the
    // span then ends an Error `cancelled` (as `ServerLayer` records it), not a success.
    let mut span = Unanswered(Some(span));
    let (status, answer) = handle_checkout(&app)
        .with_context(context) // the server span is current inside
        .with_baggage(incoming.baggage) // and so is the caller's baggage
        .await;
    let mut span = span.answered();
    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
    if status.is_server_error() {
        // A server span is an error on a 5xx it answers, its status code the
        // `error.type` (semantic conventions, HTTP server spans).
        span.set_attribute_dyn(semconv::ERROR_TYPE, status.as_str());
        span.set_error("inventory unavailable");
    }
    // Else Unset: the HTTP conventions leave a 1xx-4xx server span's status unset
    // (found by review: it was set Ok).
    span.end();

    if app.served.fetch_add(1, Ordering::SeqCst) + 1 == app.requests {
        app.done.notify_one();
    }
    (status, answer)
}

/// A server span whose request is not answered yet: dropped so (found by review: the
/// client hung up, hyper dropped the handler, and the span ended Unset, a success), it
/// ends an Error `cancelled`, or `panicked` when a panic in the handler drops it.
struct Unanswered(Option<picotrace_std::StdSpan>);

impl Unanswered {
    /// The span, answered.
    fn answered(&mut self) -> picotrace_std::StdSpan {
        self.0.take().expect("answered once")
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(mut span) = self.0.take() {
            let why = if std::thread::panicking() {
                "panicked"
            } else {
                "cancelled"
            };
            span.set_attribute(semconv::ERROR_TYPE, why);
            span.set_error(why);
        }
    }
}

/// The checkout's work, handed nothing of the trace: it reads the current context and
/// baggage.
async fn handle_checkout(app: &App) -> (StatusCode, String) {
    tokio::time::sleep(Duration::from_millis(2)).await;
    let url = format!("{}/inventory", app.base);
    let stock = match app.client.get(&url).build() {
        Ok(mut request) => {
            // A CLIENT span with the HTTP client conventions' attributes, a child of
            // the current span; its context (`traceparent` and the other formats on)
            // and the current baggage go out in the request's headers (reqwest's are
            // the same `http` types).
            let mut call = HttpClientSpan::builder(request.method(), request.url().as_str())
                .url_template("/inventory")
                .start(app.provider);
            call.inject(request.headers_mut());
            // The caller's baggage is current here too.
            if let (Some(span), Some(bag)) = (call.span_mut(), current_baggage()) {
                if let Some(tenant) = bag.get("tenant") {
                    // Decoded: baggage values are percent-encoded on the wire.
                    span.set_attribute("shop.tenant", tenant.decoded_value().to_string().as_str());
                }
            }
            let response = match app.client.execute(request).await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await;
                    body.map(|body| (status, body))
                        .map_err(|e| (Some(status), e))
                }
                Err(e) => Err((None, e)),
            };
            // A client span is an error on a 4xx or 5xx answer (reqwest returns those
            // as `Ok`) or when no answer (or no body) came: `finish`, `fail_body` and
            // `fail` record it so.
            match response {
                Ok((status, body)) => {
                    call.finish(status);
                    (status.as_u16() < 400).then_some(body)
                }
                Err((status, e)) => {
                    let error_type = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connection"
                    } else {
                        "http"
                    };
                    // reqwest's error text names the URL: left out of the event.
                    let e = e.without_url();
                    match status {
                        // The answer came, its body did not: its status code is kept.
                        Some(status) => call.fail_body(status, error_type, &e),
                        None => call.fail(error_type, &e),
                    }
                    None
                }
            }
        }
        // A URL reqwest cannot send to: no call was made.
        Err(_) => None,
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    match stock {
        Some(body) => (StatusCode::OK, format!("checkout ok: {body}\n")),
        None => (
            StatusCode::BAD_GATEWAY,
            "inventory unavailable\n".to_string(),
        ),
    }
}

async fn inventory(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> &'static str {
    let tracer = app.provider.tracer();
    let incoming = app.provider.extract(&HeaderMapCarrier(&headers));
    let (name, method) = get_or_head(&method, "GET /inventory", "HEAD /inventory");
    let mut span = tracer.start_server_span(name, &incoming.context);
    span.set_attribute(semconv::HTTP_REQUEST_METHOD, method);
    span.set_attribute(semconv::HTTP_ROUTE, "/inventory");
    span.set_attribute(semconv::URL_PATH, "/inventory");
    span.set_attribute("url.scheme", "http");
    record_query(&mut span, &uri);
    // The baggage the checkout had current came with the request.
    if let Some(tenant) = incoming.baggage.get("tenant") {
        span.set_attribute("shop.tenant", tenant.decoded_value().to_string().as_str());
    }
    let query = tracer
        .span_builder("SELECT stock")
        .kind(SpanKind::Client)
        .parent(&span)
        .start();
    async {
        // Deep in a call stack: the current context names the query span.
        let cx = current_context();
        tokio::time::sleep(Duration::from_millis(3)).await;
        cx.map(|c| c.span_context.span_id)
    }
    .in_span(query)
    .await;
    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, 200_u16);
    "3 in stock"
}

/// `url.query`, when the request has one, its secret values redacted (the HTTP server
/// conventions record it when one was received; found by review: left out).
fn record_query(span: &mut picotrace_std::StdSpan, uri: &Uri) {
    if let Some(query) = uri.query() {
        span.set_attribute_dyn("url.query", picotrace_std::redact_query(query).as_ref());
    }
}

/// The span name and `http.request.method` of a request to a `get` route, which axum
/// also serves for `HEAD`.
fn get_or_head(
    method: &Method,
    get: &'static str,
    head: &'static str,
) -> (&'static str, &'static str) {
    if method == Method::HEAD {
        (head, "HEAD")
    } else {
        (get, "GET")
    }
}
