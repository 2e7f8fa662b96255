//! picotrace-std: the std adapter of [`picotrace`]. The core decides and encodes
//! (`#![no_std]`, no allocator); this crate performs the I/O: clock, entropy, threads,
//! sockets, environment.
//!
//! # Layers, top down
//! - [`init_from_env`] reads the `OTEL_*` variables ([`env`](mod@env)) and installs a
//!   [`TracerProvider`]: what a program calls at start-up.
//! - [`TracerProvider`] ([`tracer`](mod@tracer)) holds one core tracer ([`StdTracer`])
//!   that every thread shares (spans are `Send + Sync`, claim and end are one atomic
//!   operation each) and an export thread that drains it into a [`SharedExporter`].
//! - [`InSpan`] ([`context`](mod@context)) makes a span current while a future is polled,
//!   on any runtime and any worker thread; [`current_context`] reads it (with the
//!   `tracing` feature, an entered `tracing` span the layer records too: the innermost
//!   of both kinds).
//! - [`BatchExporter`] ([`batch`]) encodes each span it is handed into a bounded queue
//!   without blocking or allocating, and sends them from a named worker thread.
//! - [`OtlpHttpExporter`] ([`otlp_http`]) posts OTLP/HTTP requests with ureq,
//!   retrying per [`RetryPolicy`] ([`retry`]); [`ConsoleExporter`] ([`console`]) prints.
//! - [`SystemClock`] ([`clock`]) and [`OsEntropy`] ([`entropy`]) are the platform
//!   traits of the core; the carriers ([`carrier`]) adapt `HashMap` and
//!   `http::HeaderMap` to W3C propagation.
//! - [`ExportError`] ([`error`]) is this crate's error type (building and running
//!   exporters, flush, shutdown). An exporter of one's own implements the core's
//!   [`picotrace::SpanExporter`], whose `export` returns the core's smaller
//!   [`picotrace::ExportError`] (how many spans a batch lost): a different type of the
//!   same name.
//!
//! ```no_run
//! let provider = picotrace_std::init_from_env()?; // OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, ...
//! let tracer = provider.tracer();
//! let mut request = tracer.start_server_span("GET /users", None);
//! request.set_attribute("http.request.method", "GET");
//! let mut db = request.child("SELECT users");
//! db.end();
//! request.end();
//! provider.shutdown()?; // drains the queue before exit
//! # Ok::<(), picotrace_std::ExportError>(())
//! ```
//!
//! # In scope
//! - OTLP/HTTP export, protobuf and JSON, gzip, https (rustls with the webpki roots,
//!   or a private CA, and client certificates for mutual TLS), the OTLP retry rules (429/502/503/504, `Retry-After`, backoff with jitter) and
//!   `partial_success`.
//! - The OpenTelemetry batch span processor's behaviour and defaults, with a hot path
//!   that neither blocks on the network nor allocates, and counters that account for
//!   every span.
//! - One tracer shared by every thread, with spans that live across `.await` and move
//!   between threads; the `OTEL_*` environment configuration; a console exporter;
//!   `HashMap` and `http::HeaderMap` carriers.
//!
//! # Out of scope
//! - OTLP/gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` warns and uses http/protobuf).
//! - A dependency on an async runtime: the exporter has its own thread; async code
//!   (tokio, axum, hyper, tonic) holds spans across `.await` and uses [`InSpan`].
//! - Metrics and logs; X-Ray propagation (W3C, B3 and Jaeger are in); remote samplers.
//! - SOCKS proxies (HTTP ones are read from the environment: see [`otlp_http`]); the
//!   platform's certificate store; encrypted private keys.
#![forbid(unsafe_code)]
// docs.rs (nightly) marks each feature-gated item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod batch;
pub mod carrier;
#[cfg(feature = "tower")]
pub mod client_layer;
pub mod clock;
pub mod console;
pub mod context;
pub mod entropy;
pub mod env;
pub mod error;
pub mod http_client;
mod http_conv;
pub mod otlp_http;
pub mod retry;
#[cfg(feature = "tower")]
pub mod server_layer;
mod thread_cell;
pub mod tracer;
#[cfg(feature = "tracing")]
pub mod tracing_layer;

pub use batch::{BatchConfig, BatchExporter, BatchExporterBuilder, BatchStats, Transport};
pub use carrier::{
    CommandInjector, EnvCarrier, HashMapCarrier, HashMapInjector, HeaderMapCarrier,
    HeaderMapInjector,
};
#[cfg(feature = "tower")]
pub use client_layer::{ClientBody, ClientLayer, ClientService};
pub use clock::SystemClock;
pub use console::ConsoleExporter;
pub use context::{
    current_baggage, current_context, current_span_context, enter, enter_baggage, enter_context,
    BaggageGuard, CurrentGuard, FutureExt, InSpan, IntoSharedBaggage, WithBaggage, WithContext,
};
pub use entropy::{id_generator, os_entropy_failed, OsEntropy};
pub use env::{init_from_env, EnvConfig, EnvWarning, Propagator, Propagators};
pub use error::ExportError;
pub use http_client::{HttpClientSpan, HttpClientSpanBuilder};
pub use http_conv::{known_http_methods, redact_query};
pub use otlp_http::{
    Compression, ExportOutcome, ExporterStats, OtlpHttpExporter, OtlpHttpExporterBuilder, Protocol,
};
/// The core crate, whose types this one's API uses (`TracerConfig`, `TracerStats`,
/// `Span`, `TraceContext`, ...): reachable as `picotrace_std::picotrace` without a
/// dependency of one's own, which could otherwise name another version of it.
///
/// ```
/// use picotrace_std::picotrace::TracerConfig;
/// let provider = picotrace_std::TracerProvider::builder()
///     .config(TracerConfig::new("checkout"))
///     .build();
/// assert_eq!(provider.config().resource.service_name, "checkout");
/// ```
pub use picotrace;
pub use retry::RetryPolicy;
#[cfg(feature = "tower")]
pub use server_layer::{PeerOf, RouteOf, ServerBody, ServerLayer, ServerService, ServerSpan};
pub use tracer::{
    global, propagators, tracer, HeapArena, Incoming, SharedExporter, ShutdownGuard, StdArena,
    StdSpan, StdTracer, TracerProvider, TracerProviderBuilder, ARENA_SPANS, SPAN_ATTRIBUTES,
    SPAN_EVENTS, SPAN_LINKS, SPAN_TEXT,
};
