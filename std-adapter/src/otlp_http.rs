//! [`OtlpHttpExporter`]: OTLP/HTTP (`POST /v1/traces`) on a ureq agent, with the
//! retry rules of the OTLP specification.
//!
//! - Endpoint rules (OpenTelemetry `protocol/exporter.md`): a *base* endpoint
//!   (`OTEL_EXPORTER_OTLP_ENDPOINT`, [`OtlpHttpExporterBuilder::endpoint`]) gets
//!   `v1/traces` appended, whether or not it ends in `/`; a *signal* endpoint
//!   (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, [`OtlpHttpExporterBuilder::traces_endpoint`])
//!   is used as given (an empty path becomes `/`).
//! - Bodies are `application/x-protobuf` (default) or `application/json`, optionally
//!   gzip-compressed (`Content-Encoding: gzip`).
//! - 429, 502, 503, 504, timeouts and connection failures are retried per the
//!   [`RetryPolicy`], honouring `Retry-After`; other statuses are not. One deadline,
//!   the exporter's timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s), covers each send:
//!   its attempts and every wait between them, however long `Retry-After` asks for.
//! - https verifies the collector against the webpki (Mozilla) roots, or against a
//!   private CA ([`OtlpHttpExporterBuilder::ca_certificate_file`]), and can present a
//!   client certificate ([`OtlpHttpExporterBuilder::client_certificate_files`]); a
//!   failed handshake is [`ExportError::Tls`], not retried.
//! - A 2xx response is read for `ExportTraceServiceResponse.partial_success`; rejected
//!   spans are reported in [`ExportOutcome`] and counted, never retried. A response
//!   compressed with gzip is decompressed (at most 4 MiB).
//! - A `Retry-After` holds for every request of the exporter (every worker of a
//!   [`BatchExporter`](crate::BatchExporter) sharing it) until it has run: none is sent
//!   before, each waits it out with its own jitter, or fails with
//!   [`ExportError::Throttled`] when its deadline comes first. A success ends the
//!   wait only for a request sent after the wait was asked for.
//! - Connections are kept between requests, one for each request in flight. The
//!   collector's host name is looked up for a new connection at most every 10 s, and
//!   again after a request that failed to connect or send or got 502, 503 or 504 (the
//!   collector may have moved); an IP address is never looked up
//!   ([`ExporterStats::name_lookups`]).
//! - Proxies come from the environment, by the collector's scheme, as curl and Go read
//!   them: `HTTPS_PROXY` (either case) for an `https://` collector, `HTTP_PROXY` for an
//!   `http://` one (only `http_proxy` in a CGI program, where `HTTP_PROXY` comes from
//!   a request's `Proxy` header), else `ALL_PROXY`; never for `localhost`, a loopback
//!   address, or a collector `NO_PROXY` names as Go reads it (`name` for it and its
//!   subdomains, `.name` for its subdomains, IP addresses, CIDR ranges, `:port`
//!   suffixes, `*`). HTTP(S) proxies only: a SOCKS one is not used. Through a proxy, a plain `http://` collector's requests, their headers
//!   (API keys) included, are readable by the proxy: name the collector in `NO_PROXY`
//!   or use https.
//!
//! [`send`](OtlpHttpExporter::send) blocks the caller for the network round trips. As
//! a [`picotrace::SpanExporter`] it therefore suits short programs and tests; servers
//! put a [`crate::BatchExporter`] in front of it, which sends from its own thread.
//!
//! ```
//! use std::time::Duration;
//! use picotrace_std::{Compression, OtlpHttpExporter, Protocol};
//! let exporter = OtlpHttpExporter::builder()
//!     .endpoint("http://collector:4318")
//!     .protocol(Protocol::HttpJson)
//!     .compression(Compression::Gzip)
//!     .header("authorization", "Bearer s3cret")
//!     .timeout(Duration::from_secs(5))
//!     .build()?;
//! assert_eq!(exporter.url(), "http://collector:4318/v1/traces");
//! # Ok::<(), picotrace_std::ExportError>(())
//! ```

mod resolver;
mod response;
pub(crate) mod tls;

use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderName, HeaderValue};
use picotrace::wire::otlp::{encode_in_requests, json, proto, EncodeError, Encoded, Encoding};
use picotrace::{InstrumentationScope, Resource, SpanBatch, SpanData, SpanExporter};

use crate::error::ExportError;
use crate::retry::{instant_after, parse_retry_after, timeout_limit, RetryPolicy, MAX_DURATION};
use tls::PemSource;

/// The default base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`).
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// The default time one export may take, retries included
/// (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies larger than this are sent after the collector's `100 Continue` (Go's HTTP
/// server discards up to 256 KiB of a body its handler did not read, then closes).
const EXPECT_CONTINUE_ABOVE: usize = 256 * 1024;

/// How long a large body waits for `100 Continue` before it is sent anyway (a server
/// that ignores `Expect`).
const AWAIT_CONTINUE: Duration = Duration::from_secs(1);

/// The default largest request body, before compression (4 MiB; collectors commonly
/// accept far more, and smaller requests retry more cheaply).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 4 * 1024 * 1024;
/// The most of a response body that is read (OTLP suggests 4 MiB as a limit).
const MAX_RESPONSE_SIZE: u64 = 4 * 1024 * 1024;
/// What a 2xx response whose body could not be read says (see
/// [`ExportOutcome::error_message`]).
const UNREADABLE_SUCCESS: &str = "the collector's answer could not be read (over 4 MiB, \
    not the gzip it said, or not an OTLP response): spans it may have rejected are counted \
    as exported";
/// The most of an error body kept in [`ExportError::HttpStatus`].
const MAX_ERROR_BODY: usize = 1024;

/// The OTLP encoding (`OTEL_EXPORTER_OTLP_PROTOCOL`); `grpc` is not supported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `http/protobuf`: binary protobuf, `application/x-protobuf` (the default).
    #[default]
    HttpProtobuf,
    /// `http/json`: OTLP/JSON, `application/json`.
    HttpJson,
}

impl Encoding for Protocol {
    fn encode_request<'a>(
        &self,
        resource: &Resource,
        scope: &InstrumentationScope,
        spans: impl Iterator<Item = SpanData<'a>> + Clone,
        out: &mut [u8],
    ) -> Result<Encoded, EncodeError> {
        Protocol::encode_request(*self, resource, scope, spans, out)
    }
}

impl Protocol {
    /// Returns the `Content-Type` of request bodies.
    pub const fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        }
    }

    /// Returns the name used by `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    /// Encodes as many spans as fit into one request (see
    /// [`picotrace::wire::otlp`] for the splitting contract).
    ///
    /// # Errors
    /// [`EncodeError`] when the buffer is too small or the first span is too large.
    pub fn encode_request<'a>(
        self,
        resource: &Resource,
        scope: &InstrumentationScope,
        spans: impl Iterator<Item = SpanData<'a>> + Clone,
        out: &mut [u8],
    ) -> Result<Encoded, EncodeError> {
        match self {
            Protocol::HttpProtobuf => proto::encode_request(resource, scope, spans, out),
            Protocol::HttpJson => json::encode_request(resource, scope, spans, out),
        }
    }

    /// Returns the encoded length of one span, as [`Protocol::emit_span`] writes it.
    pub fn span_len(self, span: &SpanData<'_>) -> usize {
        match self {
            Protocol::HttpProtobuf => proto::span_len(span),
            Protocol::HttpJson => json::span_len(span),
        }
    }

    /// Encodes one span (a `Span` message body or JSON object) into `out`.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when it does not fit.
    pub fn emit_span(self, span: &SpanData<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Protocol::HttpProtobuf => proto::emit_span(span, out),
            Protocol::HttpJson => json::emit_span(span, out),
        }
    }

    /// Builds a request around spans encoded earlier by [`Protocol::emit_span`].
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when they do not all fit.
    pub fn encode_request_from_encoded<'b>(
        self,
        resource: &Resource,
        scope: &InstrumentationScope,
        spans: impl Iterator<Item = &'b [u8]> + Clone,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        match self {
            Protocol::HttpProtobuf => {
                proto::encode_request_from_encoded(resource, scope, spans, out)
            }
            Protocol::HttpJson => json::encode_request_from_encoded(resource, scope, spans, out),
        }
    }

    /// Returns the bytes a request needs besides its spans (and their framing).
    pub fn request_overhead_len(self, resource: &Resource, scope: &InstrumentationScope) -> usize {
        match self {
            Protocol::HttpProtobuf => proto::request_overhead_len(resource, scope),
            Protocol::HttpJson => json::request_overhead_len(resource, scope),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Request body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Uncompressed (the default).
    #[default]
    None,
    /// gzip, sent with `Content-Encoding: gzip`.
    Gzip,
}

/// What a successful send reported. A success may still have lost spans: check
/// `rejected_spans` (found by review: `exporter.send(..)?;` dropped it unseen).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "the collector may have rejected spans: check `rejected_spans`"]
pub struct ExportOutcome {
    /// The HTTP status of the final response (a 2xx).
    pub status: u16,
    /// Requests sent, retries included (1 when the first one succeeded).
    pub attempts: u32,
    /// Spans the collector rejected (`partial_success.rejected_spans`); not retried.
    /// As the collector said it: [`OtlpHttpExporter::send`] of raw bytes cannot check
    /// it against the request (a number up to `u64::MAX`: add with `saturating_add`),
    /// where exporting spans caps it at the spans sent.
    pub rejected_spans: u64,
    /// The collector's `partial_success.error_message`, if it sent one (with zero
    /// rejected spans it is a warning); or, when the answer's body could not be read
    /// (over 4 MiB, or not the gzip it said), a note that its partial success is
    /// unknown.
    pub error_message: Option<String>,
}

/// The exporter's counters, as [`OtlpHttpExporter::stats`] returns them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests that were retries of an earlier one.
    pub retries: u64,
    /// Sends that failed for good (after their retries).
    pub failed_sends: u64,
    /// Spans the collector accepted.
    pub spans_exported: u64,
    /// Spans lost: their request failed for good, or they could not be encoded.
    pub spans_failed: u64,
    /// Spans the collector rejected through `partial_success`.
    pub spans_rejected: u64,
    /// Body bytes sent (after compression), retries included: of requests the
    /// collector answered (found by review: a refused connection counted its body).
    pub bytes_sent: u64,
    /// Host name lookups for new connections (none for an IP address): the
    /// collector's, or through an HTTP proxy the proxy's. One, then one each time the
    /// addresses grow old (10 s) or a request fails to connect or send or gets 502,
    /// 503 or 504.
    pub name_lookups: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    failed_sends: AtomicU64,
    spans_exported: AtomicU64,
    spans_failed: AtomicU64,
    spans_rejected: AtomicU64,
    bytes_sent: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Builds an [`OtlpHttpExporter`]; see the setters for the defaults.
///
/// Its `Debug` output shows header names only: values may be secrets.
#[derive(Clone)]
pub struct OtlpHttpExporterBuilder {
    endpoint: String,
    traces_endpoint: Option<String>,
    protocol: Protocol,
    headers: Vec<(String, String)>,
    timeout: Duration,
    attempt_timeout: Option<Duration>,
    compression: Compression,
    retry_policy: RetryPolicy,
    max_request_size: usize,
    ca_certificate: Option<PemSource>,
    client_certificate: Option<(PemSource, PemSource)>,
}

impl Default for OtlpHttpExporterBuilder {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            traces_endpoint: None,
            protocol: Protocol::default(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            attempt_timeout: None,
            compression: Compression::None,
            retry_policy: RetryPolicy::DEFAULT,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            ca_certificate: None,
            client_certificate: None,
        }
    }
}

impl fmt::Debug for OtlpHttpExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpHttpExporterBuilder")
            .field("endpoint", &redacted_url(&self.endpoint))
            .field(
                "traces_endpoint",
                &self.traces_endpoint.as_deref().map(redacted_url),
            )
            .field("protocol", &self.protocol)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("compression", &self.compression)
            .field("retry_policy", &self.retry_policy)
            .field("max_request_size", &self.max_request_size)
            .field("ca_certificate", &self.ca_certificate)
            .field(
                "client_certificate",
                &self.client_certificate.as_ref().map(|(cert, _)| cert),
            )
            .field(
                "client_key",
                &self.client_certificate.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Formats `name: "<redacted>"` pairs: header values may be API keys.
pub(crate) struct RedactedHeaders<'a>(pub(crate) &'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "<redacted>")))
            .finish()
    }
}

/// Headers the exporter writes itself, or that frame the request: configuration may
/// not set them (compared without regard to case): `content-length`,
/// `transfer-encoding`, `host`, `content-type`, `content-encoding`, `connection`.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "content-type",
    "content-encoding",
    "connection",
];

/// Checks a configured header (name and value trimmed): a valid name that is not in
/// [`RESERVED_HEADERS`], and a value of visible ASCII, spaces and tabs. The reason
/// never quotes the value, which may be a secret.
pub(crate) fn check_header(
    name: &str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), &'static str> {
    let (name, value) = (name.trim(), value.trim());
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err("a request framing header, which the exporter sets; refused");
    }
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| "not a valid HTTP header name; refused")?;
    // `HeaderValue` lets bytes >= 0x80 through (obs-text): collectors and proxies
    // disagree on what they mean, so only visible ASCII is sent.
    let ascii = value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
    let value = HeaderValue::from_str(value)
        .ok()
        .filter(|_| ascii)
        .ok_or("the value is not visible ASCII (value not shown); refused")?;
    Ok((name, value))
}

impl OtlpHttpExporterBuilder {
    /// Sets the base endpoint (default `http://localhost:4318`); `v1/traces` is appended.
    #[must_use]
    pub fn endpoint(mut self, base: impl Into<String>) -> Self {
        self.endpoint = base.into();
        self
    }

    /// Sets the full traces URL, used as is; it wins over [`Self::endpoint`].
    #[must_use]
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_endpoint = Some(url.into());
        self
    }

    /// Sets the encoding (default [`Protocol::HttpProtobuf`]).
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Adds a header sent with every request (e.g. an API key); a name given again
    /// (in any case) replaces its earlier value, as a map would. [`Self::build`]
    /// refuses the ones in [`RESERVED_HEADERS`] and values that are not visible ASCII.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        // One field per name (found by review: a key given twice, the old and the
        // corrected one, went out as two `Authorization` fields, which gateways refuse
        // or read the first of).
        self.headers
            .retain(|(n, _)| !n.trim().eq_ignore_ascii_case(name.trim()));
        self.headers.push((name, value.into()));
        self
    }

    /// Adds headers sent with every request, as [`Self::header`] adds each.
    #[must_use]
    pub fn headers<K: Into<String>, V: Into<String>>(
        self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        headers
            .into_iter()
            .fold(self, |builder, (k, v)| builder.header(k, v))
    }

    /// Sets the time one export may take (default 10 s; `OTEL_EXPORTER_OTLP_TIMEOUT`,
    /// "maximum time the OTLP exporter will wait for each batch export"): every
    /// attempt, response and retry wait of a send together. A send gives up as soon as
    /// the next wait would pass it. Zero means no limit, as in the environment.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout_limit(timeout);
        self
    }

    /// Caps each attempt (connect, send and response) below the export timeout, so
    /// that a hung request leaves time for a retry (default, and zero: no cap but the
    /// time left).
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout_limit(timeout));
        self
    }

    /// Sets body compression (default none).
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the retry policy (default [`RetryPolicy::DEFAULT`]).
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Sets the largest request body before compression (default 4 MiB, between 1 KiB
    /// and 64 MiB); larger batches are split into several requests. This is also the
    /// size of the encoding buffer the exporter keeps. Behind a
    /// [`BatchExporter`](crate::BatchExporter) the smaller of this and the batch
    /// config's `max_request_size` holds.
    #[must_use]
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes.clamp(1024, crate::batch::BatchConfig::MAX_REQUEST_SIZE);
        self
    }

    /// Verifies the collector's certificate against the CA certificates in `pem` (one
    /// or more `CERTIFICATE` blocks) instead of the webpki (Mozilla) roots: for a
    /// collector behind a private CA (`OTEL_EXPORTER_OTLP_CERTIFICATE`, "the trusted
    /// certificate to use when verifying a server's TLS credentials"). Public CAs are no
    /// longer trusted; add theirs to `pem` when needed. [`Self::build`] checks it.
    #[must_use]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(PemSource::Bytes(pem.into()));
        self
    }

    /// As [`Self::ca_certificate_pem`], with the PEM read from `path` by [`Self::build`].
    #[must_use]
    pub fn ca_certificate_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certificate = Some(PemSource::File(path.into()));
        self
    }

    /// Presents a client certificate when the collector asks for one (mutual TLS;
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `_CLIENT_KEY`): `cert` is PEM with
    /// the certificate first and any intermediates after it, `key` its unencrypted
    /// private key (PKCS#8, PKCS#1 or SEC1 PEM). [`Self::build`] checks that the key
    /// belongs to the certificate; errors and `Debug` never show the key.
    #[must_use]
    pub fn client_certificate_pem(
        mut self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_certificate =
            Some((PemSource::Bytes(cert.into()), PemSource::Bytes(key.into())));
        self
    }

    /// As [`Self::client_certificate_pem`], with both read from files by [`Self::build`].
    #[must_use]
    pub fn client_certificate_files(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_certificate = Some((PemSource::File(cert.into()), PemSource::File(key.into())));
        self
    }

    /// Returns the URL requests will go to, per the endpoint rules.
    pub fn url(&self) -> String {
        match &self.traces_endpoint {
            Some(url) => signal_url(url),
            None => traces_url_from_base(&self.endpoint),
        }
    }

    /// Builds the exporter.
    ///
    /// # Errors
    /// [`ExportError::InvalidEndpoint`], [`ExportError::InvalidHeader`], or
    /// [`ExportError::InvalidTls`] for a certificate or key that cannot be read or used.
    pub fn build(self) -> Result<OtlpHttpExporter, ExportError> {
        let url = self.url();
        validate_url(&url)?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let header =
                check_header(name, value).map_err(|reason| ExportError::InvalidHeader {
                    // A name that is no header name may be a secret given in the wrong
                    // place (`Authorization: Basic ...` as a name).
                    name: crate::env::shown_header_name(name).to_owned(),
                    reason,
                })?;
            headers.push(header);
        }
        let mut tls_config = ureq::tls::TlsConfig::builder();
        if let Some(ca) = &self.ca_certificate {
            tls_config = tls_config.root_certs(tls::root_certs(ca)?);
        }
        if let Some((cert, key)) = &self.client_certificate {
            tls_config = tls_config.client_cert(Some(tls::client_cert(cert, key)?));
        }
        let agent = ureq::Agent::config_builder()
            .proxy(env_proxy(&url, |name| std::env::var(name).ok()))
            .tls_config(tls_config.build())
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            // The exporter, its language and its version (the OTLP exporter spec).
            .user_agent(concat!(
                "picotrace-std/",
                env!("CARGO_PKG_VERSION"),
                " (OTLP exporter; Rust)"
            ))
            .max_redirects(0)
            // Connections kept for every request a batch exporter may have in flight
            // (ureq keeps 3 per host: with more in flight, each round closed the rest
            // and opened them again, TLS handshakes included; found by review). The OTLP
            // spec: "the client SHOULD keep the connection alive between requests".
            .max_idle_connections_per_host(crate::BatchConfig::MAX_CONCURRENT_EXPORTS)
            .max_idle_connections(crate::BatchConfig::MAX_CONCURRENT_EXPORTS.max(10))
            .build();
        // ureq's default connector, and a resolver that spawns no thread per request
        // (see `resolver`).
        let resolved = Arc::new(resolver::Resolved::default());
        let agent = ureq::Agent::with_parts(
            agent,
            ureq::unversioned::transport::DefaultConnector::new(),
            resolver::CachingResolver::new(Arc::clone(&resolved)),
        );
        Ok(OtlpHttpExporter {
            agent,
            resolved,
            url,
            protocol: self.protocol,
            headers,
            timeout: self.timeout,
            attempt_timeout: self.attempt_timeout.unwrap_or(MAX_DURATION),
            compression: self.compression,
            retry: self.retry_policy,
            max_request_size: self.max_request_size,
            counters: Counters::default(),
            jitter: AtomicU64::new(crate::entropy::random_u64()),
            gzip: Mutex::new(Vec::new()),
            not_before: Mutex::new(None),
            last_error: Mutex::new(None),
            encode_buf: Vec::new(),
        })
    }
}

/// Appends `v1/traces` to a base endpoint's path (OTLP exporter spec: "for the base
/// URL [...] the signal path MUST be appended"), with exactly one `/` between; a query
/// or fragment stays after the path.
pub fn traces_url_from_base(base: &str) -> String {
    let base = base.trim();
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let end = base[after_scheme..]
        .find(['?', '#'])
        .map_or(base.len(), |i| after_scheme + i);
    let (path, rest) = base.split_at(end);
    if path.ends_with('/') {
        format!("{path}v1/traces{rest}")
    } else {
        format!("{path}/v1/traces{rest}")
    }
}

/// The proxy for the collector at `url`, from the variables `var` reads: the scheme's
/// own variable (`HTTPS_PROXY` for https, `HTTP_PROXY` for http, either case), else
/// `ALL_PROXY`; none for a collector `NO_PROXY` exempts ([`no_proxy_exempts`]). ureq's
/// own choice took the first of `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` for every
/// scheme (found by review: with only `HTTPS_PROXY` set, an `http://` collector was
/// reached through it), and read `HTTP_PROXY` in CGI programs, where a client sets it
/// (httpoxy).
fn env_proxy(url: &str, var: impl Fn(&str) -> Option<String>) -> Option<ureq::Proxy> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let uri = url.parse::<ureq::http::Uri>().ok()?;
    let https = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("https"));
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let no_proxy = set("NO_PROXY").or_else(|| set("no_proxy"));
    if no_proxy_exempts(no_proxy.as_deref().unwrap_or(""), uri.host()?, port) {
        return None;
    }
    let cgi = set("REQUEST_METHOD").is_some();
    let own = if https {
        set("HTTPS_PROXY").or_else(|| set("https_proxy"))
    } else {
        set("http_proxy").or_else(|| set("HTTP_PROXY").filter(|_| !cgi))
    };
    let parsed = ureq::Proxy::new(
        own.or_else(|| set("ALL_PROXY"))
            .or_else(|| set("all_proxy"))?
            .trim(),
    )
    .ok()?;
    // HTTP(S) proxies only: this build of ureq has no SOCKS support, and a SOCKS proxy
    // set in code (as this one is) makes it panic on every request (found by review;
    // from the environment it went direct, with a warning): direct, as before.
    if !matches!(
        parsed.protocol(),
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
    ) {
        return None;
    }
    let mut proxy = ureq::Proxy::builder(parsed.protocol())
        .host(parsed.host())
        .port(parsed.port());
    if let Some(user) = parsed.username() {
        proxy = proxy.username(user);
    }
    if let Some(password) = parsed.password() {
        proxy = proxy.password(password);
    }
    proxy.build().ok()
}

/// Whether the collector at `host` (a name, an IP address, or one in brackets) and
/// `port` is reached directly, by Go's rules for `NO_PROXY` (`golang.org/x/net/http/
/// httpproxy`, which curl's agree with but for the dot below): `localhost` and loopback
/// addresses always; `*` for every host; an entry `name` for that name and its
/// subdomains, `.name` or `*.name` for its subdomains only; an IP address or a CIDR
/// range for the addresses it covers; an entry with `:port` only for that port.
/// Names compare without case. ureq matched a name only exactly, and took a range or
/// an entry with a port for a name, so a collector at `10.1.2.3` or under a
/// `cluster.local` suffix went through the proxy (its API keys readable by the proxy
/// over http), and so did one on `localhost` (found by review).
fn no_proxy_exempts(list: &str, host: &str, port: u16) -> bool {
    use std::net::IpAddr;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    // An IPv4 address in IPv6 form (`::ffff:10.1.2.3`) is that IPv4 address, as Go
    // takes it.
    let ip = host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    let port = port.to_string();
    list.split(',').any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        if entry == "*" {
            return true;
        }
        if let Some((net, bits)) = entry.split_once('/') {
            return match (ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
                (Some(ip), Ok(net), Ok(bits)) => in_range(ip, net.to_canonical(), bits),
                _ => false,
            };
        }
        let (name, entry_port) = split_host_port(&entry);
        if name.is_empty() || entry_port.is_some_and(|p| p != port) {
            return false;
        }
        if let Ok(entry_ip) = name.parse::<IpAddr>() {
            return ip == Some(entry_ip.to_canonical());
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        match name.strip_prefix("*.").or_else(|| name.strip_prefix('.')) {
            Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
            None => host == name || host.ends_with(&format!(".{name}")),
        }
    })
}

/// Splits `name:port` or `[ip]:port`; an entry without a port (an IPv6 address
/// without brackets has several colons) is all name.
fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, port)) => match port.strip_prefix(':') {
                Some(port) => (ip, Some(port).filter(|p| !p.is_empty())),
                None => (entry, None),
            },
            None => (entry, None),
        };
    }
    match entry.split_once(':') {
        Some((name, port)) if !port.contains(':') => (name, Some(port).filter(|p| !p.is_empty())),
        _ => (entry, None),
    }
}

/// Whether `ip` is in the range of `net` and its first `bits` bits (an IPv4 range
/// never covers an IPv6 address, nor the reverse).
fn in_range(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u32) -> bool {
    use std::net::IpAddr::{V4, V6};
    let (ip, net, width) = match (ip, net) {
        (V4(ip), V4(net)) => (u128::from(u32::from(ip)), u128::from(u32::from(net)), 32),
        (V6(ip), V6(net)) => (u128::from(ip), u128::from(net), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    ip.checked_shr(shift).unwrap_or(0) == net.checked_shr(shift).unwrap_or(0)
}

/// Returns a signal-specific endpoint as is, except that an empty path becomes `/`
/// (OTLP exporter spec: "if an URL contains no path part, the root path `/` MUST be
/// used").
pub fn signal_url(url: &str) -> String {
    let url = url.trim();
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    // The authority ends at the first `/`, `?` or `#`; only a `/` there starts a path
    // (`http://c:4318?x=1` has none, and was sent as `POST ?x=1`).
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(i) if url.as_bytes()[after_scheme + i] == b'/' => url.to_owned(),
        Some(i) => format!("{}/{}", &url[..after_scheme + i], &url[after_scheme + i..]),
        None => format!("{url}/"),
    }
}

/// `url` as it may be shown (in `Debug`, errors and warnings): credentials in it
/// (`user:password@`) and its query (which may carry an API key) read `REDACTED`, as
/// header values are never shown.
pub(crate) fn redacted_url(url: &str) -> std::borrow::Cow<'_, str> {
    let authority_at = url.find("://").map_or(0, |i| i + 3);
    // Everything up to the last `@` is taken for credentials: a password may hold a
    // `/`, `?` or `#` it should have percent-encoded (found by review), and an `@` in
    // a path or query hides what comes before it too (showing too little is the safe
    // side).
    let from = url[authority_at..].rfind('@').map(|at| authority_at + at);
    let tail = &url[from.unwrap_or(authority_at)..];
    let query = tail.find('?');
    if from.is_none() && query.is_none() {
        return std::borrow::Cow::Borrowed(url);
    }
    let mut shown = String::with_capacity(url.len());
    shown.push_str(&url[..authority_at]);
    if from.is_some() {
        shown.push_str("REDACTED");
    }
    match query {
        Some(q) => {
            shown.push_str(&tail[..=q]);
            shown.push_str("REDACTED");
            if let Some(fragment) = tail[q..].find('#') {
                shown.push_str(&tail[q + fragment..]);
            }
        }
        None => shown.push_str(tail),
    }
    std::borrow::Cow::Owned(shown)
}

pub(crate) fn validate_url(url: &str) -> Result<(), ExportError> {
    // Redacted as it is kept: the error's `Debug` shows it too.
    let invalid = |reason| ExportError::InvalidEndpoint {
        url: redacted_url(url).into_owned(),
        reason,
    };
    let uri: http::Uri = url.parse().map_err(|_| invalid("not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(invalid("the scheme must be http or https")),
        None => return Err(invalid("missing http:// or https://")),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => {}
        _ => return Err(invalid("missing host")),
    }
    // `http::Uri` keeps any digits as the port; a TCP port is 1 to 65535. An empty
    // one is the scheme's default (the OTLP exporter spec: "if the port is empty or not
    // given, TCP port 80 is the default for the http scheme and TCP port 443 is the
    // default for the https scheme"; ureq reads it so).
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.rsplit_once(']') {
        Some((_, rest)) => rest, // an IPv6 literal: `[::1]:4318`
        None => host_port.find(':').map_or("", |i| &host_port[i..]),
    };
    match after_host.strip_prefix(':') {
        None | Some("") => Ok(()),
        Some(port) if port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        Some(_) => Err(invalid("the port must be a number from 1 to 65535")),
    }
}

/// Sends OTLP/HTTP trace requests; see the module docs.
pub struct OtlpHttpExporter {
    agent: ureq::Agent,
    /// The collector's addresses `agent` keeps, forgotten when a request fails.
    resolved: Arc<resolver::Resolved>,
    url: String,
    protocol: Protocol,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    attempt_timeout: Duration,
    compression: Compression,
    retry: RetryPolicy,
    max_request_size: usize,
    counters: Counters,
    /// splitmix64 state for retry jitter.
    jitter: AtomicU64,
    /// Reused gzip output buffer.
    gzip: Mutex<Vec<u8>>,
    /// Reused encoding buffer of [`SpanExporter::export`] (grown once to
    /// `max_request_size`).
    encode_buf: Vec<u8>,
    /// No request before this: until when the collector asked (`Retry-After`) not to
    /// be sent anything, and when that was learned (see [`ExportError::Throttled`]).
    not_before: Mutex<Option<(Instant, Instant)>>,
    /// Why spans were last lost or warned about (see [`OtlpHttpExporter::last_error`]).
    last_error: Mutex<Option<String>>,
}

impl fmt::Debug for OtlpHttpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpHttpExporter")
            .field("url", &redacted_url(&self.url))
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One failed attempt and what the server asked for.
struct Attempt {
    error: ExportError,
    retry_after: Option<Duration>,
}

impl OtlpHttpExporter {
    /// Creates an exporter for the base endpoint `endpoint` (`v1/traces` is appended)
    /// with the defaults.
    ///
    /// # Errors
    /// [`ExportError::InvalidEndpoint`] when the URL is not usable.
    pub fn new(endpoint: &str) -> Result<Self, ExportError> {
        Self::builder().endpoint(endpoint).build()
    }

    /// Returns a builder with the defaults.
    pub fn builder() -> OtlpHttpExporterBuilder {
        OtlpHttpExporterBuilder::default()
    }

    /// Returns the URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Returns the URL requests go to, for logs: credentials in it (`user:password@`)
    /// and its query, which may carry an API key, read `REDACTED`, as in `Debug`.
    ///
    /// ```
    /// let exporter = picotrace_std::OtlpHttpExporter::new("https://u:pw@c:4318/?api_key=k")?;
    /// assert!(!exporter.shown_url().contains("pw"));
    /// assert!(!exporter.shown_url().contains("api_key=k"));
    /// # Ok::<(), picotrace_std::ExportError>(())
    /// ```
    pub fn shown_url(&self) -> std::borrow::Cow<'_, str> {
        redacted_url(&self.url)
    }

    /// Returns the encoding.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Returns the compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Returns the retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Returns the largest request body it builds.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }

    /// Returns the longest one export may take, its requests, retries and waits
    /// together (`OTEL_EXPORTER_OTLP_TIMEOUT`; no limit is a year).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Returns why the last send that lost spans lost them (the error, or the
    /// collector's partial-success message), or the collector's last warning: what the
    /// [`picotrace::SpanExporter`] path's `Failed` / `Partial` results cannot carry (a
    /// 401, the collector's reason).
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Returns the counters.
    pub fn stats(&self) -> ExporterStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExporterStats {
            requests: get(&c.requests),
            retries: get(&c.retries),
            failed_sends: get(&c.failed_sends),
            spans_exported: get(&c.spans_exported),
            spans_failed: get(&c.spans_failed),
            spans_rejected: get(&c.spans_rejected),
            bytes_sent: get(&c.bytes_sent),
            name_lookups: self.resolved.lookups(),
        }
    }

    /// Posts one encoded `ExportTraceServiceRequest` (in this exporter's
    /// [`Protocol`]), retrying per the policy, all within the exporter's timeout. Span
    /// counters are not touched (the body is opaque here); see [`Self::send_spans`].
    ///
    /// # Errors
    /// See [`ExportError`]: a non-retryable status at once, or
    /// [`ExportError::RetriesExhausted`] after the retries.
    pub fn send(&self, body: &[u8]) -> Result<ExportOutcome, ExportError> {
        self.send_until(body, None)
    }

    /// Like [`Self::send`], but gives up once `deadline` (or the exporter's timeout,
    /// whichever comes first) has passed: each attempt's timeout is cut to the time
    /// left, and no wait runs past it.
    ///
    /// # Errors
    /// As [`Self::send`].
    pub fn send_until(
        &self,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> Result<ExportOutcome, ExportError> {
        // One deadline per export, covering every attempt and wait.
        let own = instant_after(self.timeout);
        let deadline = deadline.map_or(own, |d| d.min(own));
        let result = match self.compression {
            Compression::None => self.send_with_retries(body, deadline),
            Compression::Gzip => {
                // Reuse the exporter's buffer; a concurrent sender that finds it busy
                // compresses into a fresh one instead of waiting. (A poisoned lock only
                // means a sender panicked; the buffer is cleared before use anyway.)
                let mut fresh = Vec::new();
                let mut guard = match self.gzip.try_lock() {
                    Ok(g) => Some(g),
                    Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
                    Err(std::sync::TryLockError::WouldBlock) => None,
                };
                let buf = guard.as_deref_mut().unwrap_or(&mut fresh);
                buf.clear();
                let mut gz = flate2::write::GzEncoder::new(&mut *buf, flate2::Compression::fast());
                // A failure here is a failed send too (found by review: `?` returned
                // before the count below).
                match gz.write_all(body).and_then(|()| gz.finish().map(|_| ())) {
                    Ok(()) => self.send_with_retries(buf, deadline),
                    Err(e) => Err(ExportError::Io(e)),
                }
            }
        };
        if result.is_err() {
            add(&self.counters.failed_sends, 1);
        }
        result
    }

    /// Sends a request holding `spans` spans and counts them: exported, rejected (by
    /// partial success) or failed.
    ///
    /// # Errors
    /// As [`Self::send`].
    pub fn send_spans(
        &self,
        body: &[u8],
        spans: usize,
        deadline: Option<Instant>,
    ) -> Result<ExportOutcome, ExportError> {
        let spans = spans as u64;
        let result = self.send_until(body, deadline);
        let note = match &result {
            Ok(outcome) => {
                let rejected = outcome.rejected_spans.min(spans);
                add(&self.counters.spans_rejected, rejected);
                add(&self.counters.spans_exported, spans - rejected);
                partial_success_note(rejected, spans, outcome.error_message.as_deref())
            }
            Err(e) => {
                add(&self.counters.spans_failed, spans);
                Some(e.to_string())
            }
        };
        if let Some(note) = note {
            *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(note);
        }
        result
    }

    fn next_random(&self) -> u64 {
        // splitmix64: lock-free, good enough for jitter.
        let mut z = self
            .jitter
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// How long the collector's last `Retry-After` has left to run, if any.
    pub(crate) fn throttled_for(&self) -> Option<Duration> {
        let mut not_before = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        let (until, _) = (*not_before)?;
        let left = until.checked_duration_since(Instant::now());
        if left.is_none() {
            *not_before = None;
        }
        left.filter(|left| !left.is_zero())
    }

    /// Holds every request of this exporter (all workers sharing it) until `until`: a
    /// `Retry-After` the collector just sent; the later of two waits counts.
    fn hold_until(&self, until: Instant) {
        let mut not_before = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        let until = not_before.map_or(until, |(earlier, _)| earlier.max(until));
        *not_before = Some((until, Instant::now()));
    }

    /// A request sent at `sent_at` was taken: a wait learned of before it was sent is
    /// over; one learned of since (an answer to a request sent later) still holds.
    fn lift_throttle(&self, sent_at: Instant) {
        let mut not_before = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if not_before.is_some_and(|(_, learned)| learned <= sent_at) {
            *not_before = None;
        }
    }

    /// What is left of a wait the collector asked for, with this caller's own jitter
    /// (workers waiting out one `Retry-After` do not all send at its end): how long a
    /// batch exporter's worker keeps its spans queued.
    pub(crate) fn shared_wait(&self) -> Option<Duration> {
        let wait = self.throttled_for()?;
        Some(wait.saturating_add(self.retry.jitter_for(self.next_random())))
    }

    /// Waits out the collector's `Retry-After`, if one runs, with jitter that leaves
    /// the request room before `deadline`; `Err(wait)` when the wait itself outlasts
    /// the deadline (the same test a batch exporter's worker makes, jitter aside).
    fn wait_out_hold(&self, deadline: Instant) -> Result<(), Duration> {
        // Looked at again after each wait: the worker that woke first may have probed
        // and brought back a new `Retry-After` meanwhile, which holds for this request
        // too (found by review: the workers with longer jitter sent straight into it).
        while let Some(hold) = self.throttled_for() {
            if instant_after(hold) >= deadline {
                return Err(hold);
            }
            let room = deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(hold);
            let jitter = self.retry.jitter_for(self.next_random()).min(room / 2);
            std::thread::sleep(hold.saturating_add(jitter));
        }
        Ok(())
    }

    fn send_with_retries(
        &self,
        payload: &[u8],
        deadline: Instant,
    ) -> Result<ExportOutcome, ExportError> {
        // A `Retry-After` the collector gave any request of this exporter (another
        // worker's included) holds for this one: wait it out if the deadline allows,
        // else send nothing (found by review: the next batch went out at once, so a
        // throttled collector got requests back to back; the OTLP specification says
        // the client SHOULD honour the waiting interval).
        if let Err(wait) = self.wait_out_hold(deadline) {
            return Err(ExportError::Throttled { wait });
        }
        let mut attempts = 0u32;
        loop {
            // Each attempt gets what is left of the deadline (at most `attempt_timeout`).
            let timeout = match deadline.saturating_duration_since(Instant::now()) {
                left if left.is_zero() => return Err(ExportError::Timeout),
                left => left.min(self.attempt_timeout),
            };
            attempts += 1;
            if attempts > 1 {
                add(&self.counters.retries, 1);
            }
            let sent_at = Instant::now();
            let failed = match self.attempt(payload, timeout) {
                Ok(outcome) => {
                    // The collector takes requests again: a wait it asked for before
                    // this request went out is over.
                    self.lift_throttle(sent_at);
                    return Ok(ExportOutcome {
                        attempts,
                        ..outcome
                    });
                }
                Err(failed) => failed,
            };
            if !failed.error.is_retryable() {
                return Err(failed.error);
            }
            let delay = self
                .retry
                .delay(attempts - 1, failed.retry_after, self.next_random());
            // Every request of this exporter waits for a `Retry-After`, at once (found
            // by review: only an export that gave up on it told the others, so workers
            // sent into a window one of them was waiting out).
            if failed.retry_after.is_some() {
                self.hold_until(instant_after(delay));
            }
            if self.retry.max_retries == 0 {
                return Err(failed.error);
            }
            if attempts > self.retry.max_retries {
                return Err(exhausted(failed.error, attempts));
            }
            if instant_after(delay) >= deadline {
                // The wait would outlast the deadline: give up now, not after it.
                return Err(exhausted(failed.error, attempts));
            }
            std::thread::sleep(delay);
            // A longer wait another worker was asked for meanwhile holds for this retry
            // too (found by review: a retry went out into it).
            if self.wait_out_hold(deadline).is_err() {
                return Err(exhausted(failed.error, attempts));
            }
        }
    }

    /// Sends one request and reads the response.
    fn attempt(&self, payload: &[u8], timeout: Duration) -> Result<ExportOutcome, Attempt> {
        let started = Instant::now();
        let expect = payload.len() > EXPECT_CONTINUE_ABOVE;
        match self.attempt_with(payload, timeout, expect) {
            // A server (a proxy) that does not take `Expect`: sent again without it, as
            // RFC 9110 asks of a client that gets 417 (§ 15.5.18).
            Err(Attempt {
                error: ExportError::HttpStatus { status: 417, .. },
                ..
            }) if expect => {
                let left = timeout.saturating_sub(started.elapsed());
                self.attempt_with(payload, left, false)
            }
            answer => answer,
        }
    }

    /// Sends one request, with `Expect: 100-continue` when `expect`, and reads the
    /// response.
    fn attempt_with(
        &self,
        payload: &[u8],
        timeout: Duration,
        expect: bool,
    ) -> Result<ExportOutcome, Attempt> {
        add(&self.counters.requests, 1);
        let mut request = self
            .agent
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, self.protocol.content_type());
        if self.compression == Compression::Gzip {
            request = request.header(http::header::CONTENT_ENCODING, "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        // A large body waits for the collector's `100 Continue`: a gateway that answers
        // from the headers alone (401, 413) and closes without reading the body resets
        // the connection under a body still being written, and the answer was lost to
        // the reset, which was retried (found by review). A server that ignores
        // `Expect` costs the wait, once per large request.
        if expect {
            request = request.header(http::header::EXPECT, "100-continue");
        }
        let request = request
            .config()
            .timeout_global(Some(timeout))
            .timeout_await_100(Some(AWAIT_CONTINUE))
            .build();
        let fail = |error| Attempt {
            error,
            retry_after: None,
        };
        let mut response = request.send(payload).map_err(|e| {
            // The collector may have moved: its name is looked up again for the next
            // connection.
            self.resolved.forget();
            fail(e.into())
        })?;
        add(&self.counters.bytes_sent, payload.len() as u64);
        let status = response.status().as_u16();
        if matches!(status, 502..=504) {
            // A gateway in front of a collector that moved, perhaps: looked up again.
            self.resolved.forget();
        }
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // A collector, or a gateway in front of it, may compress its answer (found by
        // review: the gzip bytes were parsed as protobuf, and a partial success lost);
        // `x-gzip` is gzip (RFC 9110 § 8.4.1.3, found by review).
        let gzipped = response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip"));
        let json_body = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            // Media types are case-insensitive (RFC 9110 § 8.3.1): `Application/JSON`
            // was read as protobuf, and its partial success lost (found by review).
            // A type that names neither (`text/plain` from a proxy) is read as what
            // was sent, as a missing one is (found by review: a JSON partial success
            // was read as protobuf, and its rejected spans counted as exported).
            .map_or(self.protocol == Protocol::HttpJson, |ct| {
                let ct = ct.to_ascii_lowercase();
                match (ct.contains("json"), ct.contains("protobuf")) {
                    (true, _) => true,
                    (false, true) => false,
                    (false, false) => self.protocol == Protocol::HttpJson,
                }
            });
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_SIZE)
            .read_to_vec()
            .ok()
            .and_then(|body| if gzipped { gunzip(&body) } else { Some(body) });
        if (200..300).contains(&status) {
            // The data arrived; a body we cannot read only loses the partial-success
            // details, so it is not an error, but it is said (found by review: the
            // spans it might have rejected were counted as exported, silently).
            // Nor is one that is no OTLP response (found by review: a gateway's HTML
            // page said nothing).
            // A partial success that does not read (a string where its object goes, a
            // cut field) is said too (found by review: it read as full success).
            let read = body.and_then(|b| {
                if b.is_empty() {
                    return Some(None);
                }
                partial_success(json_body, &b)
            });
            let unreadable = read.is_none();
            let partial = read.flatten();
            return Ok(ExportOutcome {
                status,
                attempts: 1,
                rejected_spans: partial.as_ref().map_or(0, |p| p.rejected_spans),
                error_message: partial
                    .map(|p| p.error_message)
                    .filter(|m| !m.is_empty())
                    .or_else(|| unreadable.then(|| UNREADABLE_SUCCESS.to_owned())),
            });
        }
        let body = error_text(json_body, &body.unwrap_or_default());
        Err(Attempt {
            error: ExportError::HttpStatus { status, body },
            retry_after,
        })
    }

    /// Encodes `spans` into requests of at most `max_request_size` bytes and sends each;
    /// returns how many spans were lost (too large to encode, their request failed, or
    /// the collector rejected them in a partial success).
    fn export_spans<'a>(
        &mut self,
        resource: &Resource,
        scope: &InstrumentationScope,
        spans: impl Iterator<Item = SpanData<'a>> + Clone,
    ) -> usize {
        let mut buf = std::mem::take(&mut self.encode_buf);
        if buf.len() < self.max_request_size {
            buf.resize(self.max_request_size, 0);
        }
        let mut rejected = 0;
        // The timeout is the time one export may take: one deadline for all its
        // requests (later ones fail at once when the first used it up).
        let deadline = instant_after(self.timeout);
        let lost = encode_in_requests(
            &self.protocol,
            resource,
            scope,
            spans,
            &mut buf,
            |body, n| match self.send_spans(body, n, Some(deadline)) {
                Ok(outcome) => {
                    // Delivered, but not kept: lost all the same (counted as rejected
                    // in this exporter's stats by `send_spans`).
                    rejected += usize::try_from(outcome.rejected_spans).map_or(n, |r| r.min(n));
                    true
                }
                Err(_) => false,
            },
        );
        add(&self.counters.spans_failed, lost.unencodable as u64);
        self.encode_buf = buf;
        lost.total() + rejected
    }
}

/// What a partial success says, for `last_error` and loss warnings: a warning when
/// nothing was rejected (found by review: "rejected 0 of 1 spans" read as a loss);
/// spans rejected without a message are said too (found by review: `last_error` kept
/// an older, unrelated error). `None` when there is nothing to say.
pub(crate) fn partial_success_note(
    rejected: u64,
    spans: u64,
    message: Option<&str>,
) -> Option<String> {
    match (rejected, message.filter(|m| !m.is_empty())) {
        (0, None) => None,
        (0, Some(message)) => Some(format!(
            "the collector took all {spans} spans with a warning: {message}"
        )),
        (_, Some(message)) => Some(format!(
            "the collector rejected {rejected} of {spans} spans: {message}"
        )),
        (_, None) => Some(format!(
            "the collector rejected {rejected} of {spans} spans (it gave no reason)"
        )),
    }
}

/// A gzip response body, decompressed (every member of it; an empty body is empty, found
/// by review: it was unreadable): `None` when it is not gzip or would grow past
/// [`MAX_RESPONSE_SIZE`] (a small body can inflate a thousandfold).
fn gunzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    if body.is_empty() {
        return Some(out);
    }
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_RESPONSE_SIZE + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() as u64 <= MAX_RESPONSE_SIZE).then_some(out)
}

fn exhausted(last: ExportError, attempts: u32) -> ExportError {
    ExportError::RetriesExhausted {
        last: Box::new(last),
        attempts,
    }
}

/// The largest JSON error body parsed for its message: the JSON decoder builds a tree
/// (some 30 bytes of memory per byte of a hostile body), and a real one is a few
/// hundred bytes. A larger one is shown as the start of its text. (A 2xx body is read
/// whole, keeping only the partial success: its count must not be lost.)
const MAX_PARSED_JSON: usize = 64 * 1024;

/// The partial success a 2xx response reports, if any.
fn partial_success(json: bool, body: &[u8]) -> Option<Option<response::PartialSuccess>> {
    let mut partial = if json {
        response::read_json_response(body)
    } else {
        response::read_proto_response(body)
    };
    if let Some(Some(p)) = &mut partial {
        p.error_message = clean_text(&p.error_message, MAX_ERROR_BODY);
    }
    partial
}

/// What an error response says: its `Status` message, else the start of its body;
/// cut and cleaned, since it ends up in errors and warnings on stderr.
fn error_text(json: bool, body: &[u8]) -> String {
    let message = if !json {
        response::decode_proto_status_message(body)
    } else if body.len() <= MAX_PARSED_JSON {
        response::decode_json_status_message(body)
    } else {
        None
    };
    match message {
        Some(message) => clean_text(&message, MAX_ERROR_BODY),
        None => lossy_prefix(body, MAX_ERROR_BODY),
    }
}

/// Returns at most `max` bytes of `body` as cleaned text (see [`clean_text`]).
fn lossy_prefix(body: &[u8], max: usize) -> String {
    // A character cut at `max` is dropped whole by `clean_text`, not shown as U+FFFD.
    let head = &body[..body.len().min(max.saturating_add(4))];
    let mut s = clean_text(&String::from_utf8_lossy(head), max);
    if body.len() > max && !s.ends_with('…') {
        s.push('…');
    }
    s
}

/// Text from the collector as it may be shown: at most `max` bytes, cut at a
/// character boundary (then `…`), control characters (a newline, an escape sequence
/// that would forge or garble log lines on a terminal) as spaces.
fn clean_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    for c in text.chars() {
        if out.len() + c.len_utf8() > max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// Exports synchronously: encodes the batch (splitting it into requests of at most
/// `max_request_size` bytes, in a buffer kept between calls) and sends each request
/// from the calling thread. Spans that were lost are reported as
/// [`picotrace::ExportError::Partial`] (or `Failed` when none got through).
impl SpanExporter for OtlpHttpExporter {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let lost = self.export_spans(batch.resource, batch.scope, batch.iter());
        match lost {
            0 => Ok(()),
            n if n >= batch.len() => Err(picotrace::ExportError::Failed),
            dropped => Err(picotrace::ExportError::Partial { dropped }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by review): the proxy came from the first of `ALL_PROXY`,
    /// `HTTPS_PROXY`, `HTTP_PROXY` whatever the collector's scheme, and `HTTP_PROXY`
    /// was read in CGI programs.
    #[test]
    fn the_proxy_is_the_collector_scheme_s() {
        let proxy = |url: &str, vars: &[(&str, &str)]| {
            env_proxy(url, |name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            })
            .map(|p| format!("{}:{}", p.host(), p.port()))
        };
        let (http, https) = ("http://c:4318/v1/traces", "https://c/v1/traces");
        let only_https = [("HTTPS_PROXY", "http://secure.proxy:3128")];
        assert_eq!(proxy(http, &only_https), None);
        assert_eq!(
            proxy(https, &only_https).as_deref(),
            Some("secure.proxy:3128")
        );
        let plain = [("HTTP_PROXY", "plain.proxy:8080")];
        assert_eq!(proxy(http, &plain).as_deref(), Some("plain.proxy:8080"));
        assert_eq!(proxy(https, &plain), None);
        // In a CGI program `HTTP_PROXY` is a client's header: only `http_proxy` counts.
        let cgi = [("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "evil:1")];
        assert_eq!(proxy(http, &cgi), None);
        let cgi = [("REQUEST_METHOD", "GET"), ("http_proxy", "good:2")];
        assert_eq!(proxy(http, &cgi).as_deref(), Some("good:2"));
        // ALL_PROXY when the scheme's own is unset; an empty one is unset.
        let all = [("HTTPS_PROXY", " "), ("ALL_PROXY", "http://all:3")];
        assert_eq!(proxy(https, &all).as_deref(), Some("all:3"));
        assert_eq!(proxy(http, &all).as_deref(), Some("all:3"));
        // A SOCKS proxy (unsupported here) is not used: direct, not a panic per request.
        let socks = [("ALL_PROXY", "socks5h://127.0.0.1:1080")];
        assert_eq!(proxy(https, &socks), None);
        assert_eq!(proxy(http, &socks), None);
        // Credentials go with the proxy; NO_PROXY's hosts are reached directly.
        let vars = [
            ("https_proxy", "http://user:pw@secure.proxy:3128"),
            ("NO_PROXY", "collector.internal, .corp"),
        ];
        let p = env_proxy(https, |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("a proxy");
        assert_eq!((p.username(), p.password()), (Some("user"), Some("pw")));
        for (url, direct) in [
            ("https://collector.internal:4318/v1/traces", true),
            ("https://otel.eu.corp/v1/traces", true),
            ("https://collector.example/v1/traces", false),
        ] {
            assert_eq!(proxy(url, &vars).is_none(), direct, "{url}");
        }
    }

    /// Regression (found by review): `NO_PROXY` entries were matched as ureq matches
    /// them, a name only exactly: a range, an entry with a port, a parent domain and
    /// the loopback host went through the proxy. Go's `httpproxy` rules now.
    #[test]
    fn no_proxy_is_read_as_go_reads_it() {
        let list = "corp.example, 10.0.0.0/8, collector:4318, .svc.local, *.mesh, \
                    [fd00::1]:4318, 192.168.1.7, 2001:db8::/32";
        for (host, port, direct) in [
            ("corp.example", 443, true),
            ("otel.corp.example", 443, true),
            ("OTEL.Corp.Example.", 443, true),
            ("notcorp.example", 443, false),
            ("10.1.2.3", 4318, true),
            ("11.1.2.3", 4318, false),
            ("collector", 4318, true),
            ("collector", 4317, false),
            ("otel.svc.local", 80, true),
            ("svc.local", 80, false),
            ("a.mesh", 80, true),
            ("mesh", 80, false),
            ("[fd00::1]", 4318, true),
            ("[fd00::1]", 80, false),
            ("192.168.1.7", 1, true),
            ("192.168.1.8", 1, false),
            ("[2001:db8::5]", 1, true),
            ("[2001:db9::5]", 1, false),
            // Always direct, whatever the list.
            ("localhost", 4318, true),
            ("127.0.0.1", 4318, true),
            ("127.9.9.9", 4318, true),
            ("[::1]", 4318, true),
            ("[::ffff:127.0.0.1]", 4318, true),
            ("[::ffff:10.1.2.3]", 4318, true),
            ("[::ffff:192.168.1.7]", 1, true),
            ("collector.example", 4318, false),
        ] {
            assert_eq!(no_proxy_exempts(list, host, port), direct, "{host}:{port}");
        }
        assert!(no_proxy_exempts(" * ", "anything", 1));
        assert!(!no_proxy_exempts("", "anything", 1));
        // Malformed entries exempt nothing (and do not panic).
        for bad in [
            "10.0.0.0/99",
            "/8",
            ":4318",
            "[::1",
            "[fd00::1]x",
            "a:b:c",
            ",,,",
        ] {
            assert!(!no_proxy_exempts(bad, "fd00::1", 4318), "{bad}");
            assert!(!no_proxy_exempts(bad, "10.0.0.1", 4318), "{bad}");
        }
        // The exporter's default collector is never proxied.
        let vars = [("HTTP_PROXY", "http://proxy.corp:3128")];
        let var = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        assert!(env_proxy("http://localhost:4318/v1/traces", var).is_none());
        assert!(env_proxy("http://10.1.2.3:4318/v1/traces", var).is_some());
    }

    /// Regression (found by review): a URL's credentials and query (an API key) were
    /// shown by `Debug` and by the invalid-endpoint error, while header values never
    /// are.
    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        for (url, shown) in [
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
            ("https://u:p@c/v1/traces", "https://REDACTED@c/v1/traces"),
            ("https://u@c?k=v#f", "https://REDACTED@c?REDACTED#f"),
            ("http://c/p?key=s&x=1", "http://c/p?REDACTED"),
            ("c:1/a@b", "REDACTED@b"),
            ("https://u:pa/ss@h/v1", "https://REDACTED@h/v1"),
            ("https://u:p?w#x@h", "https://REDACTED@h"),
            ("https://[::1]:4318/v1", "https://[::1]:4318/v1"),
            ("", ""),
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
        let builder = OtlpHttpExporter::builder()
            .endpoint("https://u:s3cret@c:4318?token=t0k")
            .traces_endpoint("https://u:s3cret@c:99999/v1/traces");
        let debug = format!("{builder:?}");
        let error = builder.build().unwrap_err();
        // The error's `Debug` too (found by review: it held the URL as given, shown by
        // `unwrap` or a `main` returning the error).
        for text in [debug, error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("s3cret") && !text.contains("t0k"), "{text}");
            assert!(text.contains("REDACTED@c:"), "{text}");
        }
        let exporter = OtlpHttpExporter::builder()
            .traces_endpoint("https://u:s3cret@c:4318/v1/traces")
            .build()
            .unwrap();
        assert!(!format!("{exporter:?}").contains("s3cret"));
        // A secret given as a header name is not shown either.
        let error = OtlpHttpExporter::builder()
            .header("Authorization: Basic dXNlcjpw=", "x")
            .build()
            .unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("dXNlcjpw"), "{text}");
        }
    }

    /// Regression: a JSON response body was parsed into a tree whatever its size (a
    /// 4 MiB body of junk took some 100 MiB), and the collector's messages went whole,
    /// control characters and all, into errors and stderr warnings. A 2xx body is now
    /// read without a tree (its partial success must not be lost, whatever its size).
    #[test]
    fn collector_text_is_bounded_and_cleaned() {
        let mut junk = String::from(r#"{"x":["#);
        junk.push_str(&"0,".repeat(40_000));
        junk.push_str(r#"0],"partialSuccess":{"rejectedSpans":"2","errorMessage":"m"}}"#);
        let p = partial_success(true, junk.as_bytes())
            .flatten()
            .expect("read past the junk");
        assert_eq!((p.rejected_spans, p.error_message.as_str()), (2, "m"));
        let small = r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"a\nb\u001b[2J"}}"#;
        let p = partial_success(true, small.as_bytes())
            .flatten()
            .expect("parsed");
        assert_eq!((p.rejected_spans, p.error_message.as_str()), (2, "a b [2J"));
        let long = std::format!(r#"{{"message":"{}"}}"#, "é".repeat(2_000));
        let text = error_text(true, long.as_bytes());
        assert!(text.len() <= MAX_ERROR_BODY + '…'.len_utf8() && text.ends_with('…'));
        assert!(text.trim_end_matches('…').chars().all(|c| c == 'é'));
        let raw = [b"line\nforged: ".as_slice(), &[0xc3; 3000]].concat();
        let text = error_text(false, &raw);
        assert!(
            text.starts_with("line forged: ") && text.ends_with('…'),
            "{text}"
        );
        assert!(!text.chars().any(char::is_control));
    }

    #[test]
    fn base_endpoints_get_v1_traces_appended_once() {
        #[rustfmt::skip]
        let table: &[(&str, &str, &str)] = &[
            ("http://collector:4318",        "http://collector:4318/v1/traces",       "no path"),
            ("http://collector:4318/",       "http://collector:4318/v1/traces",       "trailing slash"),
            ("https://otel.example/api",     "https://otel.example/api/v1/traces",    "base with path"),
            ("https://otel.example/api/",    "https://otel.example/api/v1/traces",    "base path, slash"),
            (" http://localhost:4318 ",      "http://localhost:4318/v1/traces",       "spaces trimmed"),
            // Regression: the path went after the query.
            ("http://c:4318/?k=v",           "http://c:4318/v1/traces?k=v",           "query kept after"),
            ("http://c:4318/api?k=v#f",      "http://c:4318/api/v1/traces?k=v#f",     "query and fragment"),
        ];
        for (base, want, why) in table {
            assert_eq!(traces_url_from_base(base), *want, "{why}");
        }
    }

    #[test]
    fn signal_endpoints_are_used_as_is() {
        #[rustfmt::skip]
        let table: &[(&str, &str, &str)] = &[
            ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces", "the usual"),
            ("http://collector:4318/custom",    "http://collector:4318/custom",    "no v1/traces added"),
            ("http://collector:4318/x/",        "http://collector:4318/x/",        "slash kept"),
            ("http://collector:4318",           "http://collector:4318/",          "empty path is /"),
            // Regression: a query or fragment with no path before it was sent as the
            // request target (`POST ?tenant=a`).
            ("http://c:4318?tenant=a",          "http://c:4318/?tenant=a",          "query, no path"),
            ("http://c:4318#f",                 "http://c:4318/#f",                 "fragment, no path"),
            ("http://c:4318/p?x=/y",            "http://c:4318/p?x=/y",            "path, then query"),
        ];
        for (url, want, why) in table {
            assert_eq!(signal_url(url), *want, "{why}");
        }
        let b = OtlpHttpExporter::builder()
            .endpoint("http://ignored:1")
            .traces_endpoint("http://used:2/traces");
        assert_eq!(b.url(), "http://used:2/traces");
    }

    #[test]
    fn bad_endpoints_and_headers_are_errors_not_panics() {
        for url in [
            "collector:4318",
            "ftp://x/",
            "http://",
            "",
            "http://a b/",
            "://x",
        ] {
            let r = OtlpHttpExporter::builder().traces_endpoint(url).build();
            assert!(
                matches!(r, Err(ExportError::InvalidEndpoint { .. })),
                "{url:?}: {r:?}"
            );
        }
        for (name, value) in [("bad name", "v"), ("x-ok", "line\nbreak"), ("", "v")] {
            let r = OtlpHttpExporter::builder().header(name, value).build();
            assert!(
                matches!(r, Err(ExportError::InvalidHeader { .. })),
                "{name:?}"
            );
        }
        assert!(OtlpHttpExporter::new("https://otel.example:443").is_ok());
    }

    #[test]
    fn ports_outside_1_to_65535_are_invalid_endpoints() {
        for url in [
            "http://127.0.0.1:99999",
            "http://collector:65536/v1/traces",
            "https://collector:0",
            "http://[::1]:70000/",
            "http://collector:18446744073709551616",
        ] {
            let r = OtlpHttpExporter::builder().traces_endpoint(url).build();
            assert!(
                matches!(&r, Err(ExportError::InvalidEndpoint { reason, .. }) if reason.contains("port")),
                "{url:?}: {r:?}"
            );
        }
        for url in [
            "http://c:1/",
            "https://c:65535/x",
            "http://[::1]:4318/",
            "http://c/",
            // An empty port is the scheme's (the OTLP exporter spec: "if the port is
            // empty or not given, TCP port 80 is the default for the http scheme").
            "http://collector:/v1/traces",
            "https://[::1]:/",
        ] {
            assert!(
                OtlpHttpExporter::builder()
                    .traces_endpoint(url)
                    .build()
                    .is_ok(),
                "{url}"
            );
        }
    }

    #[test]
    fn framing_and_non_ascii_headers_are_refused_and_values_never_shown() {
        for name in [
            "content-length",
            "Transfer-Encoding",
            "HOST",
            "content-type",
            "Content-Encoding",
            " connection ",
        ] {
            let r = OtlpHttpExporter::builder().header(name, "0").build();
            assert!(
                matches!(&r, Err(ExportError::InvalidHeader { reason, .. }) if reason.contains("framing")),
                "{name:?}: {r:?}"
            );
        }
        let r = OtlpHttpExporter::builder()
            .header("x-api-key", "caf\u{e9}-s3cret")
            .build();
        let e = r.unwrap_err();
        assert!(matches!(e, ExportError::InvalidHeader { .. }), "{e:?}");
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(shown.contains("x-api-key"), "{shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        let b = OtlpHttpExporter::builder().header("authorization", "Bearer s3cret");
        let shown = format!("{b:?}");
        assert!(
            shown.contains("authorization") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(b.build().is_ok());
    }

    #[test]
    fn protocol_names_and_content_types() {
        assert_eq!(Protocol::default(), Protocol::HttpProtobuf);
        assert_eq!(
            Protocol::HttpProtobuf.content_type(),
            "application/x-protobuf"
        );
        assert_eq!(Protocol::HttpJson.content_type(), "application/json");
        assert_eq!(Protocol::HttpJson.to_string(), "http/json");
    }

    #[test]
    fn error_bodies_are_cut() {
        assert_eq!(lossy_prefix(b"short", 10), "short");
        assert_eq!(lossy_prefix(b"0123456789abc", 10), "0123456789…");
        assert_eq!(lossy_prefix(&[0xff, b'a'], 10), "\u{fffd}a");
    }
}
