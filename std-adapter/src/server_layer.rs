//! [`ServerLayer`]: a `tower` layer that gives each HTTP request a server span (feature
//! `tower`), for `tower` services over `http` requests: axum routers and handlers
//! directly, hyper 1 through `hyper_util`'s `TowerToHyperService`, tonic servers
//! (`Server::builder().layer(..)`).
//!
//! With [`with_grpc`](ServerLayer::with_grpc) (a tonic server), a gRPC call
//! (`content-type: application/grpc`) gets an RPC span, as OpenTelemetry's
//! gRPC conventions have it: named `{package.Service}/{Method}`, with `rpc.system`,
//! `rpc.service`, `rpc.method`, `server.address`/`server.port` and the client and
//! peer attributes below, and `rpc.grpc.status_code`, an Error for the codes the
//! conventions count as the server's (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
//! INTERNAL, UNAVAILABLE, DATA_LOSS), whose `grpc-message` (percent-decoded) is the
//! status description. The status comes from the response's head when
//! the call failed before its first message (tonic's `Err(Status)`), else from the
//! trailers that end its body; a call that ends with neither (a server that broke the
//! protocol), or whose service fails with no response (a timeout or load-shedding
//! layer inside this one), is UNKNOWN, as its clients take it, and one the client
//! cancels before the handler answers (or mid-stream) is CANCELLED, the client's doing,
//! not an Error; one dropped once the deadline its `grpc-timeout` set has passed is
//! DEADLINE_EXCEEDED, an Error (tonic's timeout layer, outside this one, drops its
//! future then and answers the client CANCELLED "Timeout expired", tonic's mapping; with
//! `Server::timeout` and no client deadline the drop looks like a cancel here). A call answered UNIMPLEMENTED before its first message
//! (what tonic's router answers for a service or method it does not serve; also a
//! handler's own `Status::unimplemented`), or answered by a route that is not gRPC's
//! (no `application/grpc` content type: a REST handler or a fallback beside tonic's
//! routes), is renamed `_OTHER`, with `rpc.service` and `rpc.method` `_OTHER` and the
//! path the client sent in `rpc.method_original`: a client cannot make a new span name
//! per call with made-up paths. The service and method are the path's last two
//! segments, so calls under a prefix (routes nested under `/grpc`) are named by them.
//!
//! For each request it reads the caller's context and baggage from the headers (in
//! the formats the provider's propagators name), starts a `SERVER` span under that
//! context, keeps the span's context and the baggage current while the inner service
//! makes and polls its response future (on whichever worker thread polls it), records
//! `http.response.status_code` when the response's head is ready, with an Error status
//! and `error.type` for a 5xx or a service error (OpenTelemetry's HTTP server
//! conventions: a 4xx is the client's error, not the server span's), and ends the span
//! when the response has been sent: the response's body ([`ServerBody`]) ends it after
//! its last frame or the length its `Content-Length` announced (a streamed body,
//! server-sent events, a gRPC stream are covered, with the span and baggage current
//! while the body makes its frames), an Error `_OTHER` if the body fails, or when the
//! server drops the body first: an Error `cancelled` (the client went away mid-body; a
//! gRPC call gets `rpc.grpc.status_code` CANCELLED instead, the client's doing, or
//! DEADLINE_EXCEEDED once its `grpc-timeout` has run out),
//! except for a response that sends no body (to a `HEAD` request, a 1xx, 204 or 304);
//! an empty body ends it with the head. A handler that panics ends it an Error with the
//! `error.type` `panicked`; a request whose future is dropped before it completes (the
//! client went away, a timeout around the service gave up) ends it then, an Error with
//! the `error.type` `cancelled` (a gRPC call: CANCELLED, or DEADLINE_EXCEEDED past its
//! deadline), after what the handler still held.
//!
//! Recorded besides, as OpenTelemetry's HTTP server span conventions ask:
//! `http.request.method` (`_OTHER`, with `http.request.method_original`, for a method
//! the conventions do not name), `http.route`, `url.path`, `url.query` (the values of
//! the keys the conventions list as secrets, such as `sig`, replaced by `REDACTED`;
//! [`without_query`](ServerLayer::without_query) leaves it out), `url.scheme`,
//! `server.address` and `server.port`, `client.address`, `network.peer.address` and
//! `network.peer.port` (when told where the connection's peer address is:
//! [`with_peer`](ServerLayer::with_peer)), `network.protocol.version` and
//! `user_agent.original`. With a custom sampler (`RootSampler::Custom`, which may
//! decide by attributes) these (and a gRPC call's `rpc.*` and server) are gathered
//! before the span starts and given to it in `SamplingParams::attributes`: to drop
//! health checks by `url.path`, say; with the built-in samplers, only once the span
//! records.
//!
//! Behind a reverse proxy, the original request's scheme, host and client come from
//! the first element of `Forwarded` (`proto`, `host`, `for`), else from
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and the first address of `X-Forwarded-For`,
//! as the conventions say; without them, the scheme is the request URI's (HTTP/2) or
//! the one the layer is given ([`with_scheme`](ServerLayer::with_scheme), `http`
//! unless told), the host that of `:authority` or `Host`, and the client the
//! connection's peer. A client can send these headers itself: they are recorded, never
//! trusted for anything else, and only a scheme of `http` or `https` and a client that
//! is an IP address are taken from them.
//!
//! The span is named `{method}`, or `{method} {route}` when the layer is told how to
//! find the route (a template such as `/users/{id}`, never the raw path, whose ids
//! would make every name different): with axum, the request carries its `MatchedPath`
//! once routed, and `Router::layer` wraps each route and the fallback after routing
//! (axum 0.8), so every request gets a span, named by its route when one matched and
//! by its method alone when none did (a 404):
//!
//! ```ignore
//! use axum::extract::MatchedPath;
//! let router = axum::Router::new()
//!     .route("/users/{id}", axum::routing::get(handler))
//!     .layer(
//!         ServerLayer::new(provider)
//!             .with_route(|ext| ext.get::<MatchedPath>().map(MatchedPath::as_str)),
//!     );
//! ```
//!
//! (The README has this compiled, with axum; `examples/server/tests/server_layer.rs`
//! checks both names over TCP.) `route_layer` instead wraps the routes alone: a request
//! that matches no route gets no span, and its context is not read. Use one or the
//! other, not both: each would start a server span of its own, and a request without
//! a `traceparent` would make two traces. (Found by review: these docs said
//! `Router::layer` ran before routing and named spans by the method alone.) On an
//! inner router of `Router::nest`, the path axum hands the layer has the prefix taken
//! off, so `url.path` is the nested one. Handlers find
//! the span's context with
//! [`current_context`](crate::current_context) and the baggage with
//! [`current_baggage`](crate::current_baggage), and record on the span itself through
//! the [`ServerSpan`] in the request's extensions (axum: `Extension<ServerSpan>`):
//! attributes, events, an error, an Error status for a request answered 200, until the
//! response's head is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf as _;

use picotrace::semconv;
use tower_service::Service;

use crate::http_conv::{
    grpc_call, grpc_status, method_and_name, protocol_version, redact_query, StartAttributes,
    GRPC_CANCELLED, GRPC_DEADLINE_EXCEEDED, GRPC_UNIMPLEMENTED, GRPC_UNKNOWN,
};
use crate::{FutureExt as _, HeaderMapCarrier, Propagators, StdSpan, StdTracer, TracerProvider};

/// Finds a request's route template in its extensions (axum: `MatchedPath`).
pub type RouteOf = fn(&http::Extensions) -> Option<&str>;

/// Finds the address of a request's connection peer in its extensions (axum:
/// `ConnectInfo<SocketAddr>`, with `into_make_service_with_connect_info`).
pub type PeerOf = fn(&http::Extensions) -> Option<std::net::SocketAddr>;

/// A `tower` layer that traces each request in a server span (see the [module
/// documentation](self)).
#[derive(Clone, Copy)]
pub struct ServerLayer {
    tracer: &'static StdTracer,
    propagators: Propagators,
    route: Option<RouteOf>,
    peer: Option<PeerOf>,
    scheme: &'static str,
    query: bool,
    grpc: bool,
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("propagators", &self.propagators)
            .field("route", &self.route.is_some())
            .field("peer", &self.peer.is_some())
            .field("scheme", &self.scheme)
            .field("query", &self.query)
            .field("grpc", &self.grpc)
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
            peer: None,
            scheme: "http",
            query: true,
            grpc: false,
        }
    }

    /// Names spans `{method} {route}` and records `http.route` with the template
    /// `route` finds in the request's extensions (axum's `MatchedPath`, under
    /// `Router::layer` or `route_layer`).
    #[must_use]
    pub fn with_route(mut self, route: RouteOf) -> Self {
        self.route = Some(route);
        self
    }

    /// Records `network.peer.address` and `network.peer.port` (and `client.address`,
    /// when no proxy header names the client) from the address `peer` finds in the
    /// request's extensions. With axum:
    /// `.with_peer(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))`, served
    /// with `into_make_service_with_connect_info::<SocketAddr>()`.
    #[must_use]
    pub fn with_peer(mut self, peer: PeerOf) -> Self {
        self.peer = Some(peer);
        self
    }

    /// The `url.scheme` of requests that neither a proxy header nor their URI gives one
    /// for: `"https"` for a server that terminates TLS itself (`"http"` unless told).
    #[must_use]
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.scheme = scheme;
        self
    }

    /// Traces requests with a `content-type` of `application/grpc…` as gRPC calls:
    /// RPC spans named `{package.Service}/{Method}` (see the [module
    /// documentation](self)). For a tonic server; off unless asked, since a client
    /// chooses its `content-type`: on a REST server it could name spans by any path.
    #[must_use]
    pub fn with_grpc(mut self) -> Self {
        self.grpc = true;
        self
    }

    /// Leaves `url.query` out, for services whose queries carry secrets beyond those
    /// the conventions name (a `token=`, an e-mail address).
    #[must_use]
    pub fn without_query(mut self) -> Self {
        self.query = false;
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

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ServerService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = http::Response<ServerBody<ResBody>>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let ServerLayer {
            tracer,
            propagators,
            route,
            peer,
            scheme,
            query,
            grpc,
        } = self.layer;
        let carrier = HeaderMapCarrier(request.headers());
        let context = propagators.extract_context(&carrier);
        // One bag, shared by the guard below and the future; most requests bring none,
        // and then no baggage is current in the handler, none from around the layer
        // either (found by review: one empty bag that every request shared was cloned
        // and dropped at every poll, an atomic counter that every worker wrote).
        let baggage = propagators.extract_baggage(&carrier);
        // A bag that dropped members is kept, empty or not: the handler sees the count,
        // and a proxy that forwards the caller's headers injects it, which removes the
        // caller's `baggage` (found by review: only a bag with a valid member did).
        let baggage =
            (!baggage.is_empty() || baggage.dropped() > 0).then(|| std::sync::Arc::new(baggage));
        // The conventions' name for a method they do not know is `HTTP`.
        let (method, name_method) = method_and_name(request.method().as_str());
        let route = route.and_then(|route| route(request.extensions()));
        let grpc = grpc.then(|| grpc_call(&request)).flatten();
        let name = match (grpc, route) {
            // An RPC span, as OpenTelemetry's gRPC conventions name it.
            (Some((service, rpc)), _) => Some(format!("{service}/{rpc}")),
            (None, Some(route)) => Some(format!("{name_method} {route}")),
            (None, None) => None,
        };
        // What the request says of itself: gathered before the start when the sampler
        // may decide by it (a custom sampler dropping health checks by `url.path`; the
        // HTTP conventions: these SHOULD be given at creation; found by review: they
        // were set after the start, and such a sampler saw nothing), else only once the
        // span records.
        let peer = peer.and_then(|peer| peer(request.extensions()));
        let what = RequestAttributes {
            grpc,
            method,
            route,
            scheme,
            query,
            peer,
        };
        let early_parts = tracer
            .sampler_reads_attributes()
            .then(|| RequestParts::new(&request, &what));
        let early = early_parts
            .as_ref()
            .map(|parts| parts.attributes(&request, &what));
        let mut builder = tracer
            .span_builder(name.as_deref().unwrap_or(name_method))
            .kind(picotrace::SpanKind::Server)
            .parent(&context);
        if let Some(attributes) = &early {
            builder = builder.sampler_attributes(attributes.as_slice());
        }
        let mut span = builder.start();
        if span.is_recording() {
            match &early {
                Some(attributes) => attributes.record_on(&mut span),
                None => {
                    let parts = RequestParts::new(&request, &what);
                    parts.attributes(&request, &what).record_on(&mut span);
                }
            }
        }
        // Kept for the rename of a call to a method the server does not serve (a cheap
        // clone: the URI's bytes are shared).
        let grpc = grpc.and_then(|_| request.uri().path_and_query().cloned());
        let deadline = grpc.as_ref().and_then(|_| deadline_of(request.headers()));
        // From the request, not the name the conventions give its method (found by
        // review: with a known-methods list that leaves HEAD out it is `_OTHER`, and
        // a HEAD response's unsent body was taken for a cancelled one).
        let head = request.method() == http::Method::HEAD;
        let current = span.trace_context();
        // The handler's way to the span, until the response's head is ready.
        let span = ServerSpan::new(span);
        request.extensions_mut().insert(span.clone());
        let mut panicked = false;
        // The inner service may do work as it makes its future: with the span current.
        let future = {
            // A panic there is the handler's as much as one in its future (found by
            // review: the span ended an Error without `error.type`).
            let guard = PanicGuard {
                span: &span,
                panicked: &mut panicked,
                already_panicking: std::thread::panicking(),
                end: true,
            };
            let _current = crate::enter_context(current.clone());
            let _baggage = crate::context::enter_baggage_or_none(baggage.clone());
            // Wrapped here: it keeps the baggage current where it is made (none, for
            // a request that brought none), not that around the layer.
            let future = self.inner.call(request).with_context(current);
            drop(guard);
            future
        };
        ServerFuture {
            future: Some(crate::WithBaggage::new(future, baggage.clone())),
            span,
            panicked,
            grpc,
            deadline,
            head,
            baggage,
        }
    }
}

/// What the layer knows of a request besides the request itself.
struct RequestAttributes<'a> {
    grpc: Option<(&'a str, &'a str)>,
    method: &'static str,
    route: Option<&'a str>,
    scheme: &'static str,
    query: bool,
    peer: Option<std::net::SocketAddr>,
}

/// The parts of a request's attributes that are made, not borrowed: the server's
/// authority, the client's and the peer's addresses as text, the redacted query.
struct RequestParts<'r> {
    authority: Option<http::uri::Authority>,
    client: Option<IpText>,
    peer: Option<IpText>,
    query: Option<std::borrow::Cow<'r, str>>,
}

impl<'r> RequestParts<'r> {
    fn new<B>(request: &'r http::Request<B>, what: &RequestAttributes<'_>) -> Self {
        let client = match original_client(request.headers()) {
            Ok(Some(client)) => Some(client),
            // No proxy header: the peer is the client.
            Ok(None) => what.peer.map(|p| p.ip()),
            Err(()) => None,
        };
        Self {
            authority: server_authority(request),
            client: client.map(IpText::new),
            peer: what.peer.map(|p| IpText::new(p.ip())),
            query: match (what.grpc, what.query, request.uri().query()) {
                (None, true, Some(q)) => Some(redact_query(q)),
                _ => None,
            },
        }
    }

    /// The span's attributes: the gRPC conventions' for a gRPC call, else the HTTP
    /// server conventions'.
    fn attributes<'a, B>(
        &'a self,
        request: &'a http::Request<B>,
        what: &RequestAttributes<'a>,
    ) -> StartAttributes<'a> {
        let mut attributes = StartAttributes::new();
        if let Some((service, rpc)) = what.grpc {
            attributes.push("rpc.system", "grpc");
            attributes.push("rpc.service", service);
            attributes.push("rpc.method", rpc);
            push_server(&mut attributes, self.authority.as_ref());
        } else {
            attributes.push(semconv::HTTP_REQUEST_METHOD, what.method);
            if what.method == "_OTHER" {
                attributes.push("http.request.method_original", request.method().as_str());
            }
            if let Some(route) = what.route {
                attributes.push(semconv::HTTP_ROUTE, route);
            }
            push_request(
                &mut attributes,
                request,
                what.scheme,
                self.query.as_deref(),
                self.authority.as_ref(),
            );
        }
        if let Some(client) = &self.client {
            attributes.push("client.address", client.as_str());
        }
        if let (Some(peer), Some(ip)) = (what.peer, &self.peer) {
            attributes.push("network.peer.address", ip.as_str());
            attributes.push("network.peer.port", i64::from(peer.port()));
        }
        attributes
    }
}

/// An IP address's text, formatted on the stack.
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    fn new(ip: std::net::IpAddr) -> Self {
        use std::fmt::Write as _;
        let mut text = Self {
            buf: [0; 48],
            len: 0,
        };
        // The longest IPv6 text is 45 bytes: it fits.
        let _ = write!(text, "{ip}");
        text
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// What the request says of itself: path, query (`redacted_query`, when recorded),
/// scheme, server, protocol version and user agent.
fn push_request<'a, B>(
    attributes: &mut StartAttributes<'a>,
    request: &'a http::Request<B>,
    scheme: &'a str,
    redacted_query: Option<&'a str>,
    authority: Option<&'a http::uri::Authority>,
) {
    let uri = request.uri();
    attributes.push(semconv::URL_PATH, uri.path());
    if let Some(query) = redacted_query {
        attributes.push("url.query", query);
    }
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Each proxy adds its own: the first is the client's.
    let first = |name: &str| header(name).and_then(|v| v.split(',').next());
    // Only `http` and `https`, from a proxy header or the URI: both are the client's
    // text (the URI's scheme is HTTP/2's `:scheme`, or an HTTP/1.1 absolute-form target).
    let known = |s: &str| {
        ["http", "https"]
            .into_iter()
            .find(|known| s.trim().eq_ignore_ascii_case(known))
    };
    let proxied_scheme = forwarded(headers, "proto")
        .or_else(|| first("x-forwarded-proto"))
        .and_then(known);
    let scheme = proxied_scheme
        .or_else(|| uri.scheme_str().and_then(known))
        .unwrap_or(scheme);
    attributes.push("url.scheme", scheme);
    push_server(attributes, authority);
    if let Some(version) = protocol_version(request.version()) {
        attributes.push("network.protocol.version", version);
    }
    if let Some(agent) = headers.get("user-agent").and_then(|v| v.to_str().ok()) {
        attributes.push("user_agent.original", agent);
    }
}

/// The server the request names: the original host a proxy passed on, else HTTP/2's
/// `:authority` (in the URI), else HTTP/1.1's `Host`.
fn server_authority<B>(request: &http::Request<B>) -> Option<http::uri::Authority> {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    forwarded(headers, "host")
        .or_else(|| header("x-forwarded-host").and_then(|v| v.split(',').next()))
        .and_then(|h| h.trim().parse::<http::uri::Authority>().ok())
        .or_else(|| request.uri().authority().cloned())
        .or_else(|| header("host").and_then(|h| h.parse().ok()))
}

/// `server.address` and `server.port` of `authority`.
fn push_server<'a>(
    attributes: &mut StartAttributes<'a>,
    authority: Option<&'a http::uri::Authority>,
) {
    if let Some(authority) = authority {
        // An IPv6 host without the brackets of its URI form, as `client.address` has it.
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        attributes.push(semconv::SERVER_ADDRESS, host);
        if let Some(port) = authority.port_u16() {
            attributes.push(semconv::SERVER_PORT, i64::from(port));
        }
    }
}

/// The gRPC status codes a server span counts as its own failure (OpenTelemetry's
/// gRPC conventions): UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
/// UNAVAILABLE, DATA_LOSS; the others are the client's.
const GRPC_SERVER_ERRORS: [u8; 6] = [2, 4, 12, 13, 14, 15];

/// Records a gRPC response's outcome from its head: its `grpc-status` when the head
/// carries it (a call that failed before its first message: what tonic sends for an
/// `Err(Status)`; one that did not sends it in the trailers, read by [`ServerBody`]),
/// or the HTTP status when it is not 200.
fn record_grpc_outcome<B>(span: &mut StdSpan, response: &http::Response<B>, path: &str) -> bool {
    // An answer that is not gRPC's: the request said it was, but the route that took it
    // is not a gRPC method (a REST handler or a fallback beside tonic's routes): named
    // as an unimplemented method is (found by review: named from the path, a new name
    // for every id a scanner tried).
    let grpc_answer = crate::http_conv::has_grpc_content_type(response.headers());
    if !grpc_answer {
        name_other(span, path);
    }
    let code = match grpc_status(response.headers()) {
        Some(code) => code,
        // gRPC answers every call with HTTP 200: another status failed the call, with
        // the code gRPC's clients take it for (found by review: no
        // `rpc.grpc.status_code`, where the client's span had one).
        None if response.status() != http::StatusCode::OK => {
            // The HTTP status too: a proxy's 503 and a handler's UNAVAILABLE differ
            // there (found by review).
            let status = response.status().as_u16();
            span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status);
            crate::http_conv::grpc_code_of_http(status)
        }
        None => return false,
    };
    record_grpc_code(span, code);
    describe_grpc_error(span, code, response.headers());
    if code == GRPC_UNIMPLEMENTED && grpc_answer {
        name_other(span, path);
    }
    true
}

/// A service or method the server may not serve: no span name or attribute value of
/// the client's choosing but `rpc.method_original` (the RPC conventions' `_OTHER`).
fn name_other(span: &mut StdSpan, path: &str) {
    span.update_name("_OTHER");
    span.set_attribute("rpc.service", "_OTHER");
    span.set_attribute("rpc.method", "_OTHER");
    let original = path.strip_prefix('/').unwrap_or(path);
    span.set_attribute_dyn("rpc.method_original", original);
}

/// When a gRPC call's deadline (its `grpc-timeout`, counted from now, when the request
/// came) has passed, as far as the server can tell: a little before it (a tenth of the
/// timeout, at most 100 ms), since the client's deadline began when it sent the
/// request (its reset at the deadline comes that much early: found by review, a 5 ms
/// margin missed it on a loaded machine), and a timeout layer outside this one
/// (tonic's `GrpcTimeout`) counts from before this layer's call. A call the client
/// gives up on within that tenth is taken for one whose deadline passed.
fn deadline_of(headers: &http::HeaderMap) -> Option<std::time::Instant> {
    // No clock read for a call without a deadline (found by review).
    if !headers.contains_key("grpc-timeout") {
        return None;
    }
    let now = std::time::Instant::now();
    let deadline = crate::http_conv::grpc_deadline(headers, now)?;
    let margin = ((deadline - now) / 10).min(std::time::Duration::from_millis(100));
    Some(deadline - margin)
}

/// The status of a gRPC call dropped before its status was sent: DEADLINE_EXCEEDED
/// once its deadline has passed (an Error of the server's, as the gRPC conventions
/// count it; found by a tonic user's tryout: CANCELLED and Unset), else CANCELLED (the
/// client went away: its doing).
fn dropped_code(deadline: Option<std::time::Instant>) -> u8 {
    match deadline {
        Some(deadline) if std::time::Instant::now() >= deadline => GRPC_DEADLINE_EXCEEDED,
        _ => GRPC_CANCELLED,
    }
}

/// A gRPC call that ended without a `grpc-status` (in its head or its trailers): the
/// server broke the protocol, and its clients take it for UNKNOWN (found by review: it
/// ended Unset, with no status code, where the same call with a body was UNKNOWN on
/// the client's side).
fn record_grpc_status_missing(span: &mut StdSpan) {
    record_grpc_code(span, GRPC_UNKNOWN);
}

/// Records the `grpc-status` in `headers` (a response's head, or its trailers), if
/// there is one: `rpc.grpc.status_code`, and an Error for a code the conventions count
/// as the server's. The code, if there was one.
fn record_grpc_status(span: &mut StdSpan, headers: &http::HeaderMap) -> Option<u8> {
    let code = grpc_status(headers)?;
    record_grpc_code(span, code);
    describe_grpc_error(span, code, headers);
    Some(code)
}

/// The `grpc-message` beside a status the conventions count as the server's error, as
/// the span's status description.
fn describe_grpc_error(span: &mut StdSpan, code: u8, headers: &http::HeaderMap) {
    if GRPC_SERVER_ERRORS.contains(&code) {
        crate::http_conv::describe_with_grpc_message(span, headers);
    }
}

/// `rpc.grpc.status_code` `code`, and an Error for a code the conventions count as the
/// server's.
fn record_grpc_code(span: &mut StdSpan, code: u8) {
    span.set_attribute("rpc.grpc.status_code", i64::from(code));
    if GRPC_SERVER_ERRORS.contains(&code) {
        span.set_attribute_fmt(semconv::ERROR_TYPE, format_args!("{code}"));
        span.set_error("");
    }
}

/// The value of parameter `name` in the first element of the first `Forwarded` header
/// (RFC 7239): what the proxy nearest the client saw of it. Quotes are taken off; a
/// `,` or `;` inside quotes is part of the value (found by review: it ended the
/// element).
fn forwarded<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    let value = headers.get(http::header::FORWARDED)?.to_str().ok()?;
    let mut quoted = false;
    let mut start = 0;
    // Pairs of the first element, split at `;` outside quotes; the element ends at a
    // `,` outside quotes.
    for (i, c) in value.char_indices().chain([(value.len(), ',')]) {
        match c {
            '"' => quoted = !quoted,
            ';' | ',' if !quoted => {
                if let Some((key, v)) = value[start..i].split_once('=') {
                    if key.trim().eq_ignore_ascii_case(name) {
                        let v = v.trim();
                        return Some(
                            v.strip_prefix('"')
                                .and_then(|v| v.strip_suffix('"'))
                                .unwrap_or(v),
                        );
                    }
                }
                if c == ',' {
                    return None;
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// The original client's IP address as proxy headers give it: `Forwarded`'s `for`,
/// else the first address of `X-Forwarded-For`. `Ok(None)` without either header;
/// `Err(())` when the one there names no IP address (`unknown`, an obfuscated
/// `_hidden` node, garbage): the client is not known then, and the connection's peer
/// (the proxy) is not it either.
///
/// A header there that is not visible ASCII names no address either: `Err(())` (found
/// by review: it read as no header, and the proxy was recorded as the client).
fn original_client(headers: &http::HeaderMap) -> Result<Option<std::net::IpAddr>, ()> {
    let text = |name| match headers.get(name).map(http::HeaderValue::to_str) {
        Some(Err(_)) => Err(()),
        Some(Ok(text)) => Ok(Some(text)),
        None => Ok(None),
    };
    let named = match text(http::header::FORWARDED.as_str())? {
        Some(_) => forwarded(headers, "for"),
        None => None,
    };
    let named = match named {
        Some(named) => Some(named),
        None => text("x-forwarded-for")?.and_then(|list| list.split(',').next()),
    };
    match named {
        None => Ok(None),
        Some(named) => node_ip(named.trim()).map(Some).ok_or(()),
    }
}

/// The IP address of an RFC 7239 node or an `X-Forwarded-For` entry, with or without
/// a port (an obfuscated one, `:_hidden`, too): IPv4 as is, IPv6 bare (as
/// `X-Forwarded-For` writes it) or in brackets (as `Forwarded` does).
fn node_ip(node: &str) -> Option<std::net::IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _port) = rest.split_once(']')?;
        return ip.parse::<std::net::Ipv6Addr>().ok().map(Into::into);
    }
    if let Ok(ip) = node.parse::<std::net::IpAddr>() {
        return Some(ip);
    }
    let (ip, _port) = node.split_once(':')?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(Into::into)
}

/// Marks the request's span an Error `panicked` if the poll it guards unwinds (a
/// handler that panicked), for the drop that follows to end it so: without it the span
/// ended as `cancelled`, blaming the client (found by review); it ends in the drop,
/// after what the handler held (found by review: ended here, it ended before its
/// children).
struct PanicGuard<'a> {
    span: &'a ServerSpan,
    panicked: &'a mut bool,
    already_panicking: bool,
    /// Guarding the inner service's `call`, after which no future will end the span:
    /// it ends here, whoever else holds the handle (a task the service spawned would
    /// keep it running; found by review).
    end: bool,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if !self.already_panicking && std::thread::panicking() {
            let marked = self.span.with(|span| {
                span.set_attribute(semconv::ERROR_TYPE, "panicked");
                span.set_error("panicked");
            });
            *self.panicked = marked.is_some();
            if self.end {
                drop(self.span.take());
            }
        }
    }
}

/// The request's server span, for the handler to record on: the layer puts it in the
/// request's extensions (axum: `Extension<ServerSpan>`), and takes the span back when
/// the response's head is ready, to record its status and end it with the body; after
/// that (a task the handler spawned, say) its methods do nothing. (The span's context
/// is [`current_context`](crate::current_context) in the handler, as before.)
///
/// ```ignore
/// async fn checkout(Extension(span): Extension<ServerSpan>) -> StatusCode {
///     span.set_attribute("user.id", 7);
///     if let Err(e) = charge().await {
///         span.record_error(&e);
///         span.set_error("payment failed"); // an Error though the answer is a 200
///     }
///     StatusCode::OK
/// }
/// ```
///
/// Each method takes a lock the layer takes only at the start and when the head is
/// ready (a handler's own concurrent tasks may share the handle).
#[derive(Clone)]
pub struct ServerSpan(std::sync::Arc<std::sync::Mutex<Option<StdSpan>>>);

impl ServerSpan {
    fn new(span: StdSpan) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(Some(span))))
    }

    /// Gives the span back to the layer (once: `None` after).
    fn take(&self) -> Option<StdSpan> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Runs `f` on the span, and returns what it returns; `None`, without running it,
    /// once the response's head is ready. `f` runs under the handle's lock: it must
    /// not use the same handle.
    pub fn with<R>(&self, f: impl FnOnce(&mut StdSpan) -> R) -> Option<R> {
        // A panic in an earlier `f` poisoned the lock: the span is still whole (its
        // writes are each complete), so it is used as it is.
        let mut span = self.0.lock().unwrap_or_else(|e| e.into_inner());
        span.as_mut().map(f)
    }

    /// Sets an attribute (a key made at run time: [`with`](Self::with) and
    /// `set_attribute_dyn`).
    pub fn set_attribute<M>(&self, key: &'static str, value: impl picotrace::AttributeArg<M>) {
        self.with(|span| span.set_attribute(key, value));
    }

    /// Adds an event.
    pub fn add_event(&self, name: &str) {
        self.with(|span| span.add_event(name));
    }

    /// Records an error as an `exception` event (see [`picotrace::Span::record_error`]).
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        self.with(|span| span.record_error(error));
    }

    /// Sets the status to Error with a description (a 5xx answer sets it too).
    pub fn set_error(&self, description: &str) {
        self.with(|span| span.set_error(description));
    }

    /// Renames the span (its name is `{method} {route}`, or the RPC's).
    pub fn update_name(&self, name: &str) {
        self.with(|span| span.update_name(name));
    }
}

impl std::fmt::Debug for ServerSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let span = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_tuple("ServerSpan").field(&*span).finish()
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`]: records the response's status when
    /// it is ready and hands the request's span to its [`ServerBody`]; ends the span
    /// when dropped first.
    #[must_use = "futures do nothing unless polled"]
    pub struct ServerFuture<F> {
        // `None` once dropped early.
        #[pin]
        future: Option<crate::WithBaggage<crate::WithContext<F>>>,
        // Shared with the handler until the response's head is ready.
        span: ServerSpan,
        // The handler panicked: the span is an Error `panicked` already.
        panicked: bool,
        // A gRPC call (its path): its outcome is its `grpc-status`.
        grpc: Option<http::uri::PathAndQuery>,
        // When a gRPC call's `grpc-timeout` runs out (see `deadline_of`).
        deadline: Option<std::time::Instant>,
        // A `HEAD` request: its response's body is never sent.
        head: bool,
        // The request's baggage, current while the body makes its frames.
        baggage: Option<std::sync::Arc<picotrace::Baggage>>,
    }

    impl<F> PinnedDrop for ServerFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response was ready: the client went away, or a
            // timeout around the service gave up. What the handler held (its child
            // spans) goes first, so that they end before their parent.
            let mut this = this.project();
            this.future.set(None);
            if let Some(mut span) = this.span.take() {
                if *this.panicked {
                    // An Error `panicked` already; a gRPC span must have a status
                    // code: UNKNOWN, what a client makes of a call that failed without
                    // one (found by review: it had none).
                    if this.grpc.is_some() {
                        span.set_attribute("rpc.grpc.status_code", i64::from(GRPC_UNKNOWN));
                    }
                } else if this.grpc.is_some() {
                    // The client cancelled the call: its doing, CANCELLED, as when it
                    // goes mid-body (found by review: an Error `cancelled` without the
                    // call's status code); or its deadline passed (see `dropped_code`).
                    record_grpc_code(&mut span, dropped_code(*this.deadline));
                } else {
                    span.set_attribute(semconv::ERROR_TYPE, "cancelled");
                    span.set_error("");
                }
            }
        }
    }
}

impl<F, ResBody, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: http_body::Body,
{
    type Output = Result<http::Response<ServerBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            panic!("ServerFuture polled after it was dropped");
        };
        let guard = PanicGuard {
            span: this.span,
            panicked: this.panicked,
            already_panicking: std::thread::panicking(),
            end: false,
        };
        let polled = future.poll(cx);
        drop(guard);
        let result = match polled {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let mut span = this.span.take();
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                if let Some(span) = span.as_mut() {
                    if this.grpc.is_some() {
                        // UNKNOWN: what tonic answers for a service's error, and its
                        // client sees (found by review: no `rpc.grpc.status_code`,
                        // which the gRPC conventions require).
                        record_grpc_code(span, GRPC_UNKNOWN);
                    } else {
                        span.set_attribute(semconv::ERROR_TYPE, "_OTHER");
                        span.set_error("");
                    }
                }
                return Poll::Ready(Err(error));
            }
        };
        // A gRPC call's outcome, once known (else the trailers bring it).
        let mut grpc_known = false;
        if let Some(span) = span.as_mut() {
            if let Some(path) = this.grpc.as_ref() {
                grpc_known = record_grpc_outcome(span, &response, path.path());
            } else {
                let status = response.status();
                span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
                // 5xx, and a code past 599 no client can interpret (the conventions:
                // "as well as any other code the client failed to interpret").
                if status.as_u16() >= 500 {
                    span.set_attribute_dyn(semconv::ERROR_TYPE, status.as_str());
                    span.set_error("");
                }
            }
        }
        let grpc = this.grpc.is_some();
        let baggage = this.baggage.take();
        // RFC 9110: no body goes with these, whatever the response holds.
        let status = response.status();
        let sends_body = !(*this.head
            || status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED);
        // The length the head announces: a body that has sent that much is complete,
        // and HTTP/1 servers stop polling it there (hyper drops it unpolled).
        let length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Poll::Ready(Ok(response.map(|body| {
            // Not for gRPC: its trailers follow the announced length, and an HTTP/2
            // server polls the body on for them (found by review: a hand-made answer
            // of announced length ended its span before its `grpc-status`).
            let length = match (sends_body, grpc) {
                (false, _) => Some(0),
                (true, true) => None,
                (true, false) => length.or(body.size_hint().exact()),
            };
            ServerBody::new(
                body,
                span,
                grpc.then_some(grpc_known),
                *this.deadline,
                baggage,
                length,
            )
        })))
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`ServerService`]: the inner service's body, which ends the
    /// request's span when it has made its last frame (after a gRPC call's trailers,
    /// whose `grpc-status` it records) or sent the length its head announced (not a
    /// gRPC call's: its trailers follow), fails (an Error `_OTHER`), or is dropped
    /// first: an Error `cancelled` (the client went away
    /// mid-body), a gRPC call's `rpc.grpc.status_code` CANCELLED (1, the client's
    /// doing, not an Error of the server's; a status the head gave stays), an Error
    /// `panicked` if dropped by a panic; a body dropped before its first frame was
    /// asked for ends the span as it is (a gRPC call's with CANCELLED, if its status is
    /// not known: its span must have one): a
    /// layer outside replaced it, or (HTTP/2) the client reset the stream before the
    /// server asked for a frame, which cannot be told apart here.
    /// A response that sends no body has ended its span with the head. The span and
    /// the request's baggage are current while it makes its frames, so that spans a
    /// streamed body starts are the request's children.
    pub struct ServerBody<B> {
        // `None` once dropped (before the span: it ends after what the body held).
        #[pin]
        inner: Option<B>,
        span: Option<StdSpan>,
        // The span's context, made current while a frame is made and while the body
        // is dropped (also after the span has ended).
        context: Option<picotrace::TraceContext>,
        baggage: Option<std::sync::Arc<picotrace::Baggage>>,
        grpc: bool,
        // A gRPC call's status is recorded (from the head, or the trailers).
        grpc_known: bool,
        // When a gRPC call's `grpc-timeout` runs out (see `deadline_of`).
        deadline: Option<std::time::Instant>,
        // Bytes still to send of the length the head announced, if it did.
        left: Option<u64>,
        // Making a frame panicked.
        panicked: bool,
        // A frame was asked for.
        polled: bool,
    }

    impl<B> PinnedDrop for ServerBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: the server stopped sending (the client went
            // away). What the body held goes first, so that its spans end before the
            // request's.
            let mut this = this.project();
            {
                // With the request's context and baggage current, as the frames were
                // made (found by review: what the body held, a stream that logs or
                // ends a span on drop, found none); also once the span has ended with
                // the response, its announced length sent or no body to send (found
                // by review: nothing was current then).
                let _current = this.context.clone().map(crate::enter_context);
                let _baggage = crate::context::enter_baggage_or_none(this.baggage.clone());
                this.inner.set(None);
            }
            if let Some(mut span) = this.span.take() {
                if *this.panicked {
                    // Making a frame panicked (the server's own failure; found by
                    // review: any unwind that dropped the body was taken for it).
                    span.set_attribute(semconv::ERROR_TYPE, "panicked");
                    span.set_error("panicked");
                    // A gRPC span must have a status code (see `ServerFuture`).
                    if *this.grpc && !*this.grpc_known {
                        span.set_attribute("rpc.grpc.status_code", i64::from(GRPC_UNKNOWN));
                    }
                } else if *this.grpc {
                    // The client cancelled the call (RST_STREAM): its doing. (Also
                    // before the first frame was asked for: a gRPC span must have a
                    // status code.) A status the head gave stays (found by review: it
                    // was overwritten with CANCELLED).
                    if !*this.grpc_known {
                        record_grpc_code(&mut span, dropped_code(*this.deadline));
                    }
                } else if *this.polled {
                    span.set_attribute(semconv::ERROR_TYPE, "cancelled");
                    span.set_error("");
                }
                // Never polled: a layer outside replaced the body (an error page, a
                // `map_response`), not a client gone mid-body (found by review: such
                // responses were Errors `cancelled`). It ends as it is.
            }
        }
    }
}

impl<B: http_body::Body> ServerBody<B> {
    /// `grpc`: for a gRPC call, whether its status is known from the head; `deadline`:
    /// when its `grpc-timeout` runs out.
    fn new(
        inner: B,
        mut span: Option<StdSpan>,
        grpc: Option<bool>,
        deadline: Option<std::time::Instant>,
        baggage: Option<std::sync::Arc<picotrace::Baggage>>,
        length: Option<u64>,
    ) -> Self {
        // An empty body is sent with the head: the span ends now. (A server does not
        // poll a body that says it has ended, nor one whose head announced no bytes:
        // it drops it whenever it is done. Found by review: an empty file's stream,
        // which never says it has ended, was recorded `cancelled`.)
        // Kept after the span ends: what the body holds is dropped with it current.
        let context = span
            .as_ref()
            .map(StdSpan::trace_context)
            .filter(|cx| cx.span_context.is_valid());
        if inner.is_end_stream() || length == Some(0) {
            if let (Some(false), Some(span)) = (grpc, span.as_mut()) {
                record_grpc_status_missing(span);
            }
            span = None;
        }
        Self {
            inner: Some(inner),
            span,
            context,
            baggage,
            grpc: grpc.is_some(),
            grpc_known: grpc == Some(true),
            deadline,
            left: length,
            polled: false,
            panicked: false,
        }
    }
}

/// Sets `flag` if the poll it guards unwinds (and the thread was not unwinding
/// already when it began).
pub(crate) struct UnwindFlag<'a> {
    flag: &'a mut bool,
    already: bool,
}

impl<'a> UnwindFlag<'a> {
    /// Guards a poll from here on.
    pub(crate) fn new(flag: &'a mut bool) -> Self {
        Self {
            flag,
            already: std::thread::panicking(),
        }
    }
}

impl Drop for UnwindFlag<'_> {
    fn drop(&mut self) {
        if !self.already && std::thread::panicking() {
            *self.flag = true;
        }
    }
}

/// A body that ends before the length its `Content-Length` announced (`left` bytes
/// short) fails its response: the server cannot finish the message, and hyper closes
/// the connection (the span ended Unset, as a complete response).
fn fail_if_short(span: &mut Option<StdSpan>, left: Option<u64>) {
    if let (Some(span), Some(1..)) = (span.as_mut(), left) {
        span.set_attribute(semconv::ERROR_TYPE, "_OTHER");
        span.set_error("response body shorter than its Content-Length");
    }
}

/// A gRPC call's body that ended without a `grpc-status` in the head or the trailers.
fn no_grpc_status(span: &mut Option<StdSpan>, grpc: bool, known: bool) {
    if let (true, false, Some(span)) = (grpc, known, span.as_mut()) {
        record_grpc_status_missing(span);
    }
}

impl<B> std::fmt::Debug for ServerBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBody")
            .field("span", &self.span)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

impl<B: http_body::Body> http_body::Body for ServerBody<B>
where
    B::Error: std::fmt::Display,
{
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
        *this.polled = true;
        let polled = {
            // The request's context and baggage, as in the handler: after the span has
            // ended too (a body polled once more past its announced length, as h2
            // does), or what that poll starts begins a new trace that carries the
            // request's baggage (found by review); the drop enters them as well.
            let _current = this.context.clone().map(crate::enter_context);
            let _baggage = crate::context::enter_baggage_or_none(this.baggage.clone());
            let guard = UnwindFlag::new(&mut *this.panicked);
            let polled = inner.as_mut().poll_frame(cx);
            drop(guard);
            polled
        };
        let (ended, complete) = match &polled {
            Poll::Pending => (false, false),
            Poll::Ready(Some(Ok(frame))) => {
                if let (true, Some(trailers), Some(span)) =
                    (*this.grpc, frame.trailers_ref(), this.span.as_mut())
                {
                    *this.grpc_known |= record_grpc_status(span, trailers).is_some();
                }
                if let (Some(data), Some(left)) = (frame.data_ref(), this.left.as_mut()) {
                    *left = left.saturating_sub(data.remaining() as u64);
                }
                // Trailers are a body's last frame; the announced length sent is the
                // end of the response too, but the body may still have frames to
                // give (HTTP/2 trailers), so it stays.
                let last = frame.is_trailers() || inner.is_end_stream();
                if last {
                    no_grpc_status(this.span, *this.grpc, *this.grpc_known);
                    fail_if_short(this.span, *this.left);
                }
                (last || *this.left == Some(0), last)
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(span) = this.span.as_mut() {
                    span.set_attribute(semconv::ERROR_TYPE, "_OTHER");
                    // What failed, as the status description (found by a new user's
                    // tryout: a stream that broke left an Error with nothing to say why),
                    // unless the handler gave one (found by review: written over it).
                    span.set_status_if_unset(picotrace::Status::Error {
                        description: &e.to_string(),
                    });
                }
                // A gRPC call whose body failed before its status: UNKNOWN, as its
                // clients take it (found by review: no `rpc.grpc.status_code`, which
                // the gRPC conventions require).
                no_grpc_status(this.span, *this.grpc, *this.grpc_known);
                // A failed body gives nothing more: dropped before the span ends.
                (true, true)
            }
            Poll::Ready(None) => {
                no_grpc_status(this.span, *this.grpc, *this.grpc_known);
                fail_if_short(this.span, *this.left);
                (true, true)
            }
        };
        if complete {
            // Dropped before the span ends: it ends after what the body held, dropped
            // as the frames were made, with the request current (also when the span
            // ended earlier, its announced length sent: found by review).
            let _current = this.context.clone().map(crate::enter_context);
            let _baggage = crate::context::enter_baggage_or_none(this.baggage.clone());
            this.inner.set(None);
        }
        if ended {
            this.span.take();
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
