//! The exporter side: [`SpanExporter`] receives finished spans in [`SpanBatch`]es, with
//! the [`Resource`] and [`InstrumentationScope`] they belong to and the tracer's loss
//! counters ([`TracerStats`]), so that exporters can report what was dropped.
//!
//! An exporter borrows the spans for the duration of the call (encode them, copy them,
//! print them); the slots are freed when it returns.
//!
//! ```
//! use picotrace::{SpanBatch, SpanExporter, ExportError};
//! struct CountNames(usize);
//! impl SpanExporter for CountNames {
//!     fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
//!         self.0 += batch.iter().filter(|s| !s.name().is_empty()).count();
//!         Ok(())
//!     }
//! }
//! ```

use core::fmt;

pub mod frame;

use crate::semconv::SERVICE_NAME;
use crate::span::arena::BatchSource;
use crate::span::attributes::{KeyValue, Value};
use crate::span::record::SpanData;

/// Describes the entity producing telemetry (OTLP `Resource`).
#[derive(Clone, Copy, Debug)]
pub struct Resource {
    /// `service.name`; OpenTelemetry's default is `unknown_service`.
    pub service_name: &'static str,
    /// Further resource attributes (`service.version`, `host.name`, ...). On the wire an
    /// empty key is left out, a key given again keeps its last value, and the
    /// `telemetry.sdk.*` keys are the SDK's own; a `service.name` here names the service
    /// only when `service_name` is empty ([`Resource::service_name_or_default`]).
    pub attributes: &'static [KeyValue<'static>],
    /// Schema URL of the attributes, or "".
    pub schema_url: &'static str,
}

impl Resource {
    /// A resource with only a service name (an empty one goes on the wire as
    /// `unknown_service`: [`Resource::service_name_or_default`]).
    pub const fn new(service_name: &'static str) -> Self {
        Self {
            service_name,
            attributes: &[],
            schema_url: "",
        }
    }
}

impl Resource {
    /// The `service.name` that goes on the wire: the field; when it is empty, the last
    /// string `service.name` among the attributes (as a later attribute wins), unless
    /// that one is blank; else `unknown_service` (the resource spec: an SDK "MUST"
    /// fall back to it when no name was specified). The std adapter's
    /// `OTEL_RESOURCE_ATTRIBUTES` reading follows the same rule.
    ///
    /// ```
    /// use picotrace::{KeyValue, Resource, Value};
    /// static ATTRIBUTES: [KeyValue<'static>; 1] =
    ///     [KeyValue { key: "service.name", value: Value::Str("checkout") }];
    /// let resource = Resource { attributes: &ATTRIBUTES, ..Resource::new("") };
    /// assert_eq!(resource.service_name_or_default(), "checkout");
    /// assert_eq!(Resource::new("").service_name_or_default(), "unknown_service");
    /// assert_eq!(Resource::new(" ").service_name_or_default(), "unknown_service");
    /// ```
    pub const fn service_name_or_default(&self) -> &'static str {
        // A blank name is no name, as a blank `service.name` attribute is (found by
        // review: " " was sent as the service).
        if !self.service_name.trim_ascii().is_empty() {
            return self.service_name;
        }
        let mut i = self.attributes.len();
        while i > 0 {
            i -= 1;
            let kv = &self.attributes[i];
            if let Value::Str(name) = kv.value {
                if bytes_eq(kv.key.as_bytes(), SERVICE_NAME.as_bytes()) {
                    if name.trim_ascii().is_empty() {
                        break;
                    }
                    return name;
                }
            }
        }
        "unknown_service"
    }
}

/// `a == b` in a `const fn`.
const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Names the instrumentation that produced spans (OTLP `InstrumentationScope`, and the
/// `schema_url` of its `ScopeSpans`).
///
/// ```
/// use picotrace::{InstrumentationScope, KeyValue, TracerConfig, Value};
/// static SCOPE_ATTRIBUTES: [KeyValue<'static>; 1] =
///     [KeyValue { key: "shop.module", value: Value::Str("checkout") }];
/// const SCOPE: InstrumentationScope = InstrumentationScope::new("shop.http", "1.4.0")
///     .with_attributes(&SCOPE_ATTRIBUTES)
///     .with_schema_url("https://opentelemetry.io/schemas/1.26.0");
/// let config = TracerConfig::new("checkout").with_instrumentation_scope(SCOPE);
/// assert_eq!(config.scope.attributes.len(), 1);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct InstrumentationScope {
    /// Scope name, conventionally the library or module name.
    pub name: &'static str,
    /// Scope version, or "".
    pub version: &'static str,
    /// The scope's attributes (an empty key is left out on the wire; a key given again
    /// keeps its last value).
    pub attributes: &'static [KeyValue<'static>],
    /// Schema URL of the spans' attributes (OTLP `ScopeSpans.schema_url`), or "".
    pub schema_url: &'static str,
}

impl InstrumentationScope {
    /// picotrace itself, the default scope: name `picotrace`, version this crate's
    /// (`CARGO_PKG_VERSION`, e.g. `0.1.0`).
    pub const PICOTRACE: Self = Self::new("picotrace", env!("CARGO_PKG_VERSION"));

    /// A scope with a name and a version ("" for none), no attributes and no schema URL.
    pub const fn new(name: &'static str, version: &'static str) -> Self {
        Self {
            name,
            version,
            attributes: &[],
            schema_url: "",
        }
    }

    /// Sets the scope's attributes.
    #[must_use]
    pub const fn with_attributes(mut self, attributes: &'static [KeyValue<'static>]) -> Self {
        self.attributes = attributes;
        self
    }

    /// Sets the schema URL of the scope's spans.
    #[must_use]
    pub const fn with_schema_url(mut self, schema_url: &'static str) -> Self {
        self.schema_url = schema_url;
        self
    }
}

/// A tracer's counters: what was started, recorded, exported and lost.
///
/// Where the CPU has no 64-bit atomics (Cortex-M, 32-bit RISC-V) the tracer counts in
/// 32 bits: every counter but `spans_started` (48 bits per arena slot) wraps at 2^32,
/// after about 50 days at 1,000 spans a second, and the outcomes then add up to
/// `spans_started` only modulo 2^32 (found by review: not documented).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TracerStats {
    /// Spans started, recording or not.
    pub spans_started: u64,
    /// Spans the sampler dropped (non-recording by decision), and recorded spans that
    /// ended unsampled (`RecordOnly`), which are not exported.
    pub spans_sampled_out: u64,
    /// Sampled spans that could not be recorded because the arena was full (or the
    /// tracer was re-entered); they still propagated context. A span sampled out at
    /// its start that [`crate::Span::set_parent`] would record and sample, without room
    /// then, moves here from `spans_sampled_out`.
    ///
    /// `RecordOnly` spans still running are in neither this, `spans_sampled_out` nor
    /// [`crate::Tracer::running_spans`] (which counts spans to be exported) until they
    /// end.
    pub spans_dropped_arena_full: u64,
    /// Spans dropped at a full arena that [`crate::Span::set_parent`] later gave a
    /// record (recording from that call on); not in `spans_dropped_arena_full`, which
    /// counts the spans still without one. The two added up only grow.
    pub spans_recorded_after_arena_full: u64,
    /// Spans that ended and were handed to the exporter.
    pub spans_exported: u64,
    /// Values cut in the spans that ended to be exported: strings (attribute values, array
    /// elements) cut to [`crate::SpanLimits::value_length`], and strings, names, error
    /// descriptions and link tracestates cut or left out for want of room in their
    /// span's text pool (the arena's `TEXT` bytes). OTLP has no field for them: this
    /// count, and the console exporter's `truncated`, are where they show. Many from
    /// the pool say the arena's text pool is too small for what the spans record.
    pub values_truncated: u64,
    /// Spans the exporter reported as lost, or lost to a panic: the exporter's, or the
    /// clock's as the span ended.
    pub spans_export_failed: u64,
    /// Export calls that failed in part or whole (a `picotrace_std` provider adds its
    /// batch exporter's failed requests: the calls to it only queue).
    pub export_failures: u64,
    /// Spans that ended after [`crate::Tracer::shutdown`]: dropped, not exported.
    pub spans_dropped_shutdown: u64,
}

impl TracerStats {
    /// Returns all spans lost after sampling decided to keep them.
    pub const fn spans_lost(&self) -> u64 {
        self.spans_dropped_arena_full + self.spans_export_failed + self.spans_dropped_shutdown
    }
}

/// Finished spans handed to an exporter, oldest first.
pub struct SpanBatch<'a> {
    storage: &'a dyn BatchSource,
    /// The resource all spans belong to.
    pub resource: &'a Resource,
    /// The instrumentation scope all spans belong to.
    pub scope: &'a InstrumentationScope,
    /// Reads the tracer's counters when asked: summing them visits every slot of the
    /// arena, too much to do for every batch that nobody asks about.
    stats: &'a dyn Fn() -> TracerStats,
}

impl<'a> SpanBatch<'a> {
    #[doc(hidden)]
    pub fn new(
        storage: &'a dyn BatchSource,
        resource: &'a Resource,
        scope: &'a InstrumentationScope,
        stats: &'a dyn Fn() -> TracerStats,
    ) -> Self {
        Self {
            storage,
            resource,
            scope,
            stats,
        }
    }

    /// Returns the number of spans.
    pub fn len(&self) -> usize {
        self.storage.len()
    }

    /// Returns the tracer's counters, including drops, as of now.
    pub fn stats(&self) -> TracerStats {
        (self.stats)()
    }

    /// Returns `true` when the batch holds no spans.
    pub fn is_empty(&self) -> bool {
        self.storage.is_empty()
    }

    /// Returns the `i`-th span.
    pub fn get(&self, i: usize) -> Option<SpanData<'a>> {
        self.storage.get(i)
    }

    /// Returns the spans in order; the iterator can be cloned for multi-pass encoders.
    pub fn iter(&self) -> BatchIter<'a> {
        BatchIter {
            storage: self.storage,
            next: 0,
            len: self.storage.len(),
        }
    }
}

impl fmt::Debug for SpanBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanBatch")
            .field("len", &self.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Iterator over a [`SpanBatch`].
#[derive(Clone)]
pub struct BatchIter<'a> {
    storage: &'a dyn BatchSource,
    next: usize,
    len: usize,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = SpanData<'a>;
    fn next(&mut self) -> Option<SpanData<'a>> {
        while self.next < self.len {
            self.next += 1;
            if let Some(span) = self.storage.get(self.next - 1) {
                return Some(span);
            }
        }
        None
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.len - self.next))
    }
}

impl fmt::Debug for BatchIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchIter")
            .field("next", &self.next)
            .field("len", &self.len)
            .finish()
    }
}

/// Why an export lost spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExportError {
    /// The whole batch was lost (transport down, retries exhausted, rejected).
    Failed,
    /// Some spans were lost, e.g. a bounded queue had room for only part of the batch.
    Partial {
        /// How many spans of the batch were lost.
        dropped: usize,
    },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Failed => f.write_str("export failed; the batch was lost"),
            ExportError::Partial { dropped } => write!(f, "export lost {dropped} spans"),
        }
    }
}

impl core::error::Error for ExportError {}

/// Receives finished spans.
///
/// # What implementors must guarantee
/// - `export` returns promptly: it runs on the thread that drains the tracer (a flush,
///   a full arena, a trigger, the std adapter's export thread), never inside a critical
///   section, and while it runs no other export of that tracer can. Encode or copy and
///   hand off; do slow network I/O elsewhere.
/// - It never calls the flushing methods of the tracer that called it (starting and
///   ending spans is fine).
/// - It reports lost spans through the `Err` value, so the tracer counts them.
pub trait SpanExporter {
    /// Exports a batch of finished spans.
    ///
    /// # Errors
    /// [`ExportError`] says how many spans of the batch were lost.
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError>;
}

impl<X: SpanExporter + ?Sized> SpanExporter for &mut X {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        (**self).export(batch)
    }
}

/// An exporter that discards everything (for tracing whose spans only propagate, and for
/// benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopExporter;

impl SpanExporter for NoopExporter {
    #[inline]
    fn export(&mut self, _batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        Ok(())
    }
}
