//! [`HttpClientSpan`]: a `CLIENT` span for an outgoing HTTP request, with the
//! attributes of OpenTelemetry's HTTP client conventions, whose context (and the
//! current baggage) goes out in the request's headers. For any client whose requests
//! have an `http::HeaderMap`: reqwest, hyper, ureq 3.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use picotrace_std::HttpClientSpan;
//! let provider = picotrace_std::TracerProvider::builder().build();
//! // A 4xx or 5xx is a response to record, not an `Err` (ureq's default).
//! let agent: ureq::Agent = ureq::Agent::config_builder()
//!     .http_status_as_error(false)
//!     .build()
//!     .into();
//! let mut request = http::Request::get("http://inventory.internal/items?sig=s3cr3t").body(())?;
//! // A child of the current span; `traceparent` and the current baggage are added.
//! let call = HttpClientSpan::start_request(&provider, &mut request);
//! match agent.run(request) {
//!     Ok(response) => call.finish_response(&response),
//!     Err(e) => call.fail("_OTHER", &e),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! With reqwest, whose requests have the same `http` types (the README shows it):
//! `HttpClientSpan::builder(request.method(), request.url().as_str()).start(provider)`,
//! then `call.inject(request.headers_mut())`.
//!
//! Recorded, as the conventions ask: the span named `{method}` (`{method}
//! {url.template}` when given a template, `HTTP` for a method the conventions do not
//! name), `http.request.method` (`_OTHER` with `http.request.method_original`),
//! `url.full` (credentials replaced by `REDACTED:REDACTED`, the values of signed-URL
//! query keys such as `sig` by `REDACTED`), `url.template`, `server.address`,
//! `server.port` (the scheme's default when the URL has none), `http.request.resend_count`
//! for a retry ([`HttpClientSpanBuilder::resend_count`]), given to a custom
//! sampler before the start (`RootSampler::Custom` may decide by them), then
//! `http.response.status_code`, and an Error with the status code as `error.type`
//! for a code of 400 or more (a client span fails on a 4xx too), or the error type given to
//! [`fail`](HttpClientSpan::fail) with an `exception` event ([`fail_body`](HttpClientSpan::fail_body)
//! when the response came and its body could not be read: its status code is kept). A span dropped without
//! either ends an Error `cancelled` (the call was given up on: a timeout around it, a
//! `select!` that lost), or `panicked` when a panic that began during the call drops it.
//!
//! An error's text goes into `exception.message` as it is: reqwest's names the URL,
//! credentials and query included, so give `fail` `e.without_url()`. A client that
//! follows redirects makes them inside one span: `url.full` is the first URL, the
//! status the last response's.

use std::borrow::Cow;

use picotrace::{semconv, TraceContext};

use crate::http_conv::{method_and_name, protocol_version, redact_query, StartAttributes};
use crate::{HeaderMapInjector, Propagators, StdSpan, StdTracer, TracerProvider};

/// A `CLIENT` span for one outgoing HTTP request (see the [module documentation](self)).
#[must_use = "dropping it ends the span as a cancelled call: finish it with the response"]
pub struct HttpClientSpan {
    // `None` once finished.
    span: Option<StdSpan>,
    tracer: &'static StdTracer,
    propagators: Propagators,
    /// Whether the thread was unwinding when the call started: a drop during a panic
    /// that began later is the call's own panic, not a cancellation.
    started_unwinding: bool,
}

/// Builds an [`HttpClientSpan`]: [`HttpClientSpan::builder`].
#[must_use = "a builder does nothing until `start`"]
#[derive(Clone, Copy, Debug)]
pub struct HttpClientSpanBuilder<'a> {
    method: &'a str,
    url: Url<'a>,
    template: Option<&'a str>,
    parent: Option<&'a TraceContext>,
    /// `server.address` and `server.port` when the URL names no server (a request URI
    /// that is a path alone: the `tower` client layer's `with_server`, or the request's
    /// `Host` header).
    server: Option<ServerAttributes<'a>>,
    /// `http.request.resend_count`, when not 0.
    resend_count: u32,
}

impl<'a> HttpClientSpanBuilder<'a> {
    /// Names the span `{method} {template}` and records `url.template`: the URL's
    /// path as a template (`/users/{id}`), never the path itself, whose ids would make
    /// every name different.
    pub fn url_template(mut self, template: &'a str) -> Self {
        self.template = Some(template);
        self
    }

    /// The parent, instead of the current context ([`crate::current_context`]).
    pub fn parent(mut self, parent: &'a TraceContext) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Marks the request as the `n`th resend of one request (a retry, a redirect
    /// followed by hand): `http.request.resend_count`, which the conventions record on
    /// resends only, so 0 (the first attempt) records nothing. Each attempt is a span of
    /// its own.
    pub fn resend_count(mut self, n: u32) -> Self {
        self.resend_count = n;
        self
    }

    /// Starts the span. Its context goes out with [`HttpClientSpan::inject`] (a second
    /// step: the method and URL given here are often borrowed from the request whose
    /// headers it writes).
    pub fn start(self, provider: &TracerProvider) -> HttpClientSpan {
        self.start_on(provider.tracer(), provider.propagators())
    }

    /// The call's attributes but its URL's.
    fn attributes(&self, method: &'static str) -> StartAttributes<'a> {
        let mut attributes = StartAttributes::new();
        attributes.push(semconv::HTTP_REQUEST_METHOD, method);
        if method == "_OTHER" {
            attributes.push("http.request.method_original", self.method);
        }
        if let Some(template) = self.template {
            attributes.push("url.template", template);
        }
        if self.resend_count > 0 {
            attributes.push(
                semconv::HTTP_REQUEST_RESEND_COUNT,
                i64::from(self.resend_count),
            );
        }
        attributes
    }

    /// [`start`](Self::start) with a tracer and propagators instead of a provider.
    pub(crate) fn start_on(
        self,
        tracer: &'static StdTracer,
        propagators: Propagators,
    ) -> HttpClientSpan {
        let (method, name) = method_and_name(self.method);
        let current;
        let parent = match self.parent {
            Some(parent) => Some(parent),
            None => {
                current = crate::current_context();
                current.as_ref()
            }
        };
        let templated = self.template.map(|template| format!("{name} {template}"));
        // The call's attributes: gathered before the start when the sampler may decide
        // by them (the HTTP conventions ask for them at creation; found by review: they
        // were set after the start, and a custom sampler saw none), else only once the
        // span records.
        let gather_url = || {
            let mut url = match self.url {
                Url::Str(url) => url_attributes(url),
                Url::Uri(uri) => uri_attributes(uri),
            };
            if let (true, Some(server)) = (url.server.host.is_empty(), self.server) {
                url.server = server;
            }
            url
        };
        let early = tracer.sampler_reads_attributes().then(gather_url);
        // `url.full` as text for the sampler (made only for one that reads it).
        let early_full = early
            .as_ref()
            .and_then(|url| url.full.as_ref().map(UrlFull::text));
        let early_attributes = early.as_ref().map(|url| {
            let mut attributes = self.attributes(method);
            if let Some(full) = &early_full {
                attributes.push(semconv::URL_FULL, &**full);
            }
            url.server.push_to(&mut attributes);
            attributes
        });
        let mut builder = tracer
            .span_builder(templated.as_deref().unwrap_or(name))
            .kind(picotrace::SpanKind::Client)
            .parent(parent);
        if let Some(attributes) = &early_attributes {
            builder = builder.sampler_attributes(attributes.as_slice());
        }
        let mut span = builder.start();
        if span.is_recording() {
            if let Some(attributes) = &early_attributes {
                attributes.record_on(&mut span);
            } else {
                let url = gather_url();
                let mut attributes = self.attributes(method);
                url.server.push_to(&mut attributes);
                attributes.record_on(&mut span);
                // Formatted straight into the span (no `String` per call).
                if let Some(full) = &url.full {
                    span.set_attribute_fmt(semconv::URL_FULL, format_args!("{full}"));
                }
            }
        }
        HttpClientSpan {
            span: Some(span),
            tracer,
            propagators,
            started_unwinding: std::thread::panicking(),
        }
    }
}

impl HttpClientSpan {
    /// Whether the thread started unwinding after the call started.
    pub(crate) fn unwinding_since_start(&self) -> bool {
        !self.started_unwinding && std::thread::panicking()
    }

    /// A span for a request of `method` to `url` (absolute: `https://host/path?query`);
    /// start it with [`HttpClientSpanBuilder::start`], then [`inject`](Self::inject).
    pub fn builder<'a>(method: &'a http::Method, url: &'a str) -> HttpClientSpanBuilder<'a> {
        HttpClientSpanBuilder {
            method: method.as_str(),
            url: Url::Str(url),
            template: None,
            parent: None,
            server: None,
            resend_count: 0,
        }
    }

    /// Starts a span for a request of `method` to `url`, a child of the current
    /// context, and writes its context and the current baggage into `headers`.
    pub fn start(
        provider: &TracerProvider,
        method: &http::Method,
        url: &str,
        headers: &mut http::HeaderMap,
    ) -> Self {
        let call = Self::builder(method, url).start(provider);
        call.inject(headers);
        call
    }

    /// Writes the span's context and the current baggage into `headers`, in the
    /// formats the provider's propagators name (`traceparent` by default).
    pub fn inject(&self, headers: &mut http::HeaderMap) {
        let Some(span) = self.span.as_ref() else {
            return;
        };
        let headers = &mut HeaderMapInjector(headers);
        if self.propagators.as_slice() == Propagators::DEFAULT.as_slice() {
            // The common case, without building a `TraceContext`.
            self.tracer.inject_context(span, headers);
        } else {
            self.propagators
                .inject_context(&span.trace_context(), headers);
        }
        if let Some(baggage) = crate::context::current_baggage() {
            self.propagators.inject_baggage(&baggage, headers);
        }
    }

    /// Starts a span for `request` (its method and URI), a child of the current
    /// context, and writes its context and the current baggage into its headers: for
    /// clients that send `http::Request`s (hyper). A URI that is a path alone gives no
    /// `url.full`; its server is the request's `Host` header's.
    pub fn start_request<B>(provider: &TracerProvider, request: &mut http::Request<B>) -> Self {
        Self::start_request_on(provider.tracer(), provider.propagators(), request, None)
    }

    /// [`start_request`](Self::start_request) with a tracer and propagators, and the
    /// server to record when the request's URI names none (a path alone).
    pub(crate) fn start_request_on<B>(
        tracer: &'static StdTracer,
        propagators: Propagators,
        request: &mut http::Request<B>,
        server: Option<(&'static str, u16)>,
    ) -> Self {
        // The builder's borrows of the method and URI end at `start`: the headers are
        // written after.
        // A URI that is a path alone names no server: the one the layer was told, else
        // the `Host` header's (found by review: hyper's own client sends `/items/7`
        // with `Host: inventory:8081`, and the span had no `server.address`; the
        // conventions: it SHOULD match the host of the `Host` header).
        let server = request.uri().authority().is_none().then(|| match server {
            Some((host, port)) => ServerAttributes {
                host,
                port: Some(port),
            },
            None => host_header_server(request.headers()),
        });
        let call = HttpClientSpanBuilder {
            method: request.method().as_str(),
            url: Url::Uri(request.uri()),
            template: None,
            parent: None,
            server,
            resend_count: 0,
        }
        .start_on(tracer, propagators);
        call.inject(request.headers_mut());
        call
    }

    /// A client span made elsewhere (the `tower` client layer's gRPC spans), with the
    /// propagation of `tracer` and `propagators`.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn from_span(
        span: StdSpan,
        tracer: &'static StdTracer,
        propagators: Propagators,
    ) -> Self {
        Self {
            span: Some(span),
            tracer,
            propagators,
            started_unwinding: std::thread::panicking(),
        }
    }

    /// Ends the span as it is (no status recorded, not `cancelled`).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn end(mut self) {
        drop(self.span.take());
    }

    /// The span, for attributes of its own (`span_mut().set_attribute(..)`).
    pub fn span_mut(&mut self) -> Option<&mut StdSpan> {
        self.span.as_mut()
    }

    /// The span's context, with its tracestate (what went out in the headers).
    pub fn trace_context(&self) -> Option<TraceContext> {
        self.span.as_ref().map(StdSpan::trace_context)
    }

    /// Records the response's status code and ends the span: an Error for a code of
    /// 400 or more, the code its `error.type`.
    pub fn finish(mut self, status: http::StatusCode) {
        if let Some(mut span) = self.span.take() {
            record_status(&mut span, status);
        }
    }

    /// [`finish`](Self::finish) with a response's status code and protocol version.
    pub fn finish_response<B>(mut self, response: &http::Response<B>) {
        if let Some(mut span) = self.span.take() {
            record_response(&mut span, response);
        }
    }

    /// Records a call that got no response, and ends the span (a response whose body
    /// could not be read: [`fail_body`](Self::fail_body), which keeps its status code): an Error whose `error.type` is `error_type` (a short,
    /// low-cardinality name: `timeout`, `connection`, `_OTHER`), with `error` as an
    /// `exception` event (its type, and its text followed by its causes': a client's
    /// "error sending request" says what went wrong in them, "Connection refused";
    /// see the module documentation on reqwest's URL in its text).
    pub fn fail<E: std::error::Error + ?Sized>(mut self, error_type: &str, error: &E) {
        if let Some(mut span) = self.span.take() {
            span.set_attribute_dyn(semconv::ERROR_TYPE, error_type);
            span.record_error_with_causes(error);
            span.set_error("");
        }
    }

    /// Records a response whose body could not be read (a timeout or a reset after its
    /// head came), and ends the span: its status code (the conventions require it once
    /// a response came: [`fail`](Self::fail) alone loses it), then as `fail`, an Error
    /// with `error` as an `exception` event. `error.type` is the status code when it
    /// failed the call already (400 or more), else `error_type`.
    ///
    /// ```
    /// # let provider = picotrace_std::TracerProvider::builder().build();
    /// # let mut headers = http::HeaderMap::new();
    /// let call = picotrace_std::HttpClientSpan::start(
    ///     &provider, &http::Method::GET, "https://api.example/report", &mut headers);
    /// let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "body read timed out");
    /// call.fail_body(http::StatusCode::OK, "timeout", &timed_out);
    /// ```
    pub fn fail_body<E: std::error::Error + ?Sized>(
        mut self,
        status: http::StatusCode,
        error_type: &str,
        error: &E,
    ) {
        if let Some(mut span) = self.span.take() {
            span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
            let error_type = if status.as_u16() >= 400 {
                status.as_str()
            } else {
                error_type
            };
            span.set_attribute_dyn(semconv::ERROR_TYPE, error_type);
            span.record_error_with_causes(error);
            span.set_error("");
        }
    }
}

impl std::fmt::Debug for HttpClientSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientSpan")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl Drop for HttpClientSpan {
    fn drop(&mut self) {
        // Neither finished nor failed: the call was given up on, or its thread panicked
        // (found by review: a panic in the client was recorded as `cancelled`; the
        // crate's rule for a span a panic ends is `panicked`, as ServerLayer's).
        if let Some(mut span) = self.span.take() {
            if self.unwinding_since_start() {
                span.set_attribute(semconv::ERROR_TYPE, "panicked");
                span.set_error("panicked");
            } else {
                span.set_attribute(semconv::ERROR_TYPE, "cancelled");
                span.set_error("");
            }
        }
    }
}

/// Where a request goes.
#[derive(Clone, Copy, Debug)]
enum Url<'a> {
    /// An absolute URL's text (reqwest's `Url::as_str`).
    Str(&'a str),
    /// An `http::Request`'s URI: absolute (hyper-util's client), or a path alone (then
    /// no `url.full` is known, and the server is the `Host` header's).
    Uri(&'a http::Uri),
}

/// A response's protocol version, `http.response.status_code`, and an Error for a code
/// of 400 or more.
pub(crate) fn record_response<B>(span: &mut StdSpan, response: &http::Response<B>) {
    if let Some(version) = protocol_version(response.version()) {
        span.set_attribute("network.protocol.version", version);
    }
    record_status(span, response.status());
}

/// `http.response.status_code`, and an Error for a 4xx, a 5xx, or a code past 599
/// (the conventions: any code the client cannot interpret; found by review: 600-999,
/// which `http` accepts, were Unset).
fn record_status(span: &mut StdSpan, status: http::StatusCode) {
    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
    if status.as_u16() >= 400 {
        span.set_attribute_dyn(semconv::ERROR_TYPE, status.as_str());
        span.set_error("");
    }
}

/// What a client span records of the URL it calls: `url.full` (credentials and
/// signed-URL secrets redacted) and the server.
#[derive(Default)]
pub(crate) struct UrlAttributes<'a> {
    full: Option<UrlFull<'a>>,
    server: ServerAttributes<'a>,
}

/// `url.full`, redacted: the URL's own text, or its parts with what it hides.
enum UrlFull<'a> {
    /// Nothing to redact.
    Text(Cow<'a, str>),
    /// `scheme://[REDACTED:REDACTED@]host_port rest`.
    Parts {
        scheme: &'a str,
        credentials: bool,
        host_port: &'a str,
        rest: Cow<'a, str>,
    },
}

impl UrlFull<'_> {
    /// As text (a `String` only when made of parts).
    fn text(&self) -> Cow<'_, str> {
        match self {
            UrlFull::Text(text) => Cow::Borrowed(&**text),
            parts => Cow::Owned(parts.to_string()),
        }
    }
}

impl std::fmt::Display for UrlFull<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlFull::Text(text) => f.write_str(text),
            UrlFull::Parts {
                scheme,
                credentials,
                host_port,
                rest,
            } => {
                let hidden = if *credentials {
                    "REDACTED:REDACTED@"
                } else {
                    ""
                };
                write!(f, "{scheme}://{hidden}{host_port}{rest}")
            }
        }
    }
}

/// `server.address` and `server.port` (or the scheme's default port).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServerAttributes<'a> {
    host: &'a str,
    port: Option<u16>,
}

impl<'a> ServerAttributes<'a> {
    fn new(scheme: &str, host: &'a str, port: Option<u16>) -> Self {
        let is = |name: &str| scheme.eq_ignore_ascii_case(name);
        let default_port = if is("http") || is("ws") {
            Some(80)
        } else if is("https") || is("wss") {
            Some(443)
        } else {
            None
        };
        Self {
            host,
            port: port.or(default_port),
        }
    }

    pub(crate) fn push_to(self, attributes: &mut StartAttributes<'a>) {
        if self.host.is_empty() {
            return;
        }
        attributes.push(semconv::SERVER_ADDRESS, self.host);
        if let Some(port) = self.port {
            attributes.push(semconv::SERVER_PORT, i64::from(port));
        }
    }
}

/// `url` as the HTTP conventions want it in `url.full`: credentials replaced by
/// `REDACTED:REDACTED`, the values of signed-URL query keys (`sig`, `Signature`,
/// `X-Amz-Signature`, ...) by `REDACTED`; `None` for text that may hold credentials
/// it cannot find the end of (an `@` in a URL it cannot read, or in an authority cut
/// short by a password holding `/`, `?` or `#` when what is left is not a host and
/// port: `https://svc:2024?x@host/` reads, as URL parsers read it, as host `svc`, port
/// 2024 and a query). What [`HttpClientSpan`] records, for
/// code that records `url.full` itself (a `tracing` field, a span of its own).
///
/// ```
/// use picotrace_std::http_client::redact_url_full;
/// assert_eq!(
///     redact_url_full("https://svc:s3cret@ranker/rank?q=a&sig=x").as_deref(),
///     Some("https://REDACTED:REDACTED@ranker/rank?q=a&sig=REDACTED")
/// );
/// assert_eq!(redact_url_full("https://svc:p?ss@ranker/rank"), None);
/// ```
pub fn redact_url_full(url: &str) -> Option<Cow<'_, str>> {
    Some(match url_attributes(url).full? {
        UrlFull::Text(text) => text,
        parts => Cow::Owned(parts.to_string()),
    })
}

/// The attributes of an absolute URL; of one it cannot read, `url.full` only when it
/// cannot hold credentials (no `@`).
fn url_attributes(url: &str) -> UrlAttributes<'_> {
    // A tab or newline anywhere is removed by the WHATWG parser a client reads the URL
    // with, so the authority it sees is not the one here (found by review:
    // `https://\t/svc:s3cret@api.example/x` recorded the credentials): read as a URL
    // it cannot read.
    let parsed = split_url(url).filter(|_| !url.contains(['\t', '\n', '\r']));
    let Some((scheme, authority, rest)) = parsed else {
        return UrlAttributes {
            full: (!url.contains('@')).then(|| UrlFull::Text(redact_rest(url))),
            ..UrlAttributes::default()
        };
    };
    parts_attributes(url, scheme, authority, rest)
}

/// [`url_attributes`] of an `http::Uri` (none for a path alone).
fn uri_attributes(uri: &http::Uri) -> UrlAttributes<'_> {
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        // The authority form of `CONNECT` (`proxy.example:3128`) names the server and
        // no URL (found by review: nothing was recorded).
        return UrlAttributes {
            server: uri_server(uri),
            ..UrlAttributes::default()
        };
    };
    let rest = uri
        .path_and_query()
        .map_or("", http::uri::PathAndQuery::as_str);
    parts_attributes("", scheme, authority.as_str(), rest)
}

/// The attributes of a URL's parts: `url.full` (from `url`, the whole text, when
/// nothing needs redacting and it is not empty), `server.address` and `server.port`.
fn parts_attributes<'a>(
    url: &'a str,
    scheme: &'a str,
    authority: &'a str,
    rest: &'a str,
) -> UrlAttributes<'a> {
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((_, host_port)) => (true, host_port),
        None => (false, authority),
    };
    let Some((host, port)) = split_host_port(host_port) else {
        // Not a host and port: the authority ended early, perhaps inside a password
        // holding `/`, `?` or `#` (`user:p?ss@host`). With an `@` anywhere, the text
        // could hold credentials: not recorded.
        return UrlAttributes {
            full: (!url.is_empty() && !url.contains('@')).then(|| UrlFull::Text(redact_rest(url))),
            ..UrlAttributes::default()
        };
    };
    let rest = redact_rest(rest);
    let full = match (credentials, rest) {
        (false, Cow::Borrowed(_)) if !url.is_empty() => UrlFull::Text(Cow::Borrowed(url)),
        (credentials, rest) => UrlFull::Parts {
            scheme,
            credentials,
            host_port,
            rest,
        },
    };
    UrlAttributes {
        full: Some(full),
        server: ServerAttributes::new(scheme, host, port),
    }
}

/// `server.address` and `server.port` of the server an `http::Uri` names (none for a
/// path alone): for spans that record no `url.full` (the `tower` client layer's gRPC
/// calls).
/// A URI of authority form (`CONNECT`'s `host:port`, no scheme) names its server too.
pub(crate) fn uri_server(uri: &http::Uri) -> ServerAttributes<'_> {
    let Some(authority) = uri.authority() else {
        return ServerAttributes::default();
    };
    let host_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host_port)| host_port);
    match (split_host_port(host_port), uri.scheme_str()) {
        (Some((host, port)), Some(scheme)) => ServerAttributes::new(scheme, host, port),
        (Some((host, port)), None) => ServerAttributes { host, port },
        (None, _) => ServerAttributes::default(),
    }
}

/// `server.address` and `server.port` of a request's `Host` header (its port only when
/// it gives one: a path alone has no scheme to default it from); none without one.
pub(crate) fn host_header_server(headers: &http::HeaderMap) -> ServerAttributes<'_> {
    headers
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        // Without userinfo (found by review: hyper's `Authority::as_str()`, often what
        // the header is made from, keeps `user:password@`, and the password was taken
        // for part of the host), and nothing that is no authority (whitespace inside).
        .map(|host| {
            host.trim()
                .rsplit_once('@')
                .map_or(host.trim(), |(_, host)| host)
        })
        .filter(|host| !host.contains(|c: char| c.is_ascii_whitespace()))
        .and_then(split_host_port)
        .filter(|(host, _)| !host.is_empty())
        .map_or_else(ServerAttributes::default, |(host, port)| ServerAttributes {
            host,
            port,
        })
}

/// `scheme`, authority and the rest (path, query, fragment) of an absolute URL.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid_scheme {
        return None;
    }
    // As the WHATWG URL parser reads the schemes it calls special (reqwest's `url`, a
    // browser): slashes and backslashes before the authority are skipped, and a
    // backslash ends it as a slash does (found by review: in `https:///svc:s3cret@host/`
    // the authority read as empty, and the credentials were recorded in `url.full`,
    // where the client sends them to `host`).
    let special = ["http", "https", "ws", "wss", "ftp"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s));
    let (rest, end_chars): (&str, &[char]) = if special {
        (rest.trim_start_matches(['/', '\\']), &['/', '?', '#', '\\'])
    } else {
        (rest, &['/', '?', '#'])
    };
    let end = rest.find(end_chars).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    Some((scheme, authority, rest))
}

/// The host (an IPv6 one without its brackets) and port of an authority's
/// `host[:port]`; `None` when the port is not a number.
fn split_host_port(host_port: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port = match port {
        // An empty port is the scheme's default (WHATWG URL).
        Some("") | None => None,
        Some(port) => Some(port.parse::<u16>().ok()?),
    };
    Some((host, port))
}

/// `rest` (a path, query and fragment) with the query's secrets redacted.
fn redact_rest(rest: &str) -> Cow<'_, str> {
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (rest, None),
    };
    let Some((path, query)) = before_fragment.split_once('?') else {
        return Cow::Borrowed(rest);
    };
    match redact_query(query) {
        Cow::Borrowed(_) => Cow::Borrowed(rest),
        Cow::Owned(query) => {
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            Cow::Owned(format!("{path}?{query}{fragment}"))
        }
    }
}
