//! [`ClientLayer`]: a `tower` layer for HTTP clients that are `tower` services (feature
//! `tower`): hyper-util's `Client`, tonic's `Channel`, a `tower` stack of one's own.
//! Each request gets a `CLIENT` span, a child of the current context, whose context
//! and the current baggage go out in the request's headers; the span ends when the
//! response's body has been read to its end ([`ClientBody`]), when the body is dropped
//! (the caller read no further: an HTTP call then keeps the status its response
//! gave, Unset for a 2xx, as a caller that needed only part of the body is no failure;
//! a gRPC call before its status is CANCELLED), or when the call fails.
//!
//! An HTTP request gets [`HttpClientSpan`]'s attributes (the HTTP client conventions).
//! A gRPC call (`content-type: application/grpc…`, what tonic's clients send) gets an
//! RPC span named `{package.Service}/{Method}` with `rpc.system`, `rpc.service`,
//! `rpc.method` and its `rpc.grpc.status_code` (from the response's head, or from the
//! trailers that end its body); a client span is an Error for every code but OK (the
//! gRPC conventions), described by the server's `grpc-message`. tonic's `Channel` hands
//! its inner services a URI without the server's address:
//! [`with_server`](ClientLayer::with_server) names it. A gRPC
//! response without any status (its body ended without trailers, or was empty) is
//! UNKNOWN, one given up on before its response, or whose body the caller dropped
//! before its status, CANCELLED, and one that is not
//! HTTP 200 the code gRPC takes from the HTTP status.
//!
//! What the layer does not see: errors a gRPC client raises above it (a message it
//! cannot decode, a size limit) leave the span as the transport saw the call; a
//! transport error is an Error `_OTHER` without an `exception` event (tonic's is a
//! boxed error); the layer must be outside a `Buffer` or another layer that calls the
//! service from a task of its own, or the span has no parent (the parent is the
//! context current when the request is handed to the layer; `tower`'s `oneshot` hands
//! it over at its first poll, so `tokio::spawn(service.oneshot(request))` calls from
//! the spawned task: wrap that future with
//! [`with_context`](crate::FutureExt::with_context)); a response whose body is kept but
//! never read keeps its span open.
//!
//! ```ignore
//! let channel = tonic::transport::Channel::from_static("http://inventory.internal:50051")
//!     .connect()
//!     .await?;
//! let channel = tower::ServiceBuilder::new()
//!     .layer(ClientLayer::new(provider).with_server("inventory.internal", 50051))
//!     .service(channel);
//! let mut client = InventoryClient::new(channel);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use picotrace::semconv;
use tower_service::Service;

use crate::http_client::{host_header_server, record_response, uri_server, HttpClientSpan};
use crate::http_conv::StartAttributes;
use crate::http_conv::{
    grpc_call, grpc_deadline, grpc_status, GRPC_CANCELLED, GRPC_DEADLINE_EXCEEDED, GRPC_OK,
    GRPC_UNAVAILABLE, GRPC_UNKNOWN,
};
use crate::{Propagators, StdTracer, TracerProvider};

/// A `tower` layer that traces each request of a client in a `CLIENT` span (see the
/// [module documentation](self)).
#[derive(Clone, Copy)]
pub struct ClientLayer {
    tracer: &'static StdTracer,
    propagators: Propagators,
    server: Option<(&'static str, u16)>,
}

impl std::fmt::Debug for ClientLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLayer")
            .field("propagators", &self.propagators)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl ClientLayer {
    /// Traces with `provider`'s tracer, writing the formats its propagators name.
    pub fn new(provider: &TracerProvider) -> Self {
        Self {
            tracer: provider.tracer(),
            propagators: provider.propagators(),
            server: None,
        }
    }

    /// `server.address` and `server.port` of the calls whose URI does not name the
    /// server (tonic's `Channel` passes on the path alone). Without it such a call's
    /// server is its `Host` header's, if it has one.
    #[must_use]
    pub fn with_server(mut self, address: &'static str, port: u16) -> Self {
        self.server = Some((address, port));
        self
    }
}

impl<S> tower_layer::Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService {
            inner,
            layer: *self,
        }
    }
}

/// The service [`ClientLayer`] wraps around a client.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    layer: ClientLayer,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ClientService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = http::Response<ClientBody<ResBody>>;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let ClientLayer {
            tracer,
            propagators,
            server,
        } = self.layer;
        let grpc = grpc_call(&request).is_some();
        // Read before the call: the transport (tonic's `GrpcTimeout`) gives up there.
        let deadline = grpc
            .then(|| grpc_deadline(request.headers(), std::time::Instant::now()))
            .flatten();
        let call = match grpc_call(&request) {
            Some((service, method)) => {
                let parent = crate::current_context();
                let mut attributes = StartAttributes::new();
                attributes.push("rpc.system", "grpc");
                attributes.push("rpc.service", service);
                attributes.push("rpc.method", method);
                match (request.uri().authority(), server) {
                    // The server the layer was told (tonic's `Channel` hands its
                    // services URIs without one).
                    (None, Some((address, port))) => {
                        attributes.push(semconv::SERVER_ADDRESS, address);
                        attributes.push(semconv::SERVER_PORT, i64::from(port));
                    }
                    // Else the `Host` header's, for a URI that is a path alone.
                    (None, None) => host_header_server(request.headers()).push_to(&mut attributes),
                    // The server the URI names (hyper-util's client, `with_origin`);
                    // found by review: only `with_server` was read.
                    _ => uri_server(request.uri()).push_to(&mut attributes),
                }
                // Given to a sampler that may decide by them before the start (as
                // HTTP calls' are), recorded with their static keys once it records.
                let name = format!("{service}/{method}");
                let mut builder = tracer
                    .span_builder(&name)
                    .kind(picotrace::SpanKind::Client)
                    .parent(parent.as_ref());
                if tracer.sampler_reads_attributes() {
                    builder = builder.sampler_attributes(attributes.as_slice());
                }
                let mut span = builder.start();
                attributes.record_on(&mut span);
                let call = HttpClientSpan::from_span(span, tracer, propagators);
                call.inject(request.headers_mut());
                call
            }
            // The server the layer was told goes to the sampler too, when the URI names
            // none (found by review: it was set after the start).
            None => HttpClientSpan::start_request_on(tracer, propagators, &mut request, server),
        };
        ClientFuture {
            future: self.inner.call(request),
            call: Some(call),
            grpc,
            deadline,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ClientService`]: records the response's head and hands
    /// the call's span to its [`ClientBody`]; a call dropped first ends `cancelled`,
    /// one that fails an Error `_OTHER`. A gRPC call that fails is UNAVAILABLE (14),
    /// or DEADLINE_EXCEEDED (4) once its `grpc-timeout` has passed, as the gRPC
    /// specification has it (tonic's caller gets CANCELLED for its own timeout); a
    /// deadline set only by tonic's `Endpoint::timeout` is not in the request, and
    /// such a call reads UNAVAILABLE.
    #[must_use = "futures do nothing unless polled"]
    pub struct ClientFuture<F> {
        #[pin]
        future: F,
        call: Option<HttpClientSpan>,
        grpc: bool,
        // A gRPC call's deadline, from its `grpc-timeout`.
        deadline: Option<std::time::Instant>,
    }

    impl<F> PinnedDrop for ClientFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Given up on before the response came (a timeout, the caller gone): a
            // gRPC call is CANCELLED, as when its body is dropped (found by review:
            // it had no status code); an HTTP call is `cancelled` (its span's drop).
            let this = this.project();
            if let Some(mut call) = this.call.take() {
                // A panic is the call's own failure, not a cancellation: its span's
                // drop records it (found by review: CANCELLED).
                let cancelled = *this.grpc && !call.unwinding_since_start();
                if let (true, Some(span)) = (cancelled, call.span_mut()) {
                    record_grpc_fail(span, GRPC_CANCELLED);
                    call.end();
                }
            }
        }
    }
}

impl<F, ResBody, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: http_body::Body,
{
    type Output = Result<http::Response<ClientBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.future.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(error)) => {
                if let Some(mut call) = this.call.take() {
                    if let Some(span) = call.span_mut() {
                        if *this.grpc {
                            // No response: UNAVAILABLE, as the gRPC clients take it
                            // (found by review: no `rpc.grpc.status_code`, which the
                            // gRPC conventions require); past the call's deadline,
                            // DEADLINE_EXCEEDED (found by review: a timeout read as
                            // a server down).
                            let past = this
                                .deadline
                                .is_some_and(|d| std::time::Instant::now() >= d);
                            let code = if past {
                                GRPC_DEADLINE_EXCEEDED
                            } else {
                                GRPC_UNAVAILABLE
                            };
                            record_grpc_fail(span, code);
                        } else {
                            span.set_attribute(semconv::ERROR_TYPE, "_OTHER");
                            span.set_error("");
                        }
                    }
                    call.end();
                }
                return Poll::Ready(Err(error));
            }
        };
        let mut call = this.call.take();
        // A gRPC call's status, once known: from the head here, else the trailers.
        let mut status_known = false;
        // The response says the call failed (its `error.type` is recorded).
        let mut failed = false;
        if let Some(span) = call.as_mut().and_then(HttpClientSpan::span_mut) {
            if *this.grpc {
                // gRPC answers every call with HTTP 200; a status in the head ends a
                // call that failed before its first message.
                let code = record_grpc_code(span, response.headers());
                status_known = code.is_some();
                failed = code.is_some_and(|code| code != GRPC_OK);
                if !status_known && response.status() != http::StatusCode::OK {
                    // No gRPC status, and not HTTP 200: the code gRPC clients take
                    // from the HTTP status (found by review: none was recorded).
                    let http = response.status().as_u16();
                    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, http);
                    record_grpc_fail(span, crate::http_conv::grpc_code_of_http(http));
                    status_known = true;
                    failed = true;
                }
            } else {
                record_response(span, &response);
                failed = response.status().as_u16() >= 400;
            }
        }
        let grpc = *this.grpc;
        Poll::Ready(Ok(response.map(|inner| {
            // An empty body ends with the head.
            let call = call.and_then(|mut call| {
                if inner.is_end_stream() {
                    if let (true, false, Some(span)) = (grpc, status_known, call.span_mut()) {
                        // No status, in the head or a body (found by review: it ended
                        // Unset, where the same call with a body is UNKNOWN).
                        record_grpc_fail(span, GRPC_UNKNOWN);
                    }
                    call.end();
                    None
                } else {
                    Some(call)
                }
            });
            ClientBody {
                inner: Some(inner),
                call,
                grpc,
                status_known,
                failed,
                panicked: false,
            }
        })))
    }
}

/// Records a gRPC status found in `headers`: `rpc.grpc.status_code`, and for a code
/// other than OK an Error with the code as `error.type` (a client span fails on every
/// one). The code, if there was one.
fn record_grpc_code(span: &mut crate::StdSpan, headers: &http::HeaderMap) -> Option<u8> {
    let code = grpc_status(headers)?;
    record_grpc_fail(span, code);
    // The server's `grpc-message`, as the status description (as the server's span
    // records it).
    if code != GRPC_OK {
        crate::http_conv::describe_with_grpc_message(span, headers);
    }
    Some(code)
}

/// `rpc.grpc.status_code` `code`, an Error with the code as `error.type` unless OK.
fn record_grpc_fail(span: &mut crate::StdSpan, code: u8) {
    span.set_attribute("rpc.grpc.status_code", i64::from(code));
    if code != GRPC_OK {
        span.set_attribute_fmt(semconv::ERROR_TYPE, format_args!("{code}"));
        span.set_error("");
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`ClientService`]: the response's body, which ends the call's
    /// span after its last frame (a gRPC call's trailers, whose status it records), on
    /// an error (an Error `_OTHER`), or when dropped (the caller read no further).
    pub struct ClientBody<B> {
        // `None` once done (dropped before the span ends).
        #[pin]
        inner: Option<B>,
        call: Option<HttpClientSpan>,
        grpc: bool,
        // A gRPC call's status was recorded.
        status_known: bool,
        // The response (or a gRPC status) said the call failed.
        failed: bool,
        // Making a frame panicked.
        panicked: bool,
    }

    impl<B> PinnedDrop for ClientBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // The caller read no further: an HTTP call ends as it is (not `cancelled`:
            // the response came), after what the body held; a gRPC call whose status
            // had not come is CANCELLED, an Error of a client span (found by review:
            // it ended with no status).
            let mut this = this.project();
            this.inner.set(None);
            if let Some(mut call) = this.call.take() {
                let caller_panicked = call.unwinding_since_start();
                if *this.panicked || (caller_panicked && !*this.failed) {
                    // Making a frame panicked, or the caller did while it held the
                    // body: an Error `panicked` (found by review: it ended without that
                    // `error.type`), unless the response had failed the call already,
                    // whose `error.type` stays (found by review of the fix).
                    if let Some(span) = call.span_mut() {
                        span.set_attribute(semconv::ERROR_TYPE, "panicked");
                        span.set_error("panicked");
                    }
                } else if let (true, false, false, Some(span)) =
                    (*this.grpc, *this.status_known, caller_panicked, call.span_mut())
                {
                    // Not a cancellation when the caller panicked (found by review:
                    // CANCELLED).
                    record_grpc_fail(span, GRPC_CANCELLED);
                }
                call.end();
            }
        }
    }
}

impl<B> std::fmt::Debug for ClientBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBody")
            .field("call", &self.call)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

impl<B: http_body::Body> http_body::Body for ClientBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let Some(mut inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let polled = {
            let guard = crate::server_layer::UnwindFlag::new(&mut *this.panicked);
            let polled = inner.as_mut().poll_frame(cx);
            drop(guard);
            polled
        };
        let ended = match &polled {
            Poll::Pending => false,
            Poll::Ready(Some(Ok(frame))) => {
                if let (true, Some(trailers), Some(span)) = (
                    *this.grpc,
                    frame.trailers_ref(),
                    this.call.as_mut().and_then(HttpClientSpan::span_mut),
                ) {
                    let code = record_grpc_code(span, trailers);
                    *this.status_known |= code.is_some();
                    *this.failed |= code.is_some_and(|code| code != GRPC_OK);
                }
                frame.is_trailers() || inner.is_end_stream()
            }
            Poll::Ready(Some(Err(_))) => {
                // A response that had failed the call keeps its `error.type` (a 503's
                // "503": found by review, the body's error made it `_OTHER`), as at a
                // drop (above).
                if let (false, Some(span)) = (
                    *this.failed,
                    this.call.as_mut().and_then(HttpClientSpan::span_mut),
                ) {
                    span.set_attribute(semconv::ERROR_TYPE, "_OTHER");
                    span.set_error("");
                }
                // A gRPC call whose body failed before its status is UNKNOWN, as one
                // that ends without a status (below; found by review: it had no
                // `rpc.grpc.status_code`); one whose status came keeps it.
                true
            }
            Poll::Ready(None) => true,
        };
        if ended {
            this.inner.set(None);
            if let Some(mut call) = this.call.take() {
                if let (true, false, Some(span)) = (*this.grpc, *this.status_known, call.span_mut())
                {
                    // Ended without a status: what a gRPC client makes of it (found by
                    // review: it was a success).
                    record_grpc_fail(span, GRPC_UNKNOWN);
                }
                call.end();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(B::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), B::size_hint)
    }
}
