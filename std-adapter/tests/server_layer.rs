//! `ServerLayer` (feature `tower`) around a `tower` service on a multi-thread tokio
//! runtime: the span's parent, name, attributes and status, the context and baggage
//! current in the handler wherever it is polled, and requests cut off before their
//! response.
#![cfg(feature = "tower")]

mod support;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http_body::Body as _;
use picotrace::SpanKind;
use picotrace_std::{ServerLayer, ServerSpan, TracerProvider};
use support::body::{send, BodyService, Streamed};
use support::kept::{Keep, Seen, SkipWhere};
use support::runtime;
use tower_layer::Layer as _;
use tower_service::Service;

/// The route template a router would have found (axum puts `MatchedPath` there).
#[derive(Clone)]
struct Route(&'static str);

/// What the handler saw current: its span id and the `tenant` baggage, at the call
/// and after an `.await` (possibly on another worker thread).
type Observed = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<http::Response<String>, Infallible>> + Send>>;

fn observe() -> (Option<String>, Option<String>) {
    let span = picotrace_std::current_context().map(|cx| cx.span_context.span_id.to_string());
    let tenant = picotrace_std::current_baggage()
        .and_then(|bag| bag.get("tenant").map(|m| m.decoded_value().to_string()));
    (span, tenant)
}

/// A handler: 500 for `/fail`, never ready for `/hang`, a panic for `/panic`, else 200.
fn handler(observed: Observed) -> FnService<impl FnMut(http::Request<()>) -> BoxFuture + Clone> {
    FnService(move |request: http::Request<()>| {
        let observed = Arc::clone(&observed);
        observed.lock().unwrap().push(observe());
        Box::pin(async move {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            observed.lock().unwrap().push(observe());
            if request.uri().path() == "/hang" {
                std::future::pending::<()>().await;
            }
            if request.uri().path() == "/panic" {
                panic!("handler bug");
            }
            let status = if request.uri().path() == "/fail" {
                500
            } else {
                200
            };
            Ok(http::Response::builder()
                .status(status)
                .body(String::new())
                .unwrap())
        }) as BoxFuture
    })
}

/// A service made of a closure (what a test handler does).
#[derive(Clone)]
struct FnService<F>(F);

impl<F: FnMut(http::Request<()>) -> BoxFuture> Service<http::Request<()>> for FnService<F> {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<()>) -> BoxFuture {
        (self.0)(request)
    }
}

fn setup() -> (TracerProvider, Keep) {
    support::kept::provider("layer")
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(()).unwrap();
    request.extensions_mut().insert(Route("/users/{id}"));
    request
}

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn each_request_gets_a_server_span_current_in_its_handler() {
    let (provider, kept) = setup();
    let observed = Observed::default();
    let layer = ServerLayer::new(&provider).with_route(|ext| ext.get::<Route>().map(|r| r.0));
    let mut service = layer.layer(handler(Arc::clone(&observed)));
    let response = runtime()
        .block_on(async {
            let request = request(
                "GET",
                "/users/7?debug=1",
                &[
                    ("traceparent", CALLER),
                    ("baggage", "tenant=acme%20corp"),
                    ("user-agent", "curl/8"),
                    ("host", "shop.example:8443"),
                ],
            );
            tokio::spawn(service.call(request)).await
        })
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(span.attr("http.request.method"), Some("GET"));
    assert_eq!(span.attr("http.route"), Some("/users/{id}"));
    assert_eq!(span.attr("url.path"), Some("/users/7"));
    assert_eq!(span.attr("url.query"), Some("debug=1"));
    assert_eq!(span.attr("url.scheme"), Some("http"));
    assert_eq!(span.attr("user_agent.original"), Some("curl/8"));
    assert_eq!(span.attr("server.address"), Some("shop.example"));
    assert_eq!(span.attr("server.port"), Some("8443"));
    assert_eq!(span.attr("network.protocol.version"), Some("1.1"));
    assert_eq!(span.attr("http.response.status_code"), Some("200"));
    assert_eq!(span.status, "Unset");
    // Current in the handler, when it made its future and after its awaits.
    let expected = (Some(span.span_id.clone()), Some("acme corp".to_owned()));
    assert_eq!(*observed.lock().unwrap(), [expected.clone(), expected]);
}

#[test]
fn a_5xx_a_cut_off_request_and_an_unknown_method() {
    let (provider, kept) = setup();
    let observed = Observed::default();
    // No route: spans are named by the method alone.
    let mut service = ServerLayer::new(&provider).layer(handler(observed));
    let rt = runtime();
    let failed = rt
        .block_on(service.call(request("POST", "/fail", &[])))
        .unwrap();
    assert_eq!(failed.status(), 500);
    rt.block_on(async {
        let hanging = service.call(request("GET", "/hang", &[]));
        // Given up on (a timeout around the service, a client gone): dropped.
        let cut = tokio::time::timeout(std::time::Duration::from_millis(50), hanging).await;
        assert!(cut.is_err());
    });
    rt.block_on(service.call(request("BREW", "/", &[])))
        .unwrap();
    // A handler that panics (the runtime catches it, as it does for a task).
    let panicking = service.call(request("PUT", "/panic", &[]));
    let panicked = rt.block_on(async { tokio::spawn(panicking).await });
    assert!(panicked.unwrap_err().is_panic());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in {spans:#?}"))
    };
    let post = named("POST");
    assert_eq!(post.attr("http.response.status_code"), Some("500"));
    assert_eq!(post.attr("error.type"), Some("500"));
    assert!(post.status.starts_with("Error"), "{post:?}");
    let get = named("GET");
    assert_eq!(get.attr("error.type"), Some("cancelled"));
    assert_eq!(get.attr("http.response.status_code"), None);
    assert!(get.status.starts_with("Error"), "{get:?}");
    let other = named("HTTP");
    assert_eq!(other.attr("http.request.method"), Some("_OTHER"));
    assert_eq!(other.attr("http.request.method_original"), Some("BREW"));
    assert_eq!(other.parent, None);
    // Not `cancelled`: the handler failed, not the client (found by review).
    let put = named("PUT");
    assert_eq!(put.attr("error.type"), Some("panicked"));
    assert_eq!(put.status, "Error { description: \"panicked\" }");
}

/// Serves `request` with `service` and returns the span it was given.
fn served<S>(
    service: &mut S,
    request: http::Request<()>,
    provider: &TracerProvider,
    kept: &Keep,
) -> Seen
where
    S: Service<
        http::Request<()>,
        Response = http::Response<picotrace_std::ServerBody<String>>,
        Error = Infallible,
    >,
{
    runtime().block_on(service.call(request)).unwrap();
    provider.flush().unwrap();
    kept.0.lock().unwrap().pop().expect("a span")
}

#[test]
fn a_proxy_names_the_original_scheme_host_and_client() {
    let (provider, kept) = setup();
    let layer = ServerLayer::new(&provider);
    // RFC 7239: the first element is what the proxy nearest the client saw.
    let forwarded = request(
        "GET",
        "/",
        &[
            (
                "forwarded",
                "for=\"[2001:db8:cafe::17]:4711\";proto=https;host=shop.example:443, for=10.0.0.2",
            ),
            ("x-forwarded-for", "198.51.100.1"),
            ("host", "10.0.0.3:8080"),
        ],
    );
    let mut service = layer.layer(handler(Observed::default()));
    let span = served(&mut service, forwarded, &provider, &kept);
    assert_eq!(span.attr("client.address"), Some("2001:db8:cafe::17"));
    assert_eq!(span.attr("url.scheme"), Some("https"));
    assert_eq!(span.attr("server.address"), Some("shop.example"));
    assert_eq!(span.attr("server.port"), Some("443"));
    // No `Forwarded`: the de-facto headers.
    let x_forwarded = request(
        "GET",
        "/",
        &[
            ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
            ("x-forwarded-proto", "HTTPS"),
            ("x-forwarded-host", "api.example"),
            ("host", "10.0.0.3:8080"),
        ],
    );
    let span = served(&mut service, x_forwarded, &provider, &kept);
    assert_eq!(span.attr("client.address"), Some("203.0.113.9"));
    assert_eq!(span.attr("url.scheme"), Some("https"));
    assert_eq!(span.attr("server.address"), Some("api.example"));
    assert_eq!(span.attr("server.port"), None);
}

#[test]
fn headers_a_client_forged_are_not_recorded_as_scheme_or_client() {
    let (provider, kept) = setup();
    let layer = ServerLayer::new(&provider).with_scheme("https");
    let forged = request(
        "GET",
        "/",
        &[
            ("x-forwarded-for", "<script>alert(1)</script>"),
            ("x-forwarded-proto", "javascript"),
            ("forwarded", "for=unknown;proto=gopher"),
        ],
    );
    let mut service = layer.layer(handler(Observed::default()));
    let span = served(&mut service, forged, &provider, &kept);
    // `Forwarded` is read first, and names no usable client or scheme: none is taken.
    assert_eq!(span.attr("client.address"), None);
    // The server's own scheme (it terminates TLS), as the layer was told.
    assert_eq!(span.attr("url.scheme"), Some("https"));
    // An HTTP/2 request carries its scheme and authority in the URI.
    let h2 = http::Request::builder()
        .uri("http://h2.example:8081/x")
        .version(http::Version::HTTP_2)
        .body(())
        .unwrap();
    let span = served(&mut service, h2, &provider, &kept);
    assert_eq!(span.attr("url.scheme"), Some("http"));
    assert_eq!(span.attr("server.address"), Some("h2.example"));
    assert_eq!(span.attr("server.port"), Some("8081"));
    assert_eq!(span.attr("network.protocol.version"), Some("2"));
}

#[test]
fn signed_url_secrets_are_redacted_from_the_query() {
    let (provider, kept) = setup();
    let signed =
        "/dl?file=a&sig=abc&Signature=x%2By&AWSAccessKeyId=K&X-Goog-Signature=z&sigx=1&sig";
    let mut service = ServerLayer::new(&provider).layer(handler(Observed::default()));
    let span = served(&mut service, request("GET", signed, &[]), &provider, &kept);
    assert_eq!(
        span.attr("url.query"),
        Some("file=a&sig=REDACTED&Signature=REDACTED&AWSAccessKeyId=REDACTED&X-Goog-Signature=REDACTED&sigx=1&sig")
    );
    // Left out on request, for queries with secrets the conventions do not name.
    let mut service = ServerLayer::new(&provider)
        .without_query()
        .layer(handler(Observed::default()));
    let span = served(
        &mut service,
        request("GET", "/login?token=t0p", &[]),
        &provider,
        &kept,
    );
    assert_eq!(span.attr("url.query"), None);
    assert_eq!(span.attr("url.path"), Some("/login"));
}

#[test]
fn the_connection_peer_is_recorded_when_the_layer_can_find_it() {
    let (provider, kept) = setup();
    let layer =
        ServerLayer::new(&provider).with_peer(|ext| ext.get::<std::net::SocketAddr>().copied());
    let mut direct = request("GET", "/", &[]);
    direct
        .extensions_mut()
        .insert(std::net::SocketAddr::from(([192, 0, 2, 7], 50_123)));
    let mut service = layer.layer(handler(Observed::default()));
    let span = served(&mut service, direct, &provider, &kept);
    assert_eq!(span.attr("network.peer.address"), Some("192.0.2.7"));
    assert_eq!(span.attr("network.peer.port"), Some("50123"));
    // No proxy header: the peer is the client.
    assert_eq!(span.attr("client.address"), Some("192.0.2.7"));
    // Behind a proxy, the peer is the proxy and the client the one it names.
    let mut proxied = request("GET", "/", &[("x-forwarded-for", "203.0.113.9")]);
    proxied
        .extensions_mut()
        .insert(std::net::SocketAddr::from(([10, 0, 0, 1], 40_000)));
    let span = served(&mut service, proxied, &provider, &kept);
    assert_eq!(span.attr("network.peer.address"), Some("10.0.0.1"));
    assert_eq!(span.attr("client.address"), Some("203.0.113.9"));
}

/// Regression (found by review): a panicking handler's server span was ended while
/// the panic unwound, before the handler's state (its child spans) was dropped: the
/// parent ended before its children.
#[test]
fn a_panicking_handler_s_children_end_before_its_server_span() {
    let (provider, kept) = setup();
    let tracer = provider.tracer();
    /// A handler's future that keeps a child span in itself (not in an `async` block's
    /// locals, which a panic drops as it unwinds) and panics when polled.
    struct HoldsAChild(Option<picotrace_std::StdSpan>);
    impl Future for HoldsAChild {
        type Output = Result<http::Response<String>, Infallible>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            if self.0.is_some() {
                panic!("handler bug");
            }
            Poll::Ready(Ok(http::Response::new(String::new())))
        }
    }
    let mut service = ServerLayer::new(&provider).layer(FnService(move |_| {
        let parent = picotrace_std::current_context();
        let child = tracer.start_span_with_parent("child", parent.as_ref());
        Box::pin(HoldsAChild(Some(child))) as BoxFuture
    }));
    let panicking = service.call(request("GET", "/", &[]));
    let joined = runtime().block_on(async { tokio::spawn(panicking).await });
    assert!(joined.unwrap_err().is_panic());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let server = spans.iter().find(|s| s.name == "GET").expect("server span");
    let child = spans
        .iter()
        .find(|s| s.name == "child")
        .expect("child span");
    assert_eq!(child.parent.as_deref(), Some(server.span_id.as_str()));
    assert_eq!(server.attr("error.type"), Some("panicked"));
    assert_eq!(server.status, "Error { description: \"panicked\" }");
    assert!(
        child.end <= server.end,
        "child ended after its parent: {spans:#?}"
    );
}

/// Regression (found by review): a gRPC call whose handler panicked ended as an Error
/// `panicked` with no `rpc.grpc.status_code`, which the conventions require of every
/// gRPC span; it is UNKNOWN (2), what a client makes of a call that failed without a
/// status, and stays `panicked` as the error type.
#[test]
fn a_grpc_handler_that_panics_has_a_status_code() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider)
        .with_grpc()
        .layer(FnService(move |_| {
            Box::pin(async {
                if true {
                    panic!("handler bug");
                }
                Ok(http::Response::new(String::new()))
            }) as BoxFuture
        }));
    let call = request(
        "POST",
        "/shop.v1.Inventory/Reserve",
        &[("content-type", "application/grpc")],
    );
    let panicking = service.call(call);
    let joined = runtime().block_on(async { tokio::spawn(panicking).await });
    assert!(joined.unwrap_err().is_panic());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let server = spans
        .iter()
        .find(|s| s.name == "shop.v1.Inventory/Reserve")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(server.attr("rpc.grpc.status_code"), Some("2"), "{server:?}");
    assert_eq!(server.attr("error.type"), Some("panicked"));
    assert_eq!(server.status, "Error { description: \"panicked\" }");
    // So too a body that panics making a frame.
    let mut service =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|_: &http::Request<()>| {
                let body = Streamed::new(1, Arc::new(|| {}))
                    .data(b"abcd")
                    .unknown_end()
                    .then_panic();
                grpc_response(body)
            }));
    let call = request(
        "POST",
        "/shop.v1.Inventory/Watch",
        &[("content-type", "application/grpc")],
    );
    let rt = runtime();
    let response = rt.block_on(service.call(call)).unwrap();
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut response = response;
        rt.block_on(send(response.body_mut()))
    }));
    assert!(sent.is_err());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let watch = spans
        .iter()
        .find(|s| s.name == "shop.v1.Inventory/Watch")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(watch.attr("rpc.grpc.status_code"), Some("2"), "{watch:?}");
    assert_eq!(watch.attr("error.type"), Some("panicked"));
}

/// Regression (found by review): a body of an announced length that does not say it
/// has ended is polled once more after its last byte (h2 polls to the stream's end):
/// the span has ended there, and that poll ran with the request's baggage but not its
/// context, so what it started began a new trace that carried the request's baggage.
#[test]
fn a_body_polled_after_its_length_keeps_the_request_context() {
    let (provider, _kept) = setup();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let on_end = {
        let seen = Arc::clone(&seen);
        Arc::new(move || {
            seen.lock().unwrap().push((
                picotrace_std::current_span_context().map(|c| c.trace_id),
                picotrace_std::current_baggage().map(|b| b.as_str().to_owned()),
            ));
        })
    };
    let mut service =
        ServerLayer::new(&provider).layer(BodyService(move |_: &http::Request<()>| {
            let body = Streamed::new(1, Arc::new(|| {}))
                .data(b"abcd")
                .unknown_end()
                .on_end(on_end.clone());
            let mut response = http::Response::new(body);
            response.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("4"),
            );
            response
        }));
    let rt = runtime();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let call = request(
        "GET",
        "/file",
        &[("traceparent", traceparent), ("baggage", "k=v")],
    );
    let mut response = rt.block_on(service.call(call)).unwrap();
    rt.block_on(send(response.body_mut()));
    let seen = seen.lock().unwrap().clone();
    let trace = picotrace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").ok();
    assert_eq!(seen, [(trace, Some("k=v".to_owned()))]);
}

/// Regression (found by review): a request without baggage made one shared empty bag
/// current (cloned and dropped at every poll, an atomic counter every worker wrote);
/// none is current now, as for code outside any request.
#[test]
fn a_request_without_baggage_makes_none_current() {
    let (provider, _kept) = setup();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in = Arc::clone(&seen);
    let mut service = ServerLayer::new(&provider).layer(FnService(move |_| {
        let seen = Arc::clone(&seen_in);
        seen.lock()
            .unwrap()
            .push(picotrace_std::current_baggage().is_some());
        Box::pin(async move {
            tokio::task::yield_now().await;
            seen.lock()
                .unwrap()
                .push(picotrace_std::current_baggage().is_some());
            Ok(http::Response::new(String::new()))
        }) as BoxFuture
    }));
    let rt = runtime();
    rt.block_on(service.call(request("GET", "/", &[]))).unwrap();
    rt.block_on(service.call(request("GET", "/", &[("baggage", "k=v")])))
        .unwrap();
    // Baggage current around the layer does not leak into a request that brought
    // none (found by review, when none was made current instead).
    {
        let mut outer = picotrace::Baggage::new();
        outer.insert("leaked", "yes").unwrap();
        let _outer = picotrace_std::enter_baggage(outer);
        rt.block_on(service.call(request("GET", "/", &[]))).unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [false, false, true, true, false, false]
    );
}

/// Regression (found by review): a `baggage` header whose members were all invalid
/// made no baggage current, so the handler could not see the count, and a proxy that
/// forwarded the caller's headers sent that header on unchanged (one valid member
/// beside it, and the injection replaced it with the valid ones).
#[test]
fn a_baggage_header_without_a_valid_member_is_counted_and_not_forwarded() {
    let (provider, _kept) = setup();
    let provider = Arc::new(provider);
    let p = Arc::clone(&provider);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in = Arc::clone(&seen);
    let mut service = ServerLayer::new(&provider).layer(FnService(move |req: http::Request<()>| {
        // A proxy: the caller's headers, forwarded with the call's context.
        let mut forwarded = req.headers().clone();
        let call = p
            .tracer()
            .start_client_span("GET /up", picotrace_std::current_context().as_ref());
        p.inject(&call, &mut picotrace_std::HeaderMapInjector(&mut forwarded));
        seen_in.lock().unwrap().push((
            picotrace_std::current_baggage().map(|b| (b.len(), b.dropped())),
            forwarded
                .get("baggage")
                .map(|v| v.to_str().unwrap().to_owned()),
        ));
        Box::pin(async { Ok(http::Response::new(String::new())) }) as BoxFuture
    }));
    let rt = runtime();
    for baggage in ["a b=1", "a b=1,c=2"] {
        rt.block_on(service.call(request("GET", "/", &[("baggage", baggage)])))
            .unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [(Some((0, 1)), None), (Some((1, 1)), Some("c=2".to_owned()))]
    );
}

/// `body` as the answer to a gRPC call: HTTP 200 with gRPC's content type.
fn grpc_response<B>(body: B) -> http::Response<B> {
    let mut response = http::Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// A tonic-shaped service: answers with the `grpc-status` the request's `x-code` asks
/// for in the response's head (what tonic sends for an `Err(Status)`), none when it
/// has no `x-code` (a success: its status travels in the trailers).
fn grpc_service() -> FnService<impl FnMut(http::Request<()>) -> BoxFuture + Clone> {
    FnService(|request: http::Request<()>| {
        let mut response = grpc_response(String::new());
        if let Some(code) = request.headers().get("x-code") {
            response.headers_mut().insert("grpc-status", code.clone());
        }
        if let Some(message) = request.headers().get("x-message") {
            response
                .headers_mut()
                .insert("grpc-message", message.clone());
        }
        if let Some(own) = request.headers().get("x-own-error") {
            let span = request.extensions().get::<ServerSpan>().unwrap();
            span.set_error(own.to_str().unwrap());
        }
        Box::pin(async move { Ok(response) }) as BoxFuture
    })
}

/// Regression (a tonic user's tryout): `Status::internal("kaboom")` gave the span
/// only `error.type` 13; the `grpc-message` (percent-decoded, or as sent when it does
/// not decode) is now the status description of a server error, in the head and in the
/// trailers; a code that is the client's (INVALID_ARGUMENT) leaves the span Unset.
#[test]
fn a_grpc_error_s_message_is_the_status_description() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider)
        .with_grpc()
        .layer(grpc_service());
    let rt = runtime();
    for (code, message, own) in [
        ("13", "kaboom%20%E2%9C%93", None),
        ("14", "bad%zz escape", None),
        ("3", "not a number", None),
        // The handler's own description stays (found by review: the message
        // replaced it).
        ("13", "internal error", Some("db: connection refused")),
    ] {
        let mut headers = vec![
            ("content-type", "application/grpc"),
            ("x-code", code),
            ("x-message", message),
        ];
        if let Some(own) = own {
            headers.push(("x-own-error", own));
        }
        rt.block_on(service.call(request("POST", "/shop.v1.Cart/Add", &headers)))
            .unwrap();
    }
    let mut trailed =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|_: &http::Request<()>| {
                let body = Streamed::new(1, Arc::new(|| {}))
                    .data(b"\0\0\0\0\x02\x08\x01")
                    .trailer_fields(&[("grpc-status", "2"), ("grpc-message", "lost%20it")]);
                grpc_response(body)
            }));
    let call = request(
        "POST",
        "/shop.v1.Cart/Watch",
        &[("content-type", "application/grpc")],
    );
    let mut response = rt.block_on(trailed.call(call)).unwrap();
    rt.block_on(send(response.body_mut()));
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let statuses: Vec<_> = spans.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(
        statuses,
        [
            r#"Error { description: "kaboom ✓" }"#,
            r#"Error { description: "bad%zz escape" }"#,
            "Unset",
            r#"Error { description: "db: connection refused" }"#,
            r#"Error { description: "lost it" }"#,
        ],
        "{spans:#?}"
    );
}

/// Regression (found by review): under `with_grpc`, a request that said it was gRPC
/// but was answered by a route that is not (a REST handler or a fallback beside tonic's
/// routes, a scanner's `POST /users/8472`) was named from its path (`users/8472`, a new
/// name for every id) with `rpc.method` of the client's choosing. An answer that is not
/// gRPC's (no `application/grpc` content type) names it `_OTHER`, as an unimplemented
/// method is, the path in `rpc.method_original`.
#[test]
fn a_grpc_request_answered_by_a_route_that_is_not_grpc_is_named_other() {
    let (provider, kept) = setup();
    let rest = FnService(|_: http::Request<()>| {
        Box::pin(async move { Ok(http::Response::new(String::from("{}"))) }) as BoxFuture
    });
    let mut service = ServerLayer::new(&provider).with_grpc().layer(rest);
    let rt = runtime();
    for id in ["8472", "8473"] {
        let path = format!("/users/{id}");
        let headers = [("content-type", "application/grpc")];
        rt.block_on(service.call(request("POST", &path, &headers)))
            .unwrap();
    }
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for span in &spans {
        assert_eq!(span.name, "_OTHER", "{span:?}");
        assert_eq!(span.attr("rpc.method"), Some("_OTHER"));
        assert_eq!(span.attr("rpc.service"), Some("_OTHER"));
    }
    assert_eq!(spans[0].attr("rpc.method_original"), Some("users/8472"));
}

/// gRPC calls (tonic) get the RPC conventions' span: named by service and method, not
/// `POST`, and their `grpc-status` read (it comes with HTTP 200).
#[test]
fn grpc_calls_get_rpc_spans_with_their_status() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider)
        .with_grpc()
        .layer(grpc_service());
    let grpc = |code: Option<&str>| {
        let mut headers = vec![
            ("content-type", "application/grpc+proto"),
            ("host", "inventory.internal:50051"),
        ];
        if let Some(code) = code {
            headers.push(("x-code", code));
        }
        request("POST", "/shop.v1.Inventory/Reserve", &headers)
    };
    let rt = runtime();
    for code in [None, Some("5"), Some("13")] {
        rt.block_on(service.call(grpc(code))).unwrap();
    }
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    for span in &spans {
        assert_eq!(span.name, "shop.v1.Inventory/Reserve");
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.attr("rpc.system"), Some("grpc"));
        assert_eq!(span.attr("rpc.service"), Some("shop.v1.Inventory"));
        assert_eq!(span.attr("rpc.method"), Some("Reserve"));
        assert_eq!(span.attr("server.address"), Some("inventory.internal"));
        assert_eq!(span.attr("server.port"), Some("50051"));
        assert_eq!(span.attr("http.request.method"), None);
        assert_eq!(span.attr("url.path"), None);
    }
    // No status in the head, and an empty body (so no trailers): the server broke the
    // protocol, UNKNOWN to its clients (regression, found by review: Unset, no code;
    // for a success's status in the trailers see
    // `a_grpc_status_in_the_trailers_is_recorded`).
    assert_eq!(spans[0].attr("rpc.grpc.status_code"), Some("2"));
    assert_eq!(spans[0].attr("error.type"), Some("2"));
    assert!(spans[0].status.starts_with("Error"), "{:?}", spans[0]);
    // NOT_FOUND is the client's error: recorded, the span not an Error.
    assert_eq!(spans[1].attr("rpc.grpc.status_code"), Some("5"));
    assert_eq!(spans[1].status, "Unset");
    assert_eq!(spans[1].attr("error.type"), None);
    // INTERNAL is the server's.
    assert_eq!(spans[2].attr("rpc.grpc.status_code"), Some("13"));
    assert_eq!(spans[2].attr("error.type"), Some("13"));
    assert!(spans[2].status.starts_with("Error"), "{:?}", spans[2]);
}

/// Regression (found by review): any client could name a REST server's spans by any
/// path by sending `content-type: application/grpc`; gRPC is for layers told so.
#[test]
fn a_grpc_content_type_is_not_trusted_unless_asked() {
    let (provider, kept) = setup();
    let layer = ServerLayer::new(&provider).with_route(|ext| ext.get::<Route>().map(|r| r.0));
    let mut service = layer.layer(handler(Observed::default()));
    let spoofed = request(
        "POST",
        "/8f3a2c/x1",
        &[("content-type", "application/grpc")],
    );
    let span = served(&mut service, spoofed, &provider, &kept);
    assert_eq!(span.name, "POST /users/{id}");
    assert_eq!(span.attr("rpc.system"), None);
    assert_eq!(span.attr("http.route"), Some("/users/{id}"));
}

/// Regression (found by review): a list in `X-Forwarded-Proto` or `X-Forwarded-Host`
/// (each proxy adds its own) matched nothing, and a quoted `,` or `;` in `Forwarded`
/// ended its element early.
#[test]
fn proxy_header_lists_and_quoted_separators() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider).layer(handler(Observed::default()));
    let listed = request(
        "GET",
        "/",
        &[
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "shop.example, 10.0.0.2"),
        ],
    );
    let span = served(&mut service, listed, &provider, &kept);
    assert_eq!(span.attr("url.scheme"), Some("https"));
    assert_eq!(span.attr("server.address"), Some("shop.example"));
    let quoted = request(
        "GET",
        "/",
        &[(
            "forwarded",
            "for=\"_gateway,1;x\";proto=https;host=\"a.example\", for=10.0.0.9",
        )],
    );
    let span = served(&mut service, quoted, &provider, &kept);
    assert_eq!(span.attr("url.scheme"), Some("https"));
    assert_eq!(span.attr("server.address"), Some("a.example"));
    // An obfuscated client is no address.
    assert_eq!(span.attr("client.address"), None);
}

/// Regression: the server span ended when the response's head was ready, before a
/// streamed body was sent (it covered none of it, and spans the stream started had
/// no parent). It ends after the body's last frame now, with the span current while
/// each frame is made.
#[test]
fn a_streamed_body_is_covered_by_the_server_span() {
    let (provider, kept) = setup();
    let tracer = provider.tracer();
    // Each frame starts and ends a span: on the span clock, as the server span's end.
    let on_frame: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        let parent = picotrace_std::current_context();
        tracer
            .start_span_with_parent("frame", parent.as_ref())
            .end();
    });
    let mut service =
        ServerLayer::new(&provider).layer(BodyService(move |_: &http::Request<()>| {
            let body = Streamed::new(20, Arc::clone(&on_frame))
                .data(b"event: 1\n\n")
                .data(b"event: 2\n\n")
                .data(b"event: 3\n\n");
            http::Response::new(body)
        }));
    let rt = runtime();
    let mut response = rt
        .block_on(service.call(request("GET", "/events", &[])))
        .unwrap();
    // The head is ready; the body is not sent yet: the span has not ended.
    provider.flush().unwrap();
    assert!(
        kept.0.lock().unwrap().is_empty(),
        "{:#?}",
        kept.0.lock().unwrap()
    );
    let frames = rt.block_on(send(response.body_mut()));
    assert_eq!(frames.len(), 3);
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let server = spans.iter().find(|s| s.name == "GET").expect("server span");
    assert_eq!(server.attr("http.response.status_code"), Some("200"));
    assert_eq!(server.status, "Unset");
    // Made while the body was sent, each frame's span ended before the server span
    // (found by review: a comparison with `SystemTime` could fail by the clocks'
    // microseconds of difference).
    let frames: Vec<_> = spans.iter().filter(|s| s.name == "frame").collect();
    assert_eq!(frames.len(), 3);
    for frame in frames {
        assert_eq!(frame.parent.as_deref(), Some(server.span_id.as_str()));
        assert_eq!(frame.trace_id, server.trace_id);
        assert!(
            frame.end <= server.end,
            "the server span ended before the body's last frame: {spans:#?}"
        );
    }
    // Nothing of the request stays current after a frame.
    assert_eq!(picotrace_std::current_context(), None);
}

/// The span ids current each time a body's `on_drop` runs, and that `on_drop`.
#[allow(clippy::type_complexity)]
fn current_at_drop() -> (Arc<Mutex<Vec<Option<String>>>>, Arc<dyn Fn() + Send + Sync>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let on_drop: Arc<dyn Fn() + Send + Sync> = {
        let seen = Arc::clone(&seen);
        Arc::new(move || {
            let current = picotrace_std::current_context();
            seen.lock()
                .unwrap()
                .push(current.map(|cx| cx.span_context.span_id.to_string()));
        })
    };
    (seen, on_drop)
}

/// Regression (found by review): what a response body held was dropped with nothing
/// current, whether the body was cut off or ran to its end (a stream that logs or ends
/// a span on drop found no parent); the frames were made with the request current.
#[test]
fn a_body_is_dropped_with_its_request_current() {
    let (provider, kept) = setup();
    let (seen, on_drop) = current_at_drop();
    let mut service =
        ServerLayer::new(&provider).layer(BodyService(move |_: &http::Request<()>| {
            let body = Streamed::new(1, Arc::new(|| {}))
                .data(b"event: 1\n\n")
                .data(b"event: 2\n\n")
                .on_drop(Arc::clone(&on_drop));
            http::Response::new(body)
        }));
    let rt = runtime();
    // Read to its end, then cut off after its head.
    let mut whole = rt
        .block_on(service.call(request("GET", "/whole", &[])))
        .unwrap();
    assert_eq!(rt.block_on(send(whole.body_mut())).len(), 2);
    let cut = rt
        .block_on(service.call(request("GET", "/cut", &[])))
        .unwrap();
    drop(cut);
    drop(whole);
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let ids: Vec<_> = spans.iter().map(|s| Some(s.span_id.clone())).collect();
    assert_eq!(ids.len(), 2, "{spans:#?}");
    assert_eq!(*seen.lock().unwrap(), ids, "{spans:#?}");
}

/// Regression (found by review): a body whose span ended with the response (its
/// announced length sent, or a `HEAD` response with no body to send) was dropped later
/// by the server with nothing current.
#[test]
fn a_body_is_dropped_with_its_request_current_after_its_span_ended() {
    let (provider, kept) = setup();
    let (seen, on_drop) = current_at_drop();
    let mut service =
        ServerLayer::new(&provider).layer(BodyService(move |_: &http::Request<()>| {
            let body = Streamed::new(1, Arc::new(|| {}))
                .data(b"abcd")
                .data(b"efgh")
                .unknown_end()
                .on_drop(Arc::clone(&on_drop));
            http::Response::builder()
                .header("content-length", "8")
                .body(body)
                .unwrap()
        }));
    let rt = runtime();
    // Dropped after its 8 bytes, and polled on to its end (as HTTP/2 servers do).
    for read_to_end in [false, true] {
        let mut sent = rt
            .block_on(service.call(request("GET", "/file", &[])))
            .unwrap();
        let body = sent.body_mut();
        for _ in 0..2 {
            let frame = rt.block_on(std::future::poll_fn(|cx| {
                std::pin::Pin::new(&mut *body).poll_frame(cx)
            }));
            assert!(frame.unwrap().unwrap().is_data());
        }
        if read_to_end {
            let end = rt.block_on(std::future::poll_fn(|cx| {
                std::pin::Pin::new(&mut *body).poll_frame(cx)
            }));
            assert!(end.is_none());
        }
        drop(sent);
    }
    let head = rt
        .block_on(service.call(request("HEAD", "/file", &[])))
        .unwrap();
    drop(head);
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let ids: Vec<_> = spans.iter().map(|s| Some(s.span_id.clone())).collect();
    assert_eq!(ids.len(), 3, "{spans:#?}");
    assert_eq!(*seen.lock().unwrap(), ids, "{spans:#?}");
}

/// Regression: a gRPC call that succeeded, or failed after its first message, sends
/// its status in the trailers, which the span had ended before: no status was
/// recorded, and a stream that failed looked like a success.
#[test]
fn a_grpc_status_in_the_trailers_is_recorded() {
    let (provider, kept) = setup();
    let mut service =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|request: &http::Request<()>| {
                let code = request.headers().get("x-code").unwrap().to_str().unwrap();
                let code = if code == "0" { "0" } else { "14" };
                let body = Streamed::new(1, Arc::new(|| {}))
                    .data(b"\0\0\0\0\x02\x08\x01")
                    .trailers("grpc-status", code);
                grpc_response(body)
            }));
    let rt = runtime();
    for code in ["0", "14"] {
        let call = request(
            "POST",
            "/shop.v1.Inventory/Watch",
            &[("content-type", "application/grpc"), ("x-code", code)],
        );
        let mut response = rt.block_on(service.call(call)).unwrap();
        let frames = rt.block_on(send(response.body_mut()));
        assert_eq!(frames.len(), 2);
        assert!(frames[1].as_ref().unwrap().is_trailers());
    }
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(spans[0].name, "shop.v1.Inventory/Watch");
    assert_eq!(spans[0].attr("rpc.grpc.status_code"), Some("0"));
    assert_eq!(spans[0].attr("error.type"), None);
    assert_eq!(spans[0].status, "Unset");
    // UNAVAILABLE, after the call's first message: the server's error.
    assert_eq!(spans[1].attr("rpc.grpc.status_code"), Some("14"));
    assert_eq!(spans[1].attr("error.type"), Some("14"));
    assert!(spans[1].status.starts_with("Error"), "{:?}", spans[1]);
}

/// A body that fails ends the span an Error, its error's text the description; one the
/// server drops before its end (the
/// client went away mid-body) ends it there, an Error `cancelled` (found by review: it
/// ended Unset, where a client gone before the head made it an Error); a response that
/// sends no body (to `HEAD`, a 204) ends it with the head, whatever its body holds.
#[test]
fn a_body_that_fails_or_is_dropped_ends_the_span() {
    let (provider, kept) = setup();
    let mut service =
        ServerLayer::new(&provider).layer(BodyService(|request: &http::Request<()>| {
            let body = Streamed::new(1, Arc::new(|| {})).data(b"part");
            if request.uri().path() == "/quota" {
                let span = request.extensions().get::<ServerSpan>().unwrap();
                span.set_error("quota exceeded");
            }
            let body = if request.uri().path() != "/dropped" {
                body.error()
            } else {
                body.data(b"never sent")
            };
            http::Response::new(body)
        }));
    let rt = runtime();
    let mut failing = rt
        .block_on(service.call(request("GET", "/fails", &[])))
        .unwrap();
    let frames = rt.block_on(send(failing.body_mut()));
    assert!(frames[1].is_err());
    let mut dropped = rt
        .block_on(service.call(request("GET", "/dropped", &[])))
        .unwrap();
    // One frame sent, then the connection is gone.
    let first = rt.block_on(std::future::poll_fn(|cx| {
        Pin::new(dropped.body_mut()).poll_frame(cx)
    }));
    assert!(first.is_some());
    provider.flush().unwrap();
    assert_eq!(
        kept.0.lock().unwrap().len(),
        1,
        "only the failed body's span ended"
    );
    drop(dropped);
    provider.flush().unwrap();
    // A HEAD response's body is never sent: the server drops it unpolled.
    let head = rt
        .block_on(service.call(request("HEAD", "/dropped", &[])))
        .unwrap();
    provider.flush().unwrap();
    assert_eq!(kept.0.lock().unwrap().len(), 3, "HEAD ends with its head");
    drop(head);
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    assert_eq!(spans[0].attr("error.type"), Some("_OTHER"));
    assert!(spans[0].status.starts_with("Error"), "{:?}", spans[0]);
    // What failed (found by a new user's tryout: an empty description).
    assert!(spans[0].status.contains("stream broke"), "{:?}", spans[0]);
    assert_eq!(spans[1].attr("http.response.status_code"), Some("200"));
    assert_eq!(spans[1].attr("error.type"), Some("cancelled"));
    assert!(spans[1].status.starts_with("Error"), "{:?}", spans[1]);
    assert_eq!(spans[2].name, "HEAD");
    assert_eq!(spans[2].attr("error.type"), None);
    assert_eq!(spans[2].status, "Unset");
    // The description the handler gave stays (found by review: the body's error text
    // went over it).
    let mut quota = rt
        .block_on(service.call(request("GET", "/quota", &[])))
        .unwrap();
    rt.block_on(send(quota.body_mut()));
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert!(spans[3].status.contains("quota exceeded"), "{:?}", spans[3]);
    assert_eq!(spans[3].attr("error.type"), Some("_OTHER"));
}

/// A service whose every call fails (no response at all).
#[derive(Clone)]
struct Failing;

impl Service<http::Request<()>> for Failing {
    type Response = http::Response<String>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<http::Response<String>, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        std::future::ready(Err(std::io::Error::other("no backend")))
    }
}

/// A service error (no response) is an Error `_OTHER`.
#[test]
fn a_service_error_is_an_error_span() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider).layer(Failing);
    let failed = runtime().block_on(service.call(request("GET", "/", &[])));
    assert!(failed.is_err());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].attr("error.type"), Some("_OTHER"));
    assert_eq!(spans[0].attr("http.response.status_code"), None);
    assert!(spans[0].status.starts_with("Error"), "{:?}", spans[0]);
}

/// Regression (found by review): a gRPC call whose service failed with no response
/// (a timeout or load-shedding layer inside the server layer) had no
/// `rpc.grpc.status_code`, which the gRPC conventions require: it is UNKNOWN, what
/// tonic answers for such an error and its client then sees.
#[test]
fn a_grpc_call_whose_service_fails_is_unknown() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider).with_grpc().layer(Failing);
    let headers = [("content-type", "application/grpc")];
    let call = request("POST", "/shop.v1.Inventory/Reserve", &headers);
    assert!(runtime().block_on(service.call(call)).is_err());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].name, "shop.v1.Inventory/Reserve");
    assert_eq!(spans[0].attr("rpc.grpc.status_code"), Some("2"));
    assert_eq!(spans[0].attr("error.type"), Some("2"));
    assert!(spans[0].status.starts_with("Error"), "{:?}", spans[0]);
}

/// Regression (found by review): a gRPC response whose body failed before its status
/// (an upstream reset under a gRPC proxy) had no `rpc.grpc.status_code`: UNKNOWN, as
/// its clients take it.
#[test]
fn a_grpc_call_whose_body_fails_is_unknown() {
    let (provider, kept) = setup();
    let mut service =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|_: &http::Request<()>| {
                let body = Streamed::new(1, Arc::new(|| {})).data(b"x").error();
                http::Response::builder()
                    .header("content-type", "application/grpc")
                    .body(body)
                    .unwrap()
            }));
    let rt = runtime();
    let headers = [("content-type", "application/grpc")];
    let call = request("POST", "/shop.v1.Inventory/Reserve", &headers);
    let mut response = rt.block_on(service.call(call)).unwrap();
    let frames = rt.block_on(send(response.body_mut()));
    assert!(frames.last().unwrap().is_err());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].attr("rpc.grpc.status_code"), Some("2"));
    assert_eq!(spans[0].attr("error.type"), Some("2"));
    assert!(spans[0].status.starts_with("Error"), "{:?}", spans[0]);
}

/// Regression (found by review): a gRPC body dropped before it was polled was recorded
/// CANCELLED whatever the head had said: a status 13 read from the head became
/// `rpc.grpc.status_code` 1 on a span left an Error with `error.type` 13.
#[test]
fn a_grpc_status_from_the_head_stays_when_the_body_is_dropped() {
    let (provider, kept) = setup();
    let mut service =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|_: &http::Request<()>| {
                let body = Streamed::new(1, Arc::new(|| {})).data(b"x").unknown_end();
                http::Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "13")
                    .body(body)
                    .unwrap()
            }));
    let rt = runtime();
    let headers = [("content-type", "application/grpc")];
    let call = request("POST", "/shop.v1.Inventory/Reserve", &headers);
    drop(rt.block_on(service.call(call)).unwrap());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].attr("rpc.grpc.status_code"), Some("13"));
    assert_eq!(spans[0].attr("error.type"), Some("13"));
}

/// A service that panics as it makes its future (before any `poll`).
#[derive(Clone)]
struct PanicsInCall;

impl Service<http::Request<()>> for PanicsInCall {
    type Response = http::Response<String>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<http::Response<String>, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<()>) -> Self::Future {
        let id: u32 = request.uri().path()[1..].parse().expect("a numeric id");
        std::future::ready(Ok(http::Response::new(id.to_string())))
    }
}

/// Regression (found by review): a service that panicked in `call`, making its future
/// (a `map_request` inside the layer, a parse before `async`), ended the span an Error
/// without `error.type`, where a panic in its future records `panicked`.
#[test]
fn a_service_that_panics_making_its_future_is_panicked() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider).layer(PanicsInCall);
    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        service.call(request("GET", "/abc", &[]))
    }));
    assert!(called.is_err());
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].attr("error.type"), Some("panicked"));
    assert_eq!(spans[0].status, "Error { description: \"panicked\" }");
}

/// Regressions (found by review): an IPv6 `server.address` kept its URI brackets; a
/// `Forwarded` client with an obfuscated port (`192.0.2.43:_hidden`, RFC 7239 6.3) was
/// no address, so the connection's peer (the proxy) was recorded as the client, as it
/// was for `for=unknown`; forged `X-Forwarded-*` values (no `Forwarded` before them)
/// were not covered by any test; a URI scheme other than http or https was recorded.
#[test]
fn ipv6_hosts_hidden_ports_and_forged_proxy_headers() {
    let (provider, kept) = setup();
    let layer = ServerLayer::new(&provider)
        .with_scheme("https")
        .with_peer(|ext| ext.get::<std::net::SocketAddr>().copied());
    let mut service = layer.layer(handler(Observed::default()));
    let proxy = std::net::SocketAddr::from(([10, 0, 0, 1], 40_000));
    let via_proxy = |headers: &[(&str, &str)]| {
        let mut request = request("GET", "/", headers);
        request.extensions_mut().insert(proxy);
        request
    };
    let span = served(
        &mut service,
        via_proxy(&[("host", "[::1]:8080")]),
        &provider,
        &kept,
    );
    assert_eq!(span.attr("server.address"), Some("::1"));
    assert_eq!(span.attr("server.port"), Some("8080"));
    let span = served(
        &mut service,
        via_proxy(&[("forwarded", "host=\"[2001:db8::1]:443\"")]),
        &provider,
        &kept,
    );
    assert_eq!(span.attr("server.address"), Some("2001:db8::1"));
    assert_eq!(span.attr("server.port"), Some("443"));
    for (forwarded, client) in [
        ("for=\"192.0.2.43:_hidden\"", Some("192.0.2.43")),
        ("for=\"[2001:db8::7]:_x\"", Some("2001:db8::7")),
        ("for=192.0.2.60:4711", Some("192.0.2.60")),
        // Named, but not an address: the client is unknown, and not the proxy.
        ("for=unknown", None),
        ("for=_gateway", None),
    ] {
        let span = served(
            &mut service,
            via_proxy(&[("forwarded", forwarded)]),
            &provider,
            &kept,
        );
        assert_eq!(span.attr("client.address"), client, "{forwarded}");
        assert_eq!(span.attr("network.peer.address"), Some("10.0.0.1"));
    }
    // Regression (found by review): a proxy header that is not visible ASCII (obs-text,
    // which hyper accepts) read as no header, and the proxy became the client.
    for name in ["x-forwarded-for", "forwarded"] {
        let mut request = via_proxy(&[]);
        let value = if name == "forwarded" {
            &b"for=\xff"[..]
        } else {
            &b"\xff, 203.0.113.9"[..]
        };
        request
            .headers_mut()
            .insert(name, http::HeaderValue::from_bytes(value).unwrap());
        let span = served(&mut service, request, &provider, &kept);
        assert_eq!(span.attr("client.address"), None, "{name}");
        assert_eq!(span.attr("network.peer.address"), Some("10.0.0.1"));
    }
    // Forged de-facto headers, read since no `Forwarded` comes first: neither taken.
    let forged = via_proxy(&[
        ("x-forwarded-for", "<script>alert(1)</script>"),
        ("x-forwarded-proto", "javascript"),
    ]);
    let span = served(&mut service, forged, &provider, &kept);
    assert_eq!(span.attr("client.address"), None);
    assert_eq!(span.attr("url.scheme"), Some("https"));
    // An HTTP/2 `:scheme` is the client's text as well.
    let h2 = http::Request::builder()
        .uri("gopher://h2.example/x")
        .version(http::Version::HTTP_2)
        .body(())
        .unwrap();
    let span = served(&mut service, h2, &provider, &kept);
    assert_eq!(span.attr("url.scheme"), Some("https"));
    // Without any proxy header, the peer is the client.
    let span = served(&mut service, via_proxy(&[]), &provider, &kept);
    assert_eq!(span.attr("client.address"), Some("10.0.0.1"));
}

/// Regressions (found by review): with `with_grpc`, a client could make a new span name
/// (and `rpc.service`/`rpc.method` values) per call with made-up paths, which tonic's
/// router answers UNIMPLEMENTED; and `application/grpcx` or `application/grpc-web`
/// were taken for gRPC while `APPLICATION/GRPC` was not.
#[test]
fn unknown_grpc_methods_and_content_types() {
    let (provider, kept) = setup();
    let mut service = ServerLayer::new(&provider)
        .with_grpc()
        .layer(grpc_service());
    let call = |content_type: &str, path: &str, code: Option<&str>| {
        let mut headers = vec![("content-type", content_type)];
        headers.extend(code.map(|c| ("x-code", c)));
        request("POST", path, &headers)
    };
    let rt = runtime();
    let mut span_of = |request| {
        drop(rt.block_on(service.call(request)).unwrap());
        provider.flush().unwrap();
        kept.0.lock().unwrap().pop().expect("a span")
    };
    let unknown = span_of(call("application/grpc", "/x7f3.Scan/a91b", Some("12")));
    assert_eq!(unknown.name, "_OTHER");
    assert_eq!(unknown.attr("rpc.service"), Some("_OTHER"));
    assert_eq!(unknown.attr("rpc.method"), Some("_OTHER"));
    assert_eq!(unknown.attr("rpc.method_original"), Some("x7f3.Scan/a91b"));
    assert_eq!(unknown.attr("rpc.grpc.status_code"), Some("12"));
    for (content_type, grpc) in [
        ("APPLICATION/GRPC", true),
        ("application/grpc;charset=utf-8", true),
        ("application/grpc+json", true),
        ("application/grpcx", false),
        ("application/grpc-web", false),
    ] {
        let span = span_of(call(content_type, "/shop.v1.Inventory/Reserve", None));
        let name = if grpc {
            "shop.v1.Inventory/Reserve"
        } else {
            "POST"
        };
        assert_eq!(span.name, name, "{content_type}");
    }
}

/// Regression (found by review): a gRPC answer whose head announces its length (a
/// body made by hand, not tonic's) ended its span at that length, before the trailers
/// an HTTP/2 server goes on to send: an INTERNAL after the message was recorded as no
/// status at all, and an empty stream that ended OK as UNKNOWN, a server error.
#[test]
fn a_grpc_answer_of_announced_length_is_recorded_from_its_trailers() {
    let (provider, kept) = setup();
    let mut service =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|request: &http::Request<()>| {
                let (body, length) = match request.uri().path() {
                    "/shop.v1.Inventory/Reserve" => (
                        Streamed::new(1, Arc::new(|| {}))
                            .data(b"abcd")
                            .trailers("grpc-status", "13"),
                        "4",
                    ),
                    _ => (
                        Streamed::new(1, Arc::new(|| {})).trailers("grpc-status", "0"),
                        "0",
                    ),
                };
                let mut response = grpc_response(body.unknown_end());
                response.headers_mut().insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from_static(length),
                );
                response
            }));
    let rt = runtime();
    let mut span_of = |path: &str| {
        let call = request("POST", path, &[("content-type", "application/grpc")]);
        let mut response = rt.block_on(service.call(call)).unwrap();
        rt.block_on(send(response.body_mut()));
        drop(response);
        provider.flush().unwrap();
        kept.0.lock().unwrap().pop().expect("a span")
    };
    let failed = span_of("/shop.v1.Inventory/Reserve");
    assert_eq!(
        failed.attr("rpc.grpc.status_code"),
        Some("13"),
        "{failed:?}"
    );
    assert!(failed.status.starts_with("Error"), "{failed:?}");
    let empty = span_of("/shop.v1.Inventory/Watch");
    assert_eq!(empty.attr("rpc.grpc.status_code"), Some("0"), "{empty:?}");
    assert_eq!(empty.status, "Unset");
}

/// Regressions (found by review): a body that has sent the length its head announced
/// is complete, though its stream never says so (HTTP/1 servers stop polling it there
/// and drop it: hyper does, and every file tower-http's `ServeDir` serves is such a
/// body); it was recorded `cancelled`. A gRPC call the client cancels mid-stream is
/// CANCELLED, the client's doing, not an Error of the server's. A body that panics is
/// `panicked`, not `cancelled`.
#[test]
fn a_body_sent_to_its_length_a_cancelled_grpc_call_and_a_panicking_body() {
    let (provider, kept) = setup();
    let mut service =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|request: &http::Request<()>| {
                let body = Streamed::new(1, Arc::new(|| {}))
                    .data(b"abcd")
                    .data(b"efgh");
                let (body, content_type) = match request.uri().path() {
                    "/panics" => (body.unknown_end().then_panic(), "text/plain"),
                    "/empty" => (
                        Streamed::new(1, Arc::new(|| {})).unknown_end(),
                        "text/plain",
                    ),
                    "/shop.v1.Inventory/Watch" => (body.unknown_end(), "application/grpc"),
                    _ => (body.unknown_end(), "text/plain"),
                };
                let mut response = http::Response::new(body);
                let headers = response.headers_mut();
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(content_type),
                );
                let length = match request.uri().path() {
                    "/file" => Some("8"),
                    "/empty" => Some("0"),
                    _ => None,
                };
                if let Some(length) = length {
                    headers.insert(
                        http::header::CONTENT_LENGTH,
                        http::HeaderValue::from_static(length),
                    );
                }
                response
            }));
    let rt = runtime();
    let mut span_of = |request: http::Request<()>, frames: usize| {
        let mut response = rt.block_on(service.call(request)).unwrap();
        for _ in 0..frames {
            let frame = rt.block_on(std::future::poll_fn(|cx| {
                Pin::new(response.body_mut()).poll_frame(cx)
            }));
            assert!(frame.is_some());
        }
        // The server stops polling here and drops the body.
        drop(response);
        provider.flush().unwrap();
        kept.0.lock().unwrap().pop().expect("a span")
    };
    let file = span_of(request("GET", "/file", &[]), 2);
    assert_eq!(file.attr("error.type"), None, "{file:?}");
    assert_eq!(file.status, "Unset");
    let watch = request(
        "POST",
        "/shop.v1.Inventory/Watch",
        &[("content-type", "application/grpc")],
    );
    let watch = span_of(watch, 1);
    assert_eq!(watch.attr("rpc.grpc.status_code"), Some("1"));
    assert_eq!(watch.attr("error.type"), None);
    assert_eq!(watch.status, "Unset");
    // A stream of unknown length cut off: the client went away.
    let cut = span_of(request("GET", "/stream", &[]), 1);
    assert_eq!(cut.attr("error.type"), Some("cancelled"));
    // An empty file's stream: a server never polls it (found by review: `cancelled`).
    let empty = span_of(request("GET", "/empty", &[]), 0);
    assert_eq!(empty.attr("error.type"), None, "{empty:?}");
    // Dropped by an unwind that is not the body's (found by review: `panicked`).
    let mut other = rt
        .block_on(service.call(request("GET", "/stream", &[])))
        .unwrap();
    let first = rt.block_on(std::future::poll_fn(|cx| {
        Pin::new(other.body_mut()).poll_frame(cx)
    }));
    assert!(first.is_some());
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _held = other;
        panic!("a bug elsewhere");
    }));
    assert!(unwound.is_err());
    provider.flush().unwrap();
    let dropped = kept.0.lock().unwrap().pop().expect("a span");
    assert_eq!(dropped.attr("error.type"), Some("cancelled"), "{dropped:?}");
    // Panicking while it makes a frame (the runtime catches it, as for a task).
    let response = rt
        .block_on(service.call(request("GET", "/panics", &[])))
        .unwrap();
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut response = response;
        rt.block_on(send(response.body_mut()))
    }));
    assert!(sent.is_err());
    provider.flush().unwrap();
    let panicked = kept.0.lock().unwrap().pop().expect("a span");
    assert_eq!(panicked.attr("error.type"), Some("panicked"));
    assert!(panicked.status.contains("panicked"), "{panicked:?}");
}

/// Regressions (found by review): a gRPC call the client cancelled (or whose deadline
/// passed) before its handler answered was an Error `cancelled` with no status code:
/// CANCELLED, the client's doing, as when it goes mid-body. A gRPC body that ended
/// without trailers (no status anywhere) ended Unset: UNKNOWN.
#[test]
fn a_grpc_call_cancelled_before_its_answer_or_ended_without_a_status() {
    let (provider, kept) = setup();
    let hanging = FnService(|_: http::Request<()>| {
        Box::pin(std::future::pending::<
            Result<http::Response<String>, Infallible>,
        >()) as BoxFuture
    });
    let mut service = ServerLayer::new(&provider).with_grpc().layer(hanging);
    let call = || {
        request(
            "POST",
            "/shop.v1.Inventory/Reserve",
            &[("content-type", "application/grpc")],
        )
    };
    let rt = runtime();
    rt.block_on(async {
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), service.call(call()));
        assert!(cut.await.is_err());
    });
    provider.flush().unwrap();
    let cancelled = kept.0.lock().unwrap().pop().expect("a span");
    assert_eq!(cancelled.name, "shop.v1.Inventory/Reserve");
    assert_eq!(cancelled.attr("rpc.grpc.status_code"), Some("1"));
    assert_eq!(cancelled.attr("error.type"), None);
    assert_eq!(cancelled.status, "Unset");
    let mut service =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|_: &http::Request<()>| {
                let body = Streamed::new(1, Arc::new(|| {})).data(b"\0\0\0\0\x02\x08\x01");
                grpc_response(body)
            }));
    let mut response = rt.block_on(service.call(call())).unwrap();
    let frames = rt.block_on(send(response.body_mut()));
    assert_eq!(frames.len(), 1);
    drop(response);
    provider.flush().unwrap();
    let ended = kept.0.lock().unwrap().pop().expect("a span");
    assert_eq!(ended.attr("rpc.grpc.status_code"), Some("2"));
    assert_eq!(ended.attr("error.type"), Some("2"));
    assert!(ended.status.starts_with("Error"), "{ended:?}");
}

/// Regression (a tonic user's tryout): a gRPC call dropped once its `grpc-timeout`
/// had run out (tonic's timeout layer outside this one, or the client's reset at its
/// deadline) was CANCELLED and Unset; it is DEADLINE_EXCEEDED, an Error of the
/// server's (the gRPC conventions), before its answer and mid-stream alike. Dropped
/// well before its deadline it stays CANCELLED, the client's doing.
#[test]
fn a_grpc_call_dropped_past_its_deadline_exceeded_it() {
    let (provider, kept) = setup();
    let hanging = FnService(|_: http::Request<()>| {
        Box::pin(std::future::pending::<
            Result<http::Response<String>, Infallible>,
        >()) as BoxFuture
    });
    let mut service = ServerLayer::new(&provider).with_grpc().layer(hanging);
    let call = |timeout: &'static str| {
        request(
            "POST",
            "/shop.v1.Inventory/Reserve",
            &[
                ("content-type", "application/grpc"),
                ("grpc-timeout", timeout),
            ],
        )
    };
    let rt = runtime();
    rt.block_on(async {
        for timeout in ["20m", "10S"] {
            let cut = tokio::time::timeout(
                std::time::Duration::from_millis(40),
                service.call(call(timeout)),
            );
            assert!(cut.await.is_err());
        }
    });
    let mut streaming =
        ServerLayer::new(&provider)
            .with_grpc()
            .layer(BodyService(|_: &http::Request<()>| {
                // Two messages: dropped after the first, mid-stream.
                let body = Streamed::new(1, Arc::new(|| {}))
                    .data(b"\0\0\0\0\x02\x08\x01")
                    .data(b"\0\0\0\0\x02\x08\x02");
                grpc_response(body)
            }));
    let mut response = rt.block_on(streaming.call(call("20m"))).unwrap();
    let first = rt.block_on(std::future::poll_fn(|cx| {
        Pin::new(response.body_mut()).poll_frame(cx)
    }));
    assert!(first.is_some());
    std::thread::sleep(std::time::Duration::from_millis(40));
    drop(response);
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    let seen: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                s.attr("rpc.grpc.status_code"),
                s.attr("error.type"),
                s.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("4"), Some("4"), r#"Error { description: "" }"#),
            (Some("1"), None, "Unset"),
            (Some("4"), Some("4"), r#"Error { description: "" }"#),
        ],
        "{spans:#?}"
    );
}

/// Regression (found by review): the request's attributes were set after the span
/// started, so a sampler saw none (the HTTP conventions: they SHOULD be given at
/// creation, for sampling); a sampler that drops health checks by `url.path` could not.
/// The attributes given at the start are the span's.
#[test]
fn a_sampler_sees_the_request_s_attributes() {
    static SAMPLER: SkipWhere = SkipWhere {
        key: "url.path",
        value: "/healthz",
    };
    let (provider, kept) = support::kept::provider_sampled_by("layer", &SAMPLER);
    let layer = ServerLayer::new(&provider).with_route(|ext| ext.get::<Route>().map(|r| r.0));
    let mut service = layer.layer(handler(Observed::default()));
    let rt = runtime();
    let agent = [("host", "shop.example:8443"), ("user-agent", "probe/1")];
    for path in ["/healthz", "/users/7"] {
        rt.block_on(service.call(request("GET", path, &agent)))
            .unwrap();
    }
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "the health check is dropped: {spans:#?}");
    let span = &spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.attr("url.path"), Some("/users/7"));
    assert_eq!(span.attr("http.request.method"), Some("GET"));
    assert_eq!(span.attr("http.route"), Some("/users/{id}"));
    assert_eq!(span.attr("server.address"), Some("shop.example"));
    assert_eq!(span.attr("server.port"), Some("8443"));
    assert_eq!(span.attr("url.scheme"), Some("http"));
    assert_eq!(span.attr("user_agent.original"), Some("probe/1"));
    assert_eq!(span.attr("http.response.status_code"), Some("200"));
    assert_eq!(provider.stats().spans_sampled_out, 1);
}

/// Found by review: a status past 599 (one no client can interpret) left the server
/// span Unset, where the conventions make it an Error as a 5xx; a gRPC call answered
/// with an HTTP status other than 200 and no `grpc-status` had no
/// `rpc.grpc.status_code` (the client's span maps it, as gRPC's clients do); and a
/// response whose body a layer outside replaced, dropping it unpolled, was an Error
/// `cancelled`, as if the client had gone away mid-body.
#[test]
fn odd_statuses_and_a_replaced_body() {
    let (provider, kept) = setup();
    let answer = |status: u16, grpc: bool| {
        FnService(move |_: http::Request<()>| {
            let mut response = http::Response::new(String::from("body"));
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            if grpc {
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/grpc"),
                );
            }
            Box::pin(async move { Ok(response) }) as BoxFuture
        })
    };
    let rt = runtime();
    let mut odd = ServerLayer::new(&provider).layer(answer(600, false));
    let response = rt.block_on(service_call(&mut odd, request("GET", "/", &[])));
    rt.block_on(send_all(response));
    let grpc_call = || {
        request(
            "POST",
            "/shop.v1.Inventory/Reserve",
            &[("content-type", "application/grpc")],
        )
    };
    for status in [503, 401, 404] {
        let mut grpc = ServerLayer::new(&provider)
            .with_grpc()
            .layer(answer(status, true));
        let response = rt.block_on(service_call(&mut grpc, grpc_call()));
        rt.block_on(send_all(response));
    }
    // A 200 whose body an outer layer swapped for its own: dropped before any frame.
    let mut replaced = ServerLayer::new(&provider).layer(answer(200, false));
    let response = rt.block_on(service_call(&mut replaced, request("GET", "/", &[])));
    drop(response);
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 5, "{spans:#?}");
    assert_eq!(spans[0].attr("http.response.status_code"), Some("600"));
    assert_eq!(spans[0].attr("error.type"), Some("600"));
    assert!(spans[0].status.starts_with("Error"), "{:?}", spans[0]);
    // 503: UNAVAILABLE, the server's; the HTTP status kept beside it.
    assert_eq!(spans[1].attr("rpc.grpc.status_code"), Some("14"));
    assert_eq!(spans[1].attr("http.response.status_code"), Some("503"));
    assert_eq!(spans[1].attr("error.type"), Some("14"));
    assert!(spans[1].status.starts_with("Error"), "{:?}", spans[1]);
    // 401: UNAUTHENTICATED, the client's.
    assert_eq!(spans[2].attr("rpc.grpc.status_code"), Some("16"));
    assert_eq!(spans[2].status, "Unset");
    // 404: UNIMPLEMENTED, a method the server does not serve: no name of the client's.
    assert_eq!(spans[3].attr("rpc.grpc.status_code"), Some("12"));
    assert_eq!(spans[3].name, "_OTHER");
    assert_eq!(
        spans[3].attr("rpc.method_original"),
        Some("shop.v1.Inventory/Reserve")
    );
    assert_eq!(spans[4].attr("http.response.status_code"), Some("200"));
    assert_eq!(spans[4].attr("error.type"), None);
    assert_eq!(spans[4].status, "Unset");
}

/// Calls `service` once it is ready.
async fn service_call<S: Service<http::Request<()>>>(
    service: &mut S,
    request: http::Request<()>,
) -> S::Response
where
    S::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    service.call(request).await.unwrap()
}

/// Sends a response's whole body, as a server does.
async fn send_all<B: http_body::Body + Unpin>(mut response: http::Response<B>) -> usize {
    let mut frames = 0;
    while let Some(frame) =
        std::future::poll_fn(|cx| Pin::new(response.body_mut()).poll_frame(cx)).await
    {
        if frame.is_err() {
            break;
        }
        frames += 1;
    }
    frames
}

/// The handler records on the request's own server span through the `ServerSpan` in
/// the request's extensions (a new user found no way to: only child spans, or the
/// explicit pattern of an example), across an `.await` on any worker; once the head
/// is ready, a handle kept (a spawned task's) does nothing.
#[test]
fn a_handler_records_on_its_server_span() {
    let (provider, kept) = setup();
    let kept_handle: Arc<Mutex<Option<picotrace_std::ServerSpan>>> = Arc::default();
    let keep = Arc::clone(&kept_handle);
    let service = FnService(move |request: http::Request<()>| {
        let span = request
            .extensions()
            .get::<picotrace_std::ServerSpan>()
            .cloned()
            .expect("the layer put it there");
        *keep.lock().unwrap() = Some(span.clone());
        Box::pin(async move {
            span.set_attribute("user.id", 7);
            tokio::task::yield_now().await;
            span.add_event("charged");
            span.record_error(&std::io::Error::other("card declined"));
            span.set_error("payment failed");
            let id = span
                .with(|s| s.context().span_id)
                .expect("the span is there");
            assert_eq!(
                picotrace_std::current_context().map(|cx| cx.span_context.span_id),
                Some(id)
            );
            Ok(http::Response::new(String::new()))
        }) as BoxFuture
    });
    let mut service = ServerLayer::new(&provider).layer(service);
    let response = runtime()
        .block_on(async { tokio::spawn(service.call(request("POST", "/pay", &[]))).await })
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response); // the body: the span ends
    let late = kept_handle.lock().unwrap().take().unwrap();
    assert_eq!(late.with(|_| ()), None, "given back at the head");
    late.set_attribute("late", true);
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span.attr("user.id"), Some("7"));
    assert_eq!(span.attr("late"), None);
    assert_eq!(span.attr("http.response.status_code"), Some("200"));
    assert_eq!(span.events, ["charged", "exception"]);
    assert_eq!(span.status, "Error { description: \"payment failed\" }");
}

/// A service that keeps the request's `ServerSpan` (as a task it spawned would), then
/// panics in `call`.
struct StashesAndPanics(Arc<Mutex<Option<picotrace_std::ServerSpan>>>);

impl Service<http::Request<()>> for StashesAndPanics {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<()>) -> BoxFuture {
        *self.0.lock().unwrap() = request.extensions().get().cloned();
        panic!("a bug making the future");
    }
}

/// Regression (found by review): a service that panicked in `call` after keeping the
/// request's `ServerSpan` kept its span running (and writable) for as long as it held
/// the handle: no future would end it. It ends with the panic.
#[test]
fn a_span_kept_by_a_service_that_panics_in_call_ends_with_the_panic() {
    let (provider, kept) = setup();
    let stash = Arc::default();
    let mut service = ServerLayer::new(&provider).layer(StashesAndPanics(Arc::clone(&stash)));
    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        service.call(request("GET", "/x", &[]))
    }));
    assert!(called.is_err());
    let handle = stash.lock().unwrap().clone().expect("kept");
    assert_eq!(
        handle.with(|_| ()),
        None,
        "the span is gone from the handle"
    );
    provider.flush().unwrap();
    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "ended while the handle lives: {spans:#?}");
    assert_eq!(spans[0].attr("error.type"), Some("panicked"));
    drop(handle);
}
