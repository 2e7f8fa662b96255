//! `ClientLayer` (feature `tower`) around a client `tower` service: the call's span, a
//! child of the current context, its context and baggage in the outgoing headers, the
//! HTTP client or gRPC conventions' attributes and status, and the span's end with the
//! response's body.
#![cfg(feature = "tower")]

mod support;

use std::sync::{Arc, Mutex};

use picotrace::SpanKind;
use picotrace_std::{ClientLayer, TracerProvider};
use support::body::{send, BodyService, Streamed};
use support::kept::{Keep, Seen};
use support::runtime;
use tower_layer::Layer as _;
use tower_service::Service;

fn setup() -> (TracerProvider, Keep) {
    support::kept::provider("client-layer")
}

fn flushed(provider: &TracerProvider, kept: &Keep) -> Vec<Seen> {
    provider.flush().unwrap();
    std::mem::take(&mut *kept.0.lock().unwrap())
}

/// A client whose server answers `status` with a streamed body of two frames, and
/// keeps each request's `traceparent`.
fn client(
    sent: Arc<Mutex<Vec<String>>>,
    status: u16,
) -> BodyService<impl FnMut(&http::Request<()>) -> http::Response<Streamed> + Clone> {
    BodyService(move |request: &http::Request<()>| {
        let traceparent = request.headers().get("traceparent");
        sent.lock().unwrap().push(
            traceparent
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
        );
        let body = Streamed::new(5, Arc::new(|| {})).data(b"[1,").data(b"2]");
        let mut response = http::Response::new(body);
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        response
    })
}

#[test]
fn an_http_call_is_traced_until_its_body_is_read() {
    let (provider, kept) = setup();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut service = ClientLayer::new(&provider).layer(client(Arc::clone(&sent), 200));
    let parent = provider.tracer().start_server_span("request", None);
    let rt = runtime();
    let mut response = {
        let _current = picotrace_std::enter(&parent);
        let request = http::Request::get("http://stock.internal:8081/items?sig=s")
            .body(())
            .unwrap();
        rt.block_on(service.call(request)).unwrap()
    };
    // The head is in; the body is not read yet: the span has not ended.
    assert!(flushed(&provider, &kept).is_empty());
    assert_eq!(rt.block_on(send(response.body_mut())).len(), 2);
    let spans = flushed(&provider, &kept);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let call = &spans[0];
    assert_eq!(call.name, "GET");
    assert_eq!(call.kind, SpanKind::Client);
    assert_eq!(call.parent, Some(parent.context().span_id.to_string()));
    assert_eq!(
        call.attr("url.full"),
        Some("http://stock.internal:8081/items?sig=REDACTED")
    );
    assert_eq!(call.attr("server.address"), Some("stock.internal"));
    assert_eq!(call.attr("server.port"), Some("8081"));
    assert_eq!(call.attr("http.response.status_code"), Some("200"));
    assert_eq!(call.status, "Unset");
    // The server was told the call's own span as its parent.
    let traceparent = sent.lock().unwrap()[0].clone();
    assert_eq!(traceparent.split('-').nth(2), Some(call.span_id.as_str()));
}

#[test]
fn failures_and_endings() {
    let (provider, kept) = setup();
    let rt = runtime();
    // A 4xx fails a client span; a body dropped unread ends it as it is.
    let mut service = ClientLayer::new(&provider).layer(client(Arc::default(), 404));
    let response = rt
        .block_on(service.call(http::Request::get("http://a.example/x").body(()).unwrap()))
        .unwrap();
    drop(response);
    let spans = flushed(&provider, &kept);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].attr("error.type"), Some("404"));
    assert!(spans[0].status.starts_with("Error"), "{:?}", spans[0]);
    // A call given up on before its answer (a timeout around it).
    let pending = service.call(http::Request::get("http://a.example/y").body(()).unwrap());
    drop(pending);
    let spans = flushed(&provider, &kept);
    assert_eq!(spans[0].attr("error.type"), Some("cancelled"), "{spans:#?}");
    // A body that fails as it is read.
    let mut broken = ClientLayer::new(&provider).layer(BodyService(|_: &http::Request<()>| {
        http::Response::new(Streamed::new(1, Arc::new(|| {})).data(b"[").error())
    }));
    let mut response = rt
        .block_on(broken.call(http::Request::get("http://a.example/z").body(()).unwrap()))
        .unwrap();
    let frames = rt.block_on(send(response.body_mut()));
    assert!(frames[1].is_err());
    let spans = flushed(&provider, &kept);
    assert_eq!(spans[0].attr("error.type"), Some("_OTHER"), "{spans:#?}");
}

#[test]
fn grpc_calls_get_rpc_spans_with_their_status_from_the_trailers() {
    let (provider, kept) = setup();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sent);
    let server = BodyService(move |request: &http::Request<()>| {
        seen.lock()
            .unwrap()
            .push(request.headers().contains_key("traceparent").to_string());
        let code = request
            .headers()
            .get("x-code")
            .map_or("0", |v| if v == "5" { "5" } else { "14" });
        let body = Streamed::new(1, Arc::new(|| {}))
            .data(b"\0\0\0\0\x02\x08\x01")
            .trailers("grpc-status", code);
        http::Response::new(body)
    });
    // tonic's `Channel` passes on the path alone: the layer is told the server.
    let mut service = ClientLayer::new(&provider)
        .with_server("inventory.internal", 50051)
        .layer(server);
    let rt = runtime();
    for code in [None, Some("5")] {
        let mut request = http::Request::post("/shop.v1.Inventory/Reserve")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        if let Some(code) = code {
            request
                .headers_mut()
                .insert("x-code", code.parse().unwrap());
        }
        let mut response = rt.block_on(service.call(request)).unwrap();
        rt.block_on(send(response.body_mut()));
    }
    let spans = flushed(&provider, &kept);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for span in &spans {
        assert_eq!(span.name, "shop.v1.Inventory/Reserve");
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.attr("rpc.system"), Some("grpc"));
        assert_eq!(span.attr("rpc.service"), Some("shop.v1.Inventory"));
        assert_eq!(span.attr("rpc.method"), Some("Reserve"));
        assert_eq!(span.attr("server.address"), Some("inventory.internal"));
        assert_eq!(span.attr("server.port"), Some("50051"));
        assert_eq!(span.attr("http.request.method"), None);
    }
    assert_eq!(spans[0].attr("rpc.grpc.status_code"), Some("0"));
    assert_eq!(spans[0].status, "Unset");
    // NOT_FOUND: a client span fails on every code but OK.
    assert_eq!(spans[1].attr("rpc.grpc.status_code"), Some("5"));
    assert_eq!(spans[1].attr("error.type"), Some("5"));
    assert!(spans[1].status.starts_with("Error"), "{:?}", spans[1]);
    assert_eq!(*sent.lock().unwrap(), ["true", "true"]);
}
