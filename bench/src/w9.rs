//! W9: one `tracing` instrumentation, five subscribers. The workload code is the same
//! for every row; only the layer under `tracing_subscriber`'s registry changes:
//!
//! - picotrace-std's `TracingLayer` over a `TracerProvider` whose export thread discards,
//!   at its defaults (the fields become attributes, nothing else);
//! - the same layer adding most of what `tracing-opentelemetry` adds by default: the
//!   source location, the thread and busy/idle time (7 span attributes);
//! - `tracing-opentelemetry` over an `opentelemetry_sdk` provider (simple processor,
//!   discarding exporter: the bench's W1 peer), at its defaults (those 7, the span's
//!   `target`, and the location on every event);
//! - the same with location, threads, busy/idle time and `target` off: the attributes
//!   of picotrace's default row;
//! - the registry alone: what `tracing` itself costs, the floor both layers add to.
//!
//! Shapes: "span" is a span with 3 fields and 1 event; "nested" is a root with 3
//! nested children (each entered inside the previous one), 4 spans.

use std::hint::black_box;

use picotrace::TracerConfig;
use picotrace_std::tracing_layer::TracingLayer;
use picotrace_std::{SharedExporter, TracerProvider};
use tracing::{info, info_span, Dispatch};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::otel;
use crate::shape::SERVICE;

/// A subscriber under test and what keeps its pipeline alive.
pub struct Subscriber {
    /// The `tracing` dispatcher the workload runs under.
    pub dispatch: Dispatch,
    // Dropped after the dispatcher: the picotrace provider, or the SDK provider.
    picotrace: Option<TracerProvider>,
    otel: Option<otel::Otel>,
}

impl Subscriber {
    /// Exports what is queued (outside the timed region) and returns the spans the
    /// sink has received so far (0 for the registry alone).
    pub fn drain(&self) -> u64 {
        if let Some(p) = &self.picotrace {
            let _ = p.flush();
            return p.stats().spans_exported;
        }
        if let Some(o) = &self.otel {
            return o.flush();
        }
        0
    }
}

/// picotrace-std's layer; spans go to its export thread, which discards them. `extra`:
/// with location, threads and busy/idle time, as tracing-opentelemetry's defaults.
pub fn picotrace(extra: bool) -> Subscriber {
    let provider = TracerProvider::builder()
        .config(TracerConfig::new(SERVICE))
        .exporter(SharedExporter::discard())
        .build();
    let layer = TracingLayer::new(provider.tracer())
        .with_location(extra)
        .with_threads(extra)
        .with_tracked_inactivity(extra);
    Subscriber {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        picotrace: Some(provider),
        otel: None,
    }
}

/// tracing-opentelemetry over the SDK with a simple processor and a discarding exporter.
/// `extra`: its defaults (location, threads, busy/idle time, the span's `target`); else
/// those four off (found by review: `target` was left on, one span attribute more than
/// picotrace's default row exports).
pub fn opentelemetry(extra: bool) -> Subscriber {
    let sdk = otel::sampled(otel::Processor::Simple);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(sdk.tracer.clone())
        .with_location(extra)
        .with_threads(extra)
        .with_tracked_inactivity(extra)
        .with_target(extra);
    Subscriber {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        picotrace: None,
        otel: Some(sdk),
    }
}

/// The registry with no layer: spans are tracked, nothing is exported.
pub fn registry_only() -> Subscriber {
    Subscriber {
        dispatch: Dispatch::new(tracing_subscriber::registry()),
        picotrace: None,
        otel: None,
    }
}

/// One span with 3 fields and 1 event.
#[inline(never)]
pub fn span() {
    let span = info_span!(
        "GET /users/{id}",
        http.request.method = black_box("GET"),
        http.response.status_code = black_box(200_i64),
        cache.hit = black_box(true),
    );
    let _entered = span.enter();
    info!(rows = black_box(3_i64), "query done");
}

/// A root with 3 nested children.
#[inline(never)]
pub fn nested() {
    let root = info_span!("request");
    let _r = root.enter();
    let a = info_span!("handler");
    let _a = a.enter();
    let b = info_span!("service");
    let _b = b.enter();
    let c = info_span!("query");
    let _c = c.enter();
}

/// Runs `f` `n` times under `subscriber`.
pub fn run(subscriber: &Subscriber, n: u64, f: fn()) {
    tracing::dispatcher::with_default(&subscriber.dispatch, || {
        for _ in 0..n {
            f();
        }
    });
}
