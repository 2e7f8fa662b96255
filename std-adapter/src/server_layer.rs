//! [`ServerLayer`]: a `tower` layer that gives each HTTP request a server span (feature
//! `tower`), for axum, hyper and tonic services, which are `tower` services.
//!
//! For each request it reads the caller's context and baggage from the headers (in
//! the formats the provider's propagators name), starts a `SERVER` span under that
//! context, keeps the span's context and the baggage current while the inner service
//! makes and polls its response future (on whichever worker thread polls it), and
//! ends the span when the response is ready: with `http.response.status_code`, and an
//! Error status and `error.type` for a 5xx or a service error (OpenTelemetry's HTTP
//! server conventions: a 4xx is the client's error, not the server span's). A request
//! whose future is dropped before it completes (the client went away, a timeout around
//! the service gave up) ends its span then, an Error with the `error.type` `cancelled`.
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
//! (The README has this compiled, with axum.) Handlers find the span's context with
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
        // One bag, shared by the guard below and the future.
        let baggage = std::sync::Arc::new(propagators.extract_baggage(&carrier));
        let method = KNOWN_METHODS
            .iter()
            .find(|m| **m == request.method().as_str())
            .copied()
            .unwrap_or("_OTHER");
        let route = route.and_then(|route| route(request.extensions()));
        let mut span = match route {
            Some(route) => tracer.start_server_span(&format!("{method} {route}"), &context),
            // The conventions' name for a method they do not know.
            None if method == "_OTHER" => tracer.start_server_span("HTTP", &context),
            None => tracer.start_server_span(method, &context),
        };
        if span.is_recording() {
            span.set_attribute(semconv::HTTP_REQUEST_METHOD, method);
            if let Some(route) = route {
                span.set_attribute_dyn(semconv::HTTP_ROUTE, route);
            }
            span.set_attribute_dyn(semconv::URL_PATH, request.uri().path());
            if let Some(agent) = request
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
            {
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
            future: future.with_context(current).with_baggage(baggage),
            span: Some(span),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`]: ends the request's span when the
    /// response is ready, or when dropped first.
    #[must_use = "futures do nothing unless polled"]
    pub struct ServerFuture<F> {
        #[pin]
        future: crate::WithBaggage<crate::WithContext<F>>,
        span: Option<StdSpan>,
    }

    impl<F> PinnedDrop for ServerFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response was ready: the client went away, or a
            // timeout around the service gave up.
            if let Some(mut span) = this.project().span.take() {
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
        let result = match this.future.poll(cx) {
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
