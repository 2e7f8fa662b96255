//! [`ServerLayer`]: a `tower` layer that gives each HTTP request a server span (feature
//! `tower`), for `tower` services over `http` requests: axum routers and handlers
//! directly, hyper 1 through `hyper_util`'s `TowerToHyperService`. (A tonic service
//! works too, but its spans are named `POST` unless told the route, and a gRPC error,
//! which travels in `grpc-status` with HTTP 200, is not read.)
//!
//! For each request it reads the caller's context and baggage from the headers (in
//! the formats the provider's propagators name), starts a `SERVER` span under that
//! context, keeps the span's context and the baggage current while the inner service
//! makes and polls its response future (on whichever worker thread polls it), and
//! ends the span when the response's head is ready (a streamed body is not covered):
//! with `http.response.status_code`, and an Error status and `error.type` for a 5xx or
//! a service error (OpenTelemetry's HTTP server conventions: a 4xx is the client's
//! error, not the server span's). A handler that panics ends it an Error with the
//! `error.type` `panicked`; a request whose future is dropped before it completes (the
//! client went away, a timeout around the service gave up) ends it then, an Error with
//! the `error.type` `cancelled`, after what the handler still held.
//!
//! Recorded besides: `http.request.method` (`_OTHER`, with
//! `http.request.method_original`, for a method the conventions do not name),
//! `http.route`, `url.path` (never the query, which may hold secrets),
//! `server.address` and `server.port` from the `Host` header, `network.protocol.version`
//! and `user_agent.original`. `url.scheme` is not known here (TLS may end in front of
//! the service), nor `client.address`.
//!
//! The span is named `{method}`, or `{method} {route}` when the layer is told how to
//! find the route (a template such as `/users/{id}`, never the raw path, whose ids
//! would make every name different): with axum, `route_layer` runs after routing, when
//! the request carries its `MatchedPath`:
//!
//! ```ignore
//! use axum::extract::MatchedPath;
//! let router = axum::Router::new()
//!     .route("/users/{id}", axum::routing::get(handler))
//!     .route_layer(
//!         ServerLayer::new(provider)
//!             .with_route(|ext| ext.get::<MatchedPath>().map(MatchedPath::as_str)),
//!     );
//! ```
//!
//! (The README has this compiled, with axum; under `Router::nest` the path axum hands
//! the layer has the prefix taken off, so `url.path` is the nested one.) Handlers find
//! the span's context with
//! [`current_context`](crate::current_context) and the baggage with
//! [`current_baggage`](crate::current_baggage); to set the span's status or attributes
//! themselves, they start a child span, or use the explicit pattern of
//! `examples/server/src/bin/axum_server.rs`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use picotrace::semconv;
use tower_service::Service;

use crate::{FutureExt as _, HeaderMapCarrier, Propagators, StdSpan, StdTracer, TracerProvider};

/// Finds a request's route template in its extensions (axum: `MatchedPath`).
pub type RouteOf = fn(&http::Extensions) -> Option<&str>;

/// A `tower` layer that traces each request in a server span (see the [module
/// documentation](self)).
#[derive(Clone, Copy)]
pub struct ServerLayer {
    tracer: &'static StdTracer,
    propagators: Propagators,
    route: Option<RouteOf>,
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("propagators", &self.propagators)
            .field("route", &self.route.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerLayer {
    /// Traces with `provider`'s tracer, reading the formats its propagators name.
    pub fn new(provider: &TracerProvider) -> Self {
        Self {
            tracer: provider.tracer(),
            propagators: provider.propagators(),
            route: None,
        }
    }

    /// Names spans `{method} {route}` and records `http.route` with the template
    /// `route` finds in the request's extensions (axum's `MatchedPath`, under
    /// `route_layer`).
    #[must_use]
    pub fn with_route(mut self, route: RouteOf) -> Self {
        self.route = Some(route);
        self
    }
}

impl<S> tower_layer::Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> ServerService<S> {
        ServerService {
            inner,
            layer: *self,
        }
    }
}

/// The service [`ServerLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct ServerService<S> {
    inner: S,
    layer: ServerLayer,
}

/// The methods HTTP's semantic conventions name; any other is recorded as `_OTHER`
/// (a method is client input: unbounded names would make every span name different).
const KNOWN_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ServerService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let ServerLayer {
            tracer,
            propagators,
            route,
        } = self.layer;
        let carrier = HeaderMapCarrier(request.headers());
        let context = propagators.extract_context(&carrier);
        // One bag, shared by the guard below and the future; most requests bring none,
        // and share one empty bag (no allocation).
        let baggage = propagators.extract_baggage(&carrier);
        let baggage = if baggage.is_empty() {
            empty_baggage()
        } else {
            std::sync::Arc::new(baggage)
        };
        let method = KNOWN_METHODS
            .iter()
            .find(|m| **m == request.method().as_str())
            .copied()
            .unwrap_or("_OTHER");
        let route = route.and_then(|route| route(request.extensions()));
        // The conventions' name for a method they do not know is `HTTP`.
        let name_method = if method == "_OTHER" { "HTTP" } else { method };
        let mut span = match route {
            Some(route) => tracer.start_server_span(&format!("{name_method} {route}"), &context),
            None => tracer.start_server_span(name_method, &context),
        };
        if span.is_recording() {
            span.set_attribute(semconv::HTTP_REQUEST_METHOD, method);
            if method == "_OTHER" {
                span.set_attribute_dyn("http.request.method_original", request.method().as_str());
            }
            if let Some(route) = route {
                span.set_attribute_dyn(semconv::HTTP_ROUTE, route);
            }
            span.set_attribute_dyn(semconv::URL_PATH, request.uri().path());
            let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
            // HTTP/2 gives the authority in the URI, HTTP/1.1 in `Host`.
            let authority = request.uri().authority().cloned().or_else(|| {
                header(http::header::HOST).and_then(|h| h.parse::<http::uri::Authority>().ok())
            });
            if let Some(authority) = &authority {
                span.set_attribute_dyn(semconv::SERVER_ADDRESS, authority.host());
                if let Some(port) = authority.port_u16() {
                    span.set_attribute(semconv::SERVER_PORT, i64::from(port));
                }
            }
            if let Some(version) = protocol_version(request.version()) {
                span.set_attribute("network.protocol.version", version);
            }
            if let Some(agent) = header(http::header::USER_AGENT) {
                span.set_attribute_dyn("user_agent.original", agent);
            }
        }
        let current = span.trace_context();
        // The inner service may do work as it makes its future: with the span current.
        let future = {
            let _current = crate::enter_context(current.clone());
            let _baggage = crate::enter_baggage(std::sync::Arc::clone(&baggage));
            self.inner.call(request)
        };
        ServerFuture {
            future: Some(future.with_context(current).with_baggage(baggage)),
            span: Some(span),
        }
    }
}

/// The one empty bag requests without baggage share.
fn empty_baggage() -> std::sync::Arc<picotrace::Baggage> {
    static EMPTY: std::sync::OnceLock<std::sync::Arc<picotrace::Baggage>> =
        std::sync::OnceLock::new();
    std::sync::Arc::clone(EMPTY.get_or_init(|| std::sync::Arc::new(picotrace::Baggage::new())))
}

/// `network.protocol.version` of an HTTP version.
fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// Ends the request's span as an Error `panicked` if the poll it guards unwinds (a
/// handler that panicked), before the runtime (or a panic-catching layer) drops the
/// future: without it the span ended as `cancelled`, blaming the client (found by
/// review).
struct PanicGuard<'a>(&'a mut Option<StdSpan>, bool);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if !self.1 && std::thread::panicking() {
            if let Some(mut span) = self.0.take() {
                span.set_attribute(semconv::ERROR_TYPE, "panicked");
                span.set_error("panicked");
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`]: ends the request's span when the
    /// response is ready, or when dropped first.
    #[must_use = "futures do nothing unless polled"]
    pub struct ServerFuture<F> {
        // `None` once dropped early.
        #[pin]
        future: Option<crate::WithBaggage<crate::WithContext<F>>>,
        span: Option<StdSpan>,
    }

    impl<F> PinnedDrop for ServerFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response was ready: the client went away, or a
            // timeout around the service gave up. What the handler held (its child
            // spans) goes first, so that they end before their parent.
            let mut this = this.project();
            this.future.set(None);
            if let Some(mut span) = this.span.take() {
                span.set_attribute(semconv::ERROR_TYPE, "cancelled");
                span.set_error("");
            }
        }
    }
}

impl<F, ResBody, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            panic!("ServerFuture polled after it was dropped");
        };
        let guard = PanicGuard(this.span, std::thread::panicking());
        let polled = future.poll(cx);
        drop(guard);
        let result = match polled {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        if let Some(mut span) = this.span.take() {
            match &result {
                Ok(response) => {
                    let status = response.status();
                    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
                    if status.is_server_error() {
                        span.set_attribute_dyn(semconv::ERROR_TYPE, status.as_str());
                        span.set_error("");
                    }
                }
                Err(_) => {
                    span.set_attribute(semconv::ERROR_TYPE, "_OTHER");
                    span.set_error("");
                }
            }
        }
        Poll::Ready(result)
    }
}
