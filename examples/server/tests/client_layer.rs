//! picotrace-std's `ClientLayer` around a real client, hyper-util's legacy `Client` (the
//! client under reqwest and tonic), calling an axum server under `ServerLayer` over TCP:
//! one trace, the client span the server span's parent, the caller's span the client
//! span's, and the client span open until the response body has been read.

use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use picotrace::SpanKind;
use picotrace_std::{ClientLayer, FutureExt as _, ServerLayer, TracerProvider};
use tower_layer::Layer as _;
use tower_service::Service as _;

// The exporter std-adapter's tests keep spans with (its sampler is not used here).
#[allow(dead_code)]
#[path = "../../../std-adapter/tests/support/kept.rs"]
mod kept;

use kept::Seen;

#[test]
fn a_hyper_client_call_to_an_axum_server_is_one_trace() {
    let (provider, kept) = kept::provider("client-layer");
    let provider: &'static TracerProvider = Box::leak(Box::new(provider));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let caller = runtime.block_on(async {
        // Two chunks 30 ms apart: the client span must last until the second is read.
        let items = || async {
            let chunks = futures_util::stream::unfold(0, |i| async move {
                if i == 2 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                Some((Ok::<_, std::convert::Infallible>(format!("[{i}]")), i + 1))
            });
            Body::from_stream(chunks)
        };
        let missing = || async { (axum::http::StatusCode::NOT_FOUND, "no such item") };
        let router = axum::Router::new()
            .route("/items", get(items))
            .route("/missing", get(missing))
            .layer(ServerLayer::new(provider));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });

        let mut client = ClientLayer::new(provider)
            .layer(Client::builder(TokioExecutor::new()).build_http::<Body>());
        let caller = provider.tracer().start_server_span("caller", None);
        let context = caller.trace_context();
        async {
            std::future::poll_fn(|cx| client.poll_ready(cx))
                .await
                .unwrap();
            let request = axum::http::Request::get(format!("http://{addr}/items?sig=secret"))
                .body(Body::empty())
                .unwrap();
            let response = client.call(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"[0][1]");
            // Marks, on the spans' own clock, when the body had been read.
            let current = picotrace_std::current_context();
            provider
                .tracer()
                .start_span_with_parent("read", current.as_ref())
                .end();
            // A 404 through the same client: its span fails (a client error).
            std::future::poll_fn(|cx| client.poll_ready(cx))
                .await
                .unwrap();
            let request = axum::http::Request::get(format!("http://{addr}/missing"))
                .body(Body::empty())
                .unwrap();
            let response = client.call(request).await.unwrap();
            assert_eq!(response.status(), 404);
            response.into_body().collect().await.unwrap();
        }
        .with_context(context)
        .await;
        caller
    });
    let caller_id = caller.context().span_id.to_string();
    caller.end();
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let read = spans.iter().find(|s| s.name == "read").unwrap();
    let server_of = |path: &str| {
        spans
            .iter()
            .find(|s| s.kind == SpanKind::Server && s.attr("url.path") == Some(path))
            .unwrap_or_else(|| panic!("no server span of {path}: {spans:#?}"))
    };
    let (items_server, server_404) = (server_of("/items"), server_of("/missing"));
    let clients: Vec<&Seen> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 2, "{spans:#?}");
    let (call, failed) = (clients[0], clients[1]);
    assert!(
        spans.iter().all(|s| s.trace_id == spans[0].trace_id),
        "one trace: {spans:#?}"
    );
    assert_eq!((call.name.as_str(), failed.name.as_str()), ("GET", "GET"));
    assert_eq!(call.parent.as_deref(), Some(caller_id.as_str()));
    assert_eq!(failed.parent.as_deref(), Some(caller_id.as_str()));
    // The traceparent each call sent made its span the server span's parent.
    assert_eq!(items_server.parent.as_deref(), Some(call.span_id.as_str()));
    assert_eq!(server_404.parent.as_deref(), Some(failed.span_id.as_str()));
    // The client span covers its server span and the whole body (60 ms of chunks).
    assert!(
        call.start <= items_server.start && items_server.end <= call.end,
        "{spans:#?}"
    );
    assert!(call.end - call.start >= 60_000_000, "{call:#?}");
    assert!(
        call.end <= read.start,
        "ended once the body was read: {spans:#?}"
    );
    assert_eq!(call.attr("http.response.status_code"), Some("200"));
    assert_eq!(call.attr("server.address"), Some("127.0.0.1"));
    assert_eq!(
        call.attr("url.full")
            .map(|u| u.ends_with("/items?sig=REDACTED")),
        Some(true),
        "{call:#?}"
    );
    assert_eq!(call.status, "Unset");
    assert_eq!(failed.attr("http.response.status_code"), Some("404"));
    assert_eq!(failed.attr("error.type"), Some("404"));
    assert!(failed.status.starts_with("Error"), "{failed:#?}");
    assert!(
        failed.events.is_empty(),
        "a status code, no exception: {failed:#?}"
    );
    // The server's 404 is not a server error.
    assert_eq!(server_404.status, "Unset", "{server_404:#?}");
}
