//! Sampling: which spans are recorded and which are exported.
//!
//! Built in, as the OpenTelemetry SDK specification names them: [`Sampler::ALWAYS_ON`],
//! [`Sampler::ALWAYS_OFF`], [`TraceIdRatio`], [`ParentBased`] with its five delegates,
//! plus a [`RateLimiting`] sampler (spans per second over the tracer's clock) and the
//! consistent [`ProbabilitySampler`] of OTEP 235 (the `th` threshold in the `ot`
//! tracestate entry). The default is `ParentBased(root = AlwaysOn)`.
//!
//! Ratio-based decisions compare the rightmost 56 bits of the trace id (or, with the
//! default `otep235` feature, the explicit `rv` randomness) with a rejection threshold
//! `T = (1 - p) * 2^56`, so every SDK that follows the spec makes the same decision for
//! the same trace.
//!
//! ```
//! use picotrace::{Sampler, SamplingDecision, TraceId, sampler::SamplingParams};
//! let sampler = Sampler::parent_based(Sampler::trace_id_ratio(0.25));
//! let id = TraceId::from_hex("00000000000000000000000000000000").unwrap();
//! let _ = id; // ParentBased delegates roots to the ratio sampler.
//! assert_eq!(sampler.to_string_buf().as_str(), "ParentBased{root:TraceIdRatioBased{0.25}}");
//! ```

use core::fmt::{self, Write as _};

use crate::context::SpanContext;
use crate::id::TraceId;
use crate::span::attributes::KeyValue;
use crate::span::SpanKind;
use crate::text::InlineStr;
use crate::time::Timestamp;
use crate::wire::tracestate::{ot_rv, OtValue};

/// The sampler's verdict (OpenTelemetry `SamplingResult.decision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SamplingDecision {
    /// Not recorded; the span still propagates its context, unsampled.
    Drop,
    /// Recorded but not sampled: the span's attributes and events are kept while it
    /// runs, but it is not marked sampled for downstream and, as the specification's
    /// sampling table says, never reaches the exporter (it counts as sampled out).
    RecordOnly,
    /// Recorded, exported and marked sampled.
    RecordAndSample,
}

impl SamplingDecision {
    /// Returns `true` unless the decision is `Drop`.
    pub const fn is_recording(self) -> bool {
        !matches!(self, SamplingDecision::Drop)
    }

    /// Returns `true` for `RecordAndSample`.
    pub const fn is_sampled(self) -> bool {
        matches!(self, SamplingDecision::RecordAndSample)
    }
}

/// How the sampler changes the new span's tracestate `ot` threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdUpdate {
    /// Leave the tracestate as the parent had it.
    Keep,
    /// Write `th` with this 56-bit rejection threshold.
    Set(u64),
    /// Erase `th`: the sampling probability is unknown.
    Erase,
}

/// A sampling decision, its tracestate effect and the attributes it gives the span.
///
/// Made with [`SamplingResult::new`] and its `with_*` methods (more may come, as the
/// SDK specification's sampling result has more parts).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct SamplingResult {
    /// The decision.
    pub decision: SamplingDecision,
    /// The effect on the `ot` entry of the tracestate.
    pub threshold: ThresholdUpdate,
    /// Attributes added to the span when it records (the SDK specification's "set of
    /// span Attributes that will also be added to the Span"): the rule that decided,
    /// say. Added as the span starts, after the builder's `attributes` (a key both give
    /// is the sampler's; one the span records later replaces it: the HTTP and `tracing`
    /// adapters record theirs so), and when a span is decided again under a new parent
    /// (what an earlier decision gave stays). `'static`, since nothing allocates (a
    /// sampler built at run time leaks its few, once).
    pub attributes: &'static [KeyValue<'static>],
}

impl SamplingResult {
    /// A decision that leaves the tracestate's `ot` threshold as the parent had it:
    /// what a custom [`ShouldSample`] usually returns.
    ///
    /// ```
    /// use picotrace::{SamplingDecision, SamplingResult};
    /// let result = SamplingResult::new(SamplingDecision::Drop);
    /// assert!(!result.decision.is_recording());
    /// ```
    pub const fn new(decision: SamplingDecision) -> Self {
        Self {
            decision,
            threshold: ThresholdUpdate::Keep,
            attributes: &[],
        }
    }

    /// The same decision, giving the span `attributes` when it records.
    ///
    /// ```
    /// use picotrace::{KeyValue, SamplingDecision, SamplingResult, Value};
    /// static CHECKOUT: [KeyValue<'static>; 1] = [KeyValue {
    ///     key: "sampling.rule",
    ///     value: Value::Str("checkout"),
    /// }];
    /// let result = SamplingResult::new(SamplingDecision::RecordAndSample).with_attributes(&CHECKOUT);
    /// assert_eq!(result.attributes.len(), 1);
    /// ```
    #[must_use]
    pub const fn with_attributes(mut self, attributes: &'static [KeyValue<'static>]) -> Self {
        self.attributes = attributes;
        self
    }

    /// The same decision, changing the tracestate's `ot` threshold as `threshold` says.
    #[must_use]
    pub const fn with_threshold(mut self, threshold: ThresholdUpdate) -> Self {
        self.threshold = threshold;
        self
    }

    const fn from_bool(sampled: bool) -> Self {
        Self::new(if sampled {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
    }
}

/// What a sampler sees about the span being started.
#[derive(Clone, Copy, Debug)]
pub struct SamplingParams<'a> {
    /// The parent's context, `None` for a root span.
    pub parent: Option<&'a SpanContext>,
    /// The parent's tracestate header value ("" if none).
    pub parent_trace_state: &'a str,
    /// The trace id the span will have.
    pub trace_id: TraceId,
    /// The span name.
    pub name: &'a str,
    /// The span kind.
    pub kind: SpanKind,
    /// The attributes given when the span is built
    /// ([`SpanBuilder::attributes`](crate::SpanBuilder::attributes)), for samplers that
    /// decide by them (a health-check route, say); empty for `start_span` and friends.
    pub attributes: &'a [KeyValue<'a>],
    /// The links given when the span is built
    /// ([`SpanBuilder::links`](crate::SpanBuilder::links)), each with its tracestate
    /// and attributes; empty when a span is decided again under a new parent
    /// ([`Span::set_parent`](crate::Span::set_parent)), which keeps no links for it.
    pub links: &'a [crate::Link<'a>],
    /// The tracer clock's current time, or zero when the sampler does not use time
    /// (see [`Sampler::uses_clock`]).
    pub now: Timestamp,
}

/// A user-defined sampler.
///
/// # What implementors must guarantee
/// `should_sample` is fast, never blocks and never calls into the tracer; it may run
/// inside a critical section.
pub trait ShouldSample {
    /// Decides on one span.
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult;
    /// Writes the sampler's description.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// The sampler a [`crate::Tracer`] holds: its type decides what is compiled in.
///
/// The runtime choice, [`Sampler`], links every built-in sampler (what the std adapter's
/// `OTEL_TRACES_SAMPLER` needs). Firmware that knows its sampler at compile time names
/// a zero-sized one instead, [`ParentBasedAlwaysOn`] (OpenTelemetry's default),
/// [`AlwaysOn`] or [`AlwaysOff`], with [`crate::TracerConfig::with_static_sampler`]:
/// the tracer then carries no sampler state and no code for the samplers it cannot use
/// (2.2 KB of flash on a Cortex-M3 when the footprint binaries moved to one; 4.8 KB in
/// a copy of the tracer of that time patched to one sampler).
///
/// ```
/// use picotrace::{sampler::ParentBasedAlwaysOn, TracerConfig};
/// const CONFIG: TracerConfig<ParentBasedAlwaysOn> =
///     TracerConfig::new("sensor").with_static_sampler(ParentBasedAlwaysOn);
/// # let _ = CONFIG;
/// ```
pub trait SpanSampler: Copy + Send + Sync + fmt::Display {
    /// `true` when [`SpanSampler::uses_clock`], [`SpanSampler::records_every_root`]
    /// and [`SpanSampler::records_sampled_local_children`] answer the same for every
    /// value of the type (the zero-sized samplers): the tracer then asks them on every
    /// span, and the answers fold away. Otherwise it asks once, when seeded, and keeps
    /// the answers.
    const FIXED_TRAITS: bool = false;

    /// `false` when no decision of this type gives the span attributes
    /// ([`SamplingResult::attributes`]): the tracer then never looks (the built-in
    /// zero-sized samplers; a run-time [`Sampler`] may hold a custom one that does).
    const GIVES_ATTRIBUTES: bool = true;

    /// Decides on one span without `&mut` (the tracer is shared): `None` when the
    /// deciding sampler keeps state, which then gets [`SpanSampler::decide_exclusive`]
    /// on a copy the tracer guards.
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult>;

    /// Decides on one span with state (rate limiting).
    fn decide_exclusive(&mut self, params: &SamplingParams<'_>) -> SamplingResult {
        self.decide_shared(params)
            .unwrap_or(SamplingResult::new(SamplingDecision::Drop))
    }

    /// The decision when [`SpanSampler::decide_shared`] said `None` and another thread
    /// holds the state past the tracer's wait for it (`TracerConfig::full_arena_retries`:
    /// none by default, the std adapter's yields): the span is dropped. (The run-time samplers also settle the
    /// parent's OTEP 235 `th` as for any drop; a sampler that never says `None` is never
    /// asked, and links nothing for it.)
    fn decide_busy(&self, params: &SamplingParams<'_>) -> SamplingResult {
        let _ = params;
        SamplingResult::new(SamplingDecision::Drop)
    }

    /// Returns `true` when a sampled decision on a span took something from the
    /// sampler's state that [`SpanSampler::refund`] gives back: a rate limiter's span.
    /// `root`: the span was decided without a parent.
    fn refunds(&self, root: bool) -> bool {
        let _ = root;
        false
    }

    /// Gives back what a sampled decision on a span took (see
    /// [`SpanSampler::refunds`]): the tracer calls it when `Span::set_parent` decides
    /// on the span again, so that one span costs a rate limiter one span, not two
    /// (found by review: a `tracing` root given its remote parent was charged twice,
    /// and a limit of one span a second sampled none of them).
    fn refund(&mut self, root: bool) {
        let _ = root;
    }

    /// Returns `true` when a decision may depend on [`SamplingParams::now`]: the tracer
    /// reads its clock before sampling only then.
    fn uses_clock(&self) -> bool {
        false
    }

    /// Returns `true` when a decision may depend on [`SamplingParams::attributes`] (a
    /// user's sampler may: the default): instrumentation gathers attributes for the
    /// sampler before a span starts only then (the std adapter's HTTP layers).
    fn reads_attributes(&self) -> bool {
        true
    }

    /// Returns `true` when every root span is recorded and sampled: the tracer then
    /// claims a root's slot before sampling, and skips the decision.
    fn records_every_root(&self) -> bool {
        false
    }

    /// Returns `true` when every child of a sampled local parent without tracestate is
    /// recorded and sampled: the tracer then skips the decision for those children.
    fn records_sampled_local_children(&self) -> bool {
        false
    }

    /// Returns `true` when every root span is dropped (neither recorded nor sampled,
    /// tracestate untouched): the tracer then skips the decision for roots.
    fn drops_every_root(&self) -> bool {
        false
    }
}

/// `AlwaysOn` chosen at compile time: records and samples every span, whatever the
/// parent decided (see [`SpanSampler`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlwaysOn;

/// `AlwaysOff` chosen at compile time: records no span (see [`SpanSampler`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlwaysOff;

/// `ParentBased(root = AlwaysOn)`, OpenTelemetry's default, chosen at compile time:
/// roots are sampled, children follow their parent's sampled flag (see [`SpanSampler`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParentBasedAlwaysOn;

impl SpanSampler for AlwaysOn {
    const GIVES_ATTRIBUTES: bool = false;
    const FIXED_TRAITS: bool = true;
    fn reads_attributes(&self) -> bool {
        false
    }
    #[inline]
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        let result = SamplingResult::new(SamplingDecision::RecordAndSample);
        Some(RootSampler::AlwaysOn.settle_parent_threshold(result, params, true))
    }
    fn records_every_root(&self) -> bool {
        true
    }
    fn records_sampled_local_children(&self) -> bool {
        true
    }
}

impl fmt::Display for AlwaysOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlwaysOnSampler")
    }
}

impl SpanSampler for AlwaysOff {
    const GIVES_ATTRIBUTES: bool = false;
    const FIXED_TRAITS: bool = true;
    fn reads_attributes(&self) -> bool {
        false
    }
    #[inline]
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        let result = SamplingResult::new(SamplingDecision::Drop);
        Some(RootSampler::AlwaysOff.settle_parent_threshold(result, params, true))
    }
    fn drops_every_root(&self) -> bool {
        true
    }
}

impl fmt::Display for AlwaysOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlwaysOffSampler")
    }
}

impl SpanSampler for ParentBasedAlwaysOn {
    const GIVES_ATTRIBUTES: bool = false;
    const FIXED_TRAITS: bool = true;
    fn reads_attributes(&self) -> bool {
        false
    }
    #[inline]
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        let Some(parent) = params.parent else {
            return Some(SamplingResult::new(SamplingDecision::RecordAndSample));
        };
        // The default delegates: always on under a sampled parent, off otherwise.
        let (delegate, result) = if parent.is_sampled() {
            (RootSampler::AlwaysOn, SamplingResult::from_bool(true))
        } else {
            (RootSampler::AlwaysOff, SamplingResult::from_bool(false))
        };
        Some(delegate.settle_parent_threshold(result, params, false))
    }
    fn records_every_root(&self) -> bool {
        true
    }
    fn records_sampled_local_children(&self) -> bool {
        true
    }
}

impl fmt::Display for ParentBasedAlwaysOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParentBased{root:AlwaysOnSampler}")
    }
}

impl SpanSampler for Sampler {
    #[inline]
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        Sampler::decide_shared(self, params)
    }
    fn decide_busy(&self, params: &SamplingParams<'_>) -> SamplingResult {
        RootSampler::dropped(params)
    }
    fn decide_exclusive(&mut self, params: &SamplingParams<'_>) -> SamplingResult {
        self.should_sample(params)
    }
    fn refunds(&self, root: bool) -> bool {
        match self {
            Sampler::Root(s) => s.refunds(root),
            Sampler::ParentBased(s) => s.refunds(root),
        }
    }
    fn refund(&mut self, root: bool) {
        match self {
            Sampler::Root(s) => s.refund(root),
            Sampler::ParentBased(s) => s.refund(root),
        }
    }
    fn uses_clock(&self) -> bool {
        Sampler::uses_clock(self)
    }
    fn reads_attributes(&self) -> bool {
        self.any_sampler(|s| matches!(s, RootSampler::Custom(_)))
    }
    #[inline]
    fn records_every_root(&self) -> bool {
        Sampler::records_every_root(self)
    }
    #[inline]
    fn records_sampled_local_children(&self) -> bool {
        Sampler::records_sampled_local_children(self)
    }
    #[inline]
    fn drops_every_root(&self) -> bool {
        Sampler::drops_every_root(self)
    }
}

impl SpanSampler for RootSampler {
    #[inline]
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        RootSampler::decide_shared(self, params, true)
    }
    fn decide_busy(&self, params: &SamplingParams<'_>) -> SamplingResult {
        RootSampler::dropped(params)
    }
    fn decide_exclusive(&mut self, params: &SamplingParams<'_>) -> SamplingResult {
        self.should_sample(params, true)
    }
    /// A rate limiter decides every span, with a parent or not.
    fn refunds(&self, _root: bool) -> bool {
        matches!(self, RootSampler::RateLimiting(_))
    }
    fn refund(&mut self, _root: bool) {
        if let RootSampler::RateLimiting(limiter) = self {
            limiter.refund();
        }
    }
    fn uses_clock(&self) -> bool {
        matches!(self, RootSampler::RateLimiting(_) | RootSampler::Custom(_))
    }
    fn reads_attributes(&self) -> bool {
        matches!(self, RootSampler::Custom(_))
    }
    fn records_every_root(&self) -> bool {
        matches!(self, RootSampler::AlwaysOn)
    }
    fn records_sampled_local_children(&self) -> bool {
        matches!(self, RootSampler::AlwaysOn)
    }
    fn drops_every_root(&self) -> bool {
        matches!(self, RootSampler::AlwaysOff)
    }
}

impl SpanSampler for ParentBased {
    #[inline]
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        ParentBased::decide_shared(self, params)
    }
    fn decide_busy(&self, params: &SamplingParams<'_>) -> SamplingResult {
        RootSampler::dropped(params)
    }
    fn decide_exclusive(&mut self, params: &SamplingParams<'_>) -> SamplingResult {
        self.should_sample(params)
    }
    /// Roots only: which delegate decided a span under a parent depends on that
    /// parent's flags, which the span does not keep (a rate limiter for parents is
    /// rare; its spans set a parent again are charged again).
    fn refunds(&self, root: bool) -> bool {
        root && self.root.refunds(true)
    }
    fn refund(&mut self, root: bool) {
        if root {
            self.root.refund(true);
        }
    }
    fn uses_clock(&self) -> bool {
        Sampler::ParentBased(*self).uses_clock()
    }
    fn reads_attributes(&self) -> bool {
        Sampler::ParentBased(*self).reads_attributes()
    }
    fn records_every_root(&self) -> bool {
        matches!(self.root, RootSampler::AlwaysOn)
    }
    fn drops_every_root(&self) -> bool {
        matches!(self.root, RootSampler::AlwaysOff)
    }
    fn records_sampled_local_children(&self) -> bool {
        matches!(self.local_parent_sampled, RootSampler::AlwaysOn)
    }
}

/// The text of the OpenTelemetry `ot` member's value in a tracestate header value,
/// checked or not, borrowed (no copy of the tracestate: samplers run on the span hot
/// path, and on small stacks).
fn ot_member_value(trace_state: &str) -> Option<&str> {
    // Without the `tracestate` feature there is none to read (and no parser linked);
    // without `otep235` the `ot` entry is not read (and its code not linked).
    if !OTEP_235 {
        return None;
    }
    trace_state
        .split(',')
        .map(|member| member.trim_matches([' ', '\t']))
        .find_map(|member| member.strip_prefix("ot="))
}

/// Whether OTEP 235 consistent probability sampling is on: the `ot` entry's `th` and
/// `rv` read and `th` written (features `tracestate` and `otep235`, both default).
pub(crate) const OTEP_235: bool = cfg!(all(feature = "tracestate", feature = "otep235"));

/// 2^56: the range of the randomness value and of thresholds.
const MAX_THRESHOLD: u64 = 1 << 56;

/// Converts a probability into a rejection threshold `2^56 - round(p * 2^56)`; NaN and
/// values outside [0, 1] are clamped.
///
/// `p * 2^56` is exact in an `f64` (a power-of-two scale), so every probability down to
/// 2^-56 keeps its value; `(1 - p) * 2^56` lost the small ones (`1 - 2^-56` is 1 in an
/// `f64`), as the collector's `pkg/sampling` notes.
pub fn probability_to_threshold(p: f64) -> u64 {
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    let scaled = p * MAX_THRESHOLD as f64;
    // Rounded half up from the whole and fractional parts, both exact: `scaled + 0.5`
    // is not, between 2^52 and 2^53 (p in [1/16, 1/8)), where an odd whole `scaled`
    // plus a half is a tie that rounds to even, one too high (p = 0.075 gave a
    // threshold one below the spec's).
    let whole = scaled as u64; // in [0, 2^56]: saturating, exact for whole values
    let kept = whole + u64::from(scaled - whole as f64 >= 0.5);
    MAX_THRESHOLD - kept.min(MAX_THRESHOLD)
}

/// Samples a fixed fraction of traces, decided by the trace's randomness: the
/// tracestate's `ot=rv` value when the parent carries one, else the trace id's last 56
/// bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceIdRatio {
    ratio: f64,
    threshold: u64,
}

impl TraceIdRatio {
    /// Creates a sampler keeping `ratio` (0.0 to 1.0) of traces: a ratio above 1 keeps
    /// every trace (`10.0` is not 10 %), one below 0 or NaN none.
    pub fn new(ratio: f64) -> Self {
        let threshold = probability_to_threshold(ratio);
        Self {
            // NaN and -0 read as 0 (a -0 was kept, and described as `{-0}`).
            ratio: if ratio.is_nan() || ratio == 0.0 {
                0.0
            } else {
                ratio.clamp(0.0, 1.0)
            },
            threshold,
        }
    }

    /// Returns the configured ratio.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Decides on the trace's randomness: the `rv` the parent's tracestate carries, if
    /// any and the `otep235` feature is on (the spec: samplers presume trace id
    /// randomness "unless an explicit randomness value is present"), else the trace
    /// id's last 56 bits.
    #[inline]
    fn sample(&self, params: &SamplingParams<'_>) -> bool {
        randomness(params) >= self.threshold
    }
}

/// The trace's 56 random bits: the parent's explicit `rv`, else the trace id's.
#[inline]
fn randomness(params: &SamplingParams<'_>) -> u64 {
    if params.parent_trace_state.is_empty() {
        return params.trace_id.random_part();
    }
    // A well-formed `rv` counts even where another sub-key of `ot` breaks the grammar:
    // such a value goes out unchanged, `rv` with it (the spec never erases it), so this
    // decision and those of later picotrace hops read the same randomness.
    ot_member_value(params.parent_trace_state)
        .and_then(ot_rv)
        .unwrap_or(params.trace_id.random_part())
}

/// OTEP 235 consistent probability sampling: the decision, and the `th` it writes, let
/// every later stage and backend know the exact sampling probability. Without the
/// `otep235` feature it decides as [`TraceIdRatio`] does and writes no `th`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbabilitySampler {
    threshold: u64,
}

impl ProbabilitySampler {
    /// Creates a sampler with probability `p` in [2^-56, 1]; the threshold is exact
    /// (the spec recommends, but does not require, rounding it to 4 hex digits).
    pub fn new(p: f64) -> Self {
        Self {
            threshold: probability_to_threshold(p),
        }
    }

    /// Returns the rejection threshold.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Decides as a `ParentBased` delegate (the parent's decision picked it): a span it
    /// keeps was kept by the parent too, so its probability is the smaller of the two,
    /// `max(parent th, own th)`, when the parent's `th` is known and holds (`R >= th`
    /// under a sampled parent); else it is not a threshold this sampler can vouch for,
    /// and a parent's `th` is erased, none written (found by review: its own `th` was
    /// written, claiming 50 % under a 25 % parent, or under a parent of unknown
    /// probability). A drop is settled as any decision is.
    fn sample_as_delegate(&self, params: &SamplingParams<'_>) -> SamplingResult {
        let result = self.sample(params);
        if result.decision != SamplingDecision::RecordAndSample {
            return result;
        }
        let parent_sampled = params.parent.is_some_and(|p| p.is_sampled());
        let ot = ot_member_value(params.parent_trace_state);
        let parent_th = ot.and_then(OtValue::parse).and_then(|ot| ot.threshold());
        let has_th = ot.is_some_and(|ot| {
            ot.as_bytes()
                .split(|&b| b == b';')
                .any(|sub| sub.starts_with(b"th:"))
        });
        let threshold = match parent_th {
            Some(th) if parent_sampled && randomness(params) >= th => {
                ThresholdUpdate::Set(th.max(self.threshold))
            }
            _ if has_th => ThresholdUpdate::Erase,
            _ => ThresholdUpdate::Keep,
        };
        result.with_threshold(threshold)
    }

    fn sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
        if self.threshold >= MAX_THRESHOLD {
            return SamplingResult::new(SamplingDecision::Drop);
        }
        if randomness(params) >= self.threshold {
            SamplingResult::new(SamplingDecision::RecordAndSample)
                .with_threshold(ThresholdUpdate::Set(self.threshold))
        } else {
            SamplingResult::new(SamplingDecision::Drop)
        }
    }
}

/// Samples at most `per_second` spans each second (a token bucket over the tracer's
/// clock; bursts up to one second's worth).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimiting {
    /// The rate in spans per 1000 seconds (thousandths of a span per second).
    milli_per_second: u64,
    /// Credit in span-thousandths times nanoseconds: one span costs [`Self::SPAN_COST`].
    credit: u64,
    last: Option<Timestamp>,
}

impl RateLimiting {
    /// What one span costs: 1000 (milli) x 10^9 (nanoseconds per second).
    const SPAN_COST: u64 = 1_000_000_000_000;
    /// The highest rate, so that a second's worth of credit fits a `u64`.
    pub const MAX_PER_SECOND: u64 = 1_000_000;
    /// A step back of the clock longer than this (nanoseconds) restarts the count.
    const STEP_BACK: u64 = 1_000_000_000;

    /// Creates a limiter admitting `per_second` spans per second (the rate is kept to a
    /// thousandth of a span per second: NaN, negative rates and rates below 0.0005
    /// admit nothing).
    pub fn new(per_second: f64) -> Self {
        let milli = if per_second.is_nan() || per_second <= 0.0 {
            0
        } else {
            (per_second.min(Self::MAX_PER_SECOND as f64) * 1000.0 + 0.5) as u64
        };
        Self::per_second_milli(milli)
    }

    /// Creates a limiter admitting `milli / 1000` spans per second, without floating point
    /// (it costs firmware no soft-float code).
    pub const fn per_second_milli(milli: u64) -> Self {
        let milli = if milli > Self::MAX_PER_SECOND * 1000 {
            Self::MAX_PER_SECOND * 1000
        } else {
            milli
        };
        let mut limiter = Self {
            milli_per_second: milli,
            credit: 0,
            last: None,
        };
        limiter.credit = limiter.capacity();
        limiter
    }

    /// The burst: one second's worth of spans, at least one span.
    const fn capacity(&self) -> u64 {
        let per_second = if self.milli_per_second < 1000 {
            1000
        } else {
            self.milli_per_second
        };
        per_second * 1_000_000_000
    }

    /// Gives one span back, as if it had not been sampled (the burst stays capped).
    fn refund(&mut self) {
        self.credit = self
            .credit
            .saturating_add(Self::SPAN_COST)
            .min(self.capacity());
    }

    fn sample(&mut self, now: Timestamp) -> bool {
        if self.milli_per_second == 0 {
            return false;
        }
        match self.last {
            // The clock was set back by more than a second (a wall clock stepped back,
            // followed by `SystemClock::resync`): time counts on from here, nothing
            // earned. (Found by review: credit stalled until the clock caught up with
            // the latest time seen, the whole step.) A smaller step back is one thread's
            // reading behind another's: it earns nothing and moves nothing. (The tracer
            // reads the clock for it under its lock, so a reading a thread took before
            // waiting for the lock is never given: found by review, one more than a
            // second old was taken for a step back, and the next reading earned a
            // second burst.)
            Some(last)
                if now.as_unix_nanos().saturating_add(Self::STEP_BACK) < last.as_unix_nanos() =>
            {
                self.last = Some(now);
            }
            Some(last) => {
                let elapsed = now.as_unix_nanos().saturating_sub(last.as_unix_nanos());
                let earned = elapsed.saturating_mul(self.milli_per_second);
                self.credit = self.credit.saturating_add(earned).min(self.capacity());
                if now > last {
                    self.last = Some(now);
                }
            }
            None => self.last = Some(now),
        }
        if self.credit >= Self::SPAN_COST {
            self.credit -= Self::SPAN_COST;
            true
        } else {
            false
        }
    }
}

/// A sampler that is not parent-based: what [`ParentBased`] delegates to.
#[derive(Clone, Copy)]
pub enum RootSampler {
    /// Records and samples everything.
    AlwaysOn,
    /// Records nothing.
    AlwaysOff,
    /// See [`TraceIdRatio`].
    TraceIdRatio(TraceIdRatio),
    /// See [`ProbabilitySampler`].
    Probability(ProbabilitySampler),
    /// See [`RateLimiting`].
    RateLimiting(RateLimiting),
    /// A user-defined sampler.
    Custom(&'static (dyn ShouldSample + Sync)),
}

impl fmt::Debug for RootSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl RootSampler {
    /// Decides; `independent`: the sampler ignores the parent (a `Sampler::Root`), not a
    /// `ParentBased` delegate picked for the parent's decision.
    fn should_sample(&mut self, params: &SamplingParams<'_>, independent: bool) -> SamplingResult {
        match self {
            RootSampler::RateLimiting(s) => {
                let result = SamplingResult::from_bool(s.sample(params.now));
                self.settle_parent_threshold(result, params, independent)
            }
            other => other
                .decide_shared(params, independent)
                .unwrap_or(SamplingResult::new(SamplingDecision::Drop)),
        }
    }

    /// Decides without `&mut`: `None` for the stateful rate limiter.
    #[inline]
    fn decide_shared(
        &self,
        params: &SamplingParams<'_>,
        independent: bool,
    ) -> Option<SamplingResult> {
        let result = match self {
            RootSampler::AlwaysOn => SamplingResult::new(SamplingDecision::RecordAndSample),
            RootSampler::AlwaysOff => SamplingResult::new(SamplingDecision::Drop),
            RootSampler::TraceIdRatio(s) => SamplingResult::from_bool(s.sample(params)),
            RootSampler::Probability(s) if independent => s.sample(params),
            RootSampler::Probability(s) => s.sample_as_delegate(params),
            RootSampler::RateLimiting(_) => return None,
            RootSampler::Custom(s) => s.should_sample(params),
        };
        Some(self.settle_parent_threshold(result, params, independent))
    }

    /// OTEP 235, for a decision that leaves the parent's `th` as it is: the `th` stays
    /// only while it still gives the span's sampling probability, that is when the
    /// decision agrees with `R >= th` (a delegate that follows its parent keeps it) and
    /// was not taken at a probability of its own (a ratio or a rate limit, which the
    /// parent's `th` does not describe). Otherwise it is erased: "unknown" is honest,
    /// a wrong probability is not; so is a `th` that cannot be read. A span sampled
    /// always on its own (an always-on sampler that ignores the parent, or a delegate
    /// that samples what the parent did not) was sampled with probability 1: `th:0`
    /// (the spec's independent parent/child case, which encodes "a fixed threshold
    /// based on their sampling probability"). (A root has no parent tracestate: nothing
    /// to do; nor has a parent without a `th`.)
    #[inline]
    fn settle_parent_threshold(
        &self,
        mut result: SamplingResult,
        params: &SamplingParams<'_>,
        independent: bool,
    ) -> SamplingResult {
        let Some(parent) = params.parent else {
            return result;
        };
        if result.threshold != ThresholdUpdate::Keep || params.parent_trace_state.is_empty() {
            return result;
        }
        let Some(ot) = ot_member_value(params.parent_trace_state) else {
            return result;
        };
        let parsed = OtValue::parse(ot);
        // A malformed value is read as text: a `th:` sub-key in it counts.
        let has_th = match parsed {
            Some(value) => value.get("th").is_some(),
            // Bytes, not `str::contains`: its two-way searcher is 0.9 KB of firmware.
            None => ot
                .as_bytes()
                .split(|&b| b == b';')
                .any(|sub| sub.starts_with(b"th:")),
        };
        if !has_th {
            return result;
        }
        let sampled = result.decision == SamplingDecision::RecordAndSample;
        if matches!(self, RootSampler::AlwaysOn) && sampled && (independent || !parent.is_sampled())
        {
            result.threshold = ThresholdUpdate::Set(0);
            return result;
        }
        let own_probability = matches!(
            self,
            RootSampler::TraceIdRatio(_) | RootSampler::RateLimiting(_)
        );
        let th = parsed.and_then(|ot| ot.threshold());
        if own_probability || th.is_none_or(|th| (randomness(params) >= th) != sampled) {
            result.threshold = ThresholdUpdate::Erase;
        }
        result
    }

    /// A span dropped without asking this sampler (a rate limiter another thread is
    /// using): dropped as `AlwaysOff` would, the parent's `th` settled the same way.
    pub(crate) fn dropped(params: &SamplingParams<'_>) -> SamplingResult {
        let result = SamplingResult::new(SamplingDecision::Drop);
        RootSampler::AlwaysOff.settle_parent_threshold(result, params, true)
    }
}

impl fmt::Display for RootSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootSampler::AlwaysOn => f.write_str("AlwaysOnSampler"),
            RootSampler::AlwaysOff => f.write_str("AlwaysOffSampler"),
            // A tiny ratio with an exponent: without one, 1e-300 takes some 300
            // characters (more than a description's buffer holds).
            RootSampler::TraceIdRatio(s) if s.ratio != 0.0 && s.ratio < 1e-6 => {
                write!(f, "TraceIdRatioBased{{{:e}}}", s.ratio)
            }
            RootSampler::TraceIdRatio(s) => write!(f, "TraceIdRatioBased{{{}}}", s.ratio),
            RootSampler::Probability(s) => {
                write!(f, "ProbabilitySampler{{threshold={:014x}}}", s.threshold)
            }
            RootSampler::RateLimiting(s) => {
                write!(
                    f,
                    "RateLimitingSampler{{{}.{:03}}}",
                    s.milli_per_second / 1000,
                    s.milli_per_second % 1000
                )
            }
            RootSampler::Custom(s) => s.describe(f),
        }
    }
}

/// Follows the parent's decision; roots go to `root`. Defaults per the spec:
/// remote sampled → AlwaysOn, remote not sampled → AlwaysOff, local sampled → AlwaysOn,
/// local not sampled → AlwaysOff.
#[derive(Clone, Copy, Debug)]
pub struct ParentBased {
    /// For spans without a parent.
    pub root: RootSampler,
    /// For a remote parent that was sampled.
    pub remote_parent_sampled: RootSampler,
    /// For a remote parent that was not sampled.
    pub remote_parent_not_sampled: RootSampler,
    /// For a local parent that was sampled.
    pub local_parent_sampled: RootSampler,
    /// For a local parent that was not sampled.
    pub local_parent_not_sampled: RootSampler,
}

impl ParentBased {
    /// Parent-based with `root` for roots and the spec's defaults for the rest.
    pub const fn new(root: RootSampler) -> Self {
        Self {
            root,
            remote_parent_sampled: RootSampler::AlwaysOn,
            remote_parent_not_sampled: RootSampler::AlwaysOff,
            local_parent_sampled: RootSampler::AlwaysOn,
            local_parent_not_sampled: RootSampler::AlwaysOff,
        }
    }

    fn should_sample(&mut self, params: &SamplingParams<'_>) -> SamplingResult {
        let Some(parent) = params.parent else {
            return self.root.should_sample(params, true);
        };
        let delegate = match (parent.is_remote, parent.is_sampled()) {
            (true, true) => &mut self.remote_parent_sampled,
            (true, false) => &mut self.remote_parent_not_sampled,
            (false, true) => &mut self.local_parent_sampled,
            (false, false) => &mut self.local_parent_not_sampled,
        };
        delegate.should_sample(params, false)
    }

    /// As `should_sample`, for a sampler shared by threads: `None` when the delegate
    /// that decides keeps state (rate limiting) and so needs `&mut`.
    #[inline]
    fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        let Some(parent) = params.parent else {
            return self.root.decide_shared(params, true);
        };
        let delegate = match (parent.is_remote, parent.is_sampled()) {
            (true, true) => &self.remote_parent_sampled,
            (true, false) => &self.remote_parent_not_sampled,
            (false, true) => &self.local_parent_sampled,
            (false, false) => &self.local_parent_not_sampled,
        };
        delegate.decide_shared(params, false)
    }
}

impl fmt::Display for ParentBased {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParentBased{{root:{}", self.root)?;
        let defaults = ParentBased::new(RootSampler::AlwaysOn);
        let delegates = [
            (
                "remoteParentSampled",
                &self.remote_parent_sampled,
                &defaults.remote_parent_sampled,
            ),
            (
                "remoteParentNotSampled",
                &self.remote_parent_not_sampled,
                &defaults.remote_parent_not_sampled,
            ),
            (
                "localParentSampled",
                &self.local_parent_sampled,
                &defaults.local_parent_sampled,
            ),
            (
                "localParentNotSampled",
                &self.local_parent_not_sampled,
                &defaults.local_parent_not_sampled,
            ),
        ];
        for (name, delegate, default) in delegates {
            if core::mem::discriminant(delegate) != core::mem::discriminant(default) {
                write!(f, ",{name}:{delegate}")?;
            }
        }
        f.write_str("}")
    }
}

/// The tracer's sampler.
#[derive(Clone, Copy, Debug)]
pub enum Sampler {
    /// A sampler that ignores the parent.
    Root(RootSampler),
    /// A sampler that follows the parent.
    ParentBased(ParentBased),
}

impl Default for Sampler {
    /// `ParentBased(root = AlwaysOn)`, the OpenTelemetry default.
    fn default() -> Self {
        Sampler::ParentBased(ParentBased::new(RootSampler::AlwaysOn))
    }
}

impl Sampler {
    /// Records and samples every span, whatever the parent decided.
    pub const ALWAYS_ON: Self = Sampler::Root(RootSampler::AlwaysOn);
    /// Records no span.
    pub const ALWAYS_OFF: Self = Sampler::Root(RootSampler::AlwaysOff);

    /// `TraceIdRatioBased(ratio)`.
    ///
    /// A [`RootSampler`], the root of [`Sampler::parent_based`], or a sampler of its own
    /// where a [`Sampler`] is taken (`with_sampler` converts it).
    pub fn trace_id_ratio(ratio: f64) -> RootSampler {
        RootSampler::TraceIdRatio(TraceIdRatio::new(ratio))
    }

    /// OTEP 235 consistent probability sampling with probability `p`.
    ///
    /// A [`RootSampler`], the root of [`Sampler::parent_based`], or a sampler of its own
    /// where a [`Sampler`] is taken (`with_sampler` converts it).
    pub fn probability(p: f64) -> RootSampler {
        RootSampler::Probability(ProbabilitySampler::new(p))
    }

    /// At most `per_second` spans per second.
    ///
    /// A [`RootSampler`], the root of [`Sampler::parent_based`], or a sampler of its own
    /// where a [`Sampler`] is taken (`with_sampler` converts it).
    pub fn rate_limiting(per_second: f64) -> RootSampler {
        RootSampler::RateLimiting(RateLimiting::new(per_second))
    }

    /// `ParentBased(root)` with the spec's default delegates.
    pub const fn parent_based(root: RootSampler) -> Self {
        Sampler::ParentBased(ParentBased::new(root))
    }

    /// Returns `true` when a decision may depend on [`SamplingParams::now`] (rate
    /// limiting, custom samplers); the tracer reads its clock before sampling only then.
    pub fn uses_clock(&self) -> bool {
        self.any_sampler(|s| matches!(s, RootSampler::RateLimiting(_) | RootSampler::Custom(_)))
    }

    /// Returns `true` when `f` holds for the sampler or one of its delegates.
    fn any_sampler(&self, f: impl Fn(&RootSampler) -> bool) -> bool {
        match self {
            Sampler::Root(s) => f(s),
            Sampler::ParentBased(p) => [
                &p.root,
                &p.remote_parent_sampled,
                &p.remote_parent_not_sampled,
                &p.local_parent_sampled,
                &p.local_parent_not_sampled,
            ]
            .into_iter()
            .any(f),
        }
    }

    /// Returns `true` when every root span is recorded and sampled (AlwaysOn, alone or
    /// as the parent-based root): the tracer then claims a root's slot before sampling.
    pub fn records_every_root(&self) -> bool {
        matches!(
            self,
            Sampler::Root(RootSampler::AlwaysOn)
                | Sampler::ParentBased(ParentBased {
                    root: RootSampler::AlwaysOn,
                    ..
                })
        )
    }

    /// Returns `true` when every root span is dropped (AlwaysOff, alone or as the
    /// parent-based root): the tracer then skips the decision for roots.
    pub fn drops_every_root(&self) -> bool {
        matches!(
            self,
            Sampler::Root(RootSampler::AlwaysOff)
                | Sampler::ParentBased(ParentBased {
                    root: RootSampler::AlwaysOff,
                    ..
                })
        )
    }

    /// Returns `true` when every child of a sampled local parent is recorded and
    /// sampled without a tracestate change (the default `ParentBased` delegate, or
    /// always-on): the tracer then skips the decision for those children.
    pub fn records_sampled_local_children(&self) -> bool {
        matches!(
            self,
            Sampler::Root(RootSampler::AlwaysOn)
                | Sampler::ParentBased(ParentBased {
                    local_parent_sampled: RootSampler::AlwaysOn,
                    ..
                })
        )
    }

    /// Returns `true` when a decision changes the sampler (rate limiting): a tracer
    /// shared by threads then guards a copy of it.
    pub fn is_stateful(&self) -> bool {
        self.any_sampler(|s| matches!(s, RootSampler::RateLimiting(_)))
    }

    /// Decides on one span.
    pub fn should_sample(&mut self, params: &SamplingParams<'_>) -> SamplingResult {
        match self {
            Sampler::Root(s) => s.should_sample(params, true),
            Sampler::ParentBased(s) => s.should_sample(params),
        }
    }

    /// Decides on one span without `&mut`, as a tracer shared by threads does: `None`
    /// when the deciding sampler keeps state (rate limiting), which then needs
    /// [`Sampler::should_sample`] on a copy the caller guards, with `params.now` read
    /// under that guard (a time read before waiting for it may be older than one the
    /// limiter was given meanwhile: more than a second older, it reads as the clock set
    /// back).
    #[inline]
    pub fn decide_shared(&self, params: &SamplingParams<'_>) -> Option<SamplingResult> {
        match self {
            Sampler::Root(s) => s.decide_shared(params, true),
            Sampler::ParentBased(s) => s.decide_shared(params),
        }
    }

    /// Returns the description (`ParentBased{root:AlwaysOnSampler}`) in a bounded string:
    /// every description of the built-in samplers fits (a parent-based one with four
    /// delegates of long ratios is about 340 bytes); a longer one ends in `…`.
    pub fn to_string_buf(&self) -> InlineStr<512> {
        let mut s = heapless::String::<512>::new();
        if write!(s, "{self}").is_err() {
            // heapless appends each piece whole or not at all: the cut is marked, not
            // silent (found by review: a description just stopped, with no `}`).
            while s.len() > 512 - '…'.len_utf8() {
                s.pop();
            }
            let _ = s.push('…');
        }
        InlineStr::from_heapless(s)
    }
}

impl From<RootSampler> for Sampler {
    fn from(root: RootSampler) -> Self {
        Sampler::Root(root)
    }
}

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampler::Root(s) => fmt::Display::fmt(s, f),
            Sampler::ParentBased(s) => fmt::Display::fmt(s, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{SpanId, TraceFlags};
    use crate::random::IdGenerator;
    use core::time::Duration;

    fn params<'a>(
        parent: Option<&'a SpanContext>,
        state: &'a str,
        trace_id: TraceId,
        now: Timestamp,
    ) -> SamplingParams<'a> {
        SamplingParams {
            parent,
            parent_trace_state: state,
            trace_id,
            name: "op",
            kind: SpanKind::Internal,
            attributes: &[],
            links: &[],
            now,
        }
    }

    fn decide(s: &mut Sampler, trace_id: TraceId) -> SamplingDecision {
        s.should_sample(&params(None, "", trace_id, Timestamp::ZERO))
            .decision
    }

    #[test]
    fn ratio_sampler_keeps_the_ratio_within_tolerance() {
        let mut ids = IdGenerator::from_seed([5; 32]);
        for (ratio, n) in [
            (0.0, 20_000),
            (0.01, 100_000),
            (0.1, 100_000),
            (0.5, 100_000),
            (1.0, 20_000),
        ] {
            let mut s = Sampler::from(Sampler::trace_id_ratio(ratio));
            let kept = (0..n)
                .filter(|_| decide(&mut s, ids.trace_id()).is_sampled())
                .count();
            let observed = kept as f64 / n as f64;
            // 5 standard deviations of a binomial proportion, plus exactness at 0 and 1.
            let tolerance = 5.0 * (ratio * (1.0 - ratio) / n as f64).sqrt();
            assert!(
                (observed - ratio).abs() <= tolerance,
                "ratio {ratio}: observed {observed}"
            );
        }
    }

    #[test]
    fn ratio_sampler_is_deterministic_and_monotone() {
        let mut ids = IdGenerator::from_seed([6; 32]);
        let mut low = Sampler::from(Sampler::trace_id_ratio(0.2));
        let mut high = Sampler::from(Sampler::trace_id_ratio(0.6));
        for _ in 0..10_000 {
            let id = ids.trace_id();
            let a = decide(&mut low, id);
            assert_eq!(a, decide(&mut low, id));
            if a.is_sampled() {
                assert!(
                    decide(&mut high, id).is_sampled(),
                    "a higher ratio samples a superset"
                );
            }
        }
    }

    #[test]
    fn ratio_threshold_matches_the_56_bit_rule() {
        assert_eq!(probability_to_threshold(1.0), 0);
        assert_eq!(probability_to_threshold(0.5), 1 << 55);
        assert_eq!(probability_to_threshold(0.25), 3 << 54);
        assert_eq!(probability_to_threshold(0.0), 1 << 56);
        assert_eq!(probability_to_threshold(f64::NAN), 1 << 56);
        // Randomness exactly at the threshold is sampled (R >= T).
        let s = TraceIdRatio::new(0.5);
        let at = TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0]);
        let below = TraceId::from_bytes([
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff,
        ]);
        assert!(s.sample(&params(None, "", at, Timestamp::ZERO)));
        assert!(
            !s.sample(&params(None, "", below, Timestamp::ZERO)),
            "only the rightmost 56 bits count"
        );
    }

    /// Regression: for p in [1/16, 1/8) with an odd `p * 2^56`, `p * 2^56 + 0.5` was a
    /// tie that rounded to even, keeping one more than `p * 2^56`: the threshold was one
    /// below the spec's `(1 - p) * 2^56`, and a trace whose randomness equals it was
    /// sampled.
    #[test]
    fn thresholds_are_exact_where_p_times_2_56_is_an_odd_whole_number() {
        assert_eq!(0.075 * (1u64 << 56) as f64, 5_404_319_552_844_595.0);
        assert_eq!(probability_to_threshold(0.075), 0xec_cccc_cccc_cccd);
        let just_over = 0.0625 + 2f64.powi(-56);
        assert_eq!(
            probability_to_threshold(just_over),
            (1 << 56) - (1 << 52) - 1
        );
        // Halves still round up, and every other range is as before.
        assert_eq!(
            probability_to_threshold(1.5 * 2f64.powi(-56)),
            (1 << 56) - 2
        );
        assert_eq!(
            probability_to_threshold(0.1),
            (1 << 56) - 7_205_759_403_792_794
        );
        let r = TraceId::from_bytes([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0xec, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
        ]);
        assert!(!TraceIdRatio::new(0.075).sample(&params(None, "", r, Timestamp::ZERO)));
        let at = TraceId::from_bytes([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0xec, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcd,
        ]);
        assert!(TraceIdRatio::new(0.075).sample(&params(None, "", at, Timestamp::ZERO)));
    }

    /// Regressions from a review against the probability sampling spec.
    #[cfg(all(feature = "tracestate", feature = "otep235"))]
    #[test]
    fn thresholds_are_exact_ratios_read_rv_and_a_th_that_no_longer_holds_is_erased() {
        // 2^-56 is the smallest probability; `(1 - p) * 2^56` rounded it to 0.
        assert_eq!(probability_to_threshold(2f64.powi(-56)), (1 << 56) - 1);
        assert_eq!(
            ProbabilitySampler::new(2f64.powi(-54)).threshold(),
            (1 << 56) - 4
        );
        let zero = TraceId::from_bytes([0; 16]);
        let ones = TraceId::from_bytes([0xff; 16]);
        let parent = |sampled| SpanContext {
            trace_id: ones,
            span_id: SpanId::from_bytes([1; 8]),
            flags: TraceFlags::default().with_sampled(sampled),
            is_remote: true,
        };
        // TraceIdRatio reads an explicit `rv` (R = 0 here) before the trace id's bits.
        let unsampled = parent(false);
        let with_rv = params(
            Some(&unsampled),
            "ot=rv:00000000000000",
            ones,
            Timestamp::ZERO,
        );
        let mut ratio = Sampler::Root(RootSampler::TraceIdRatio(TraceIdRatio::new(0.5)));
        assert_eq!(
            ratio.should_sample(&with_rv).decision,
            SamplingDecision::Drop
        );
        // Regression: the `rv` of an `ot` value that breaks the grammar elsewhere (a
        // repeated `th`) was ignored for the trace id's bits, though the value goes out
        // unchanged, `rv` with it.
        let malformed = params(
            Some(&unsampled),
            "ot=th:8;rv:00000000000000;th:c",
            ones,
            Timestamp::ZERO,
        );
        assert_eq!(
            ratio.should_sample(&malformed).decision,
            SamplingDecision::Drop
        );
        // Always-on under an unsampled parent whose `th:8` says R < th: the span is
        // sampled, so `th:8` (50 %) would be a wrong probability; it was sampled with
        // probability 1, on its own: `th:0`.
        let th = params(Some(&unsampled), "ot=th:8", zero, Timestamp::ZERO);
        let erased = |s: &mut Sampler, p| s.should_sample(p).threshold == ThresholdUpdate::Erase;
        let mut always_on = Sampler::ALWAYS_ON;
        assert_eq!(
            always_on.should_sample(&th).threshold,
            ThresholdUpdate::Set(0)
        );
        let mut parent_based = Sampler::ParentBased(ParentBased {
            remote_parent_not_sampled: RootSampler::AlwaysOn,
            ..ParentBased::new(RootSampler::AlwaysOn)
        });
        assert_eq!(
            parent_based.should_sample(&th).threshold,
            ThresholdUpdate::Set(0)
        );
        // A ratio under a sampled parent with `th:0`: its probability is its own.
        let sampled = parent(true);
        let th0 = params(Some(&sampled), "ot=th:0", ones, Timestamp::ZERO);
        let mut ratio_child = Sampler::ParentBased(ParentBased {
            remote_parent_sampled: RootSampler::TraceIdRatio(TraceIdRatio::new(0.1)),
            ..ParentBased::new(RootSampler::AlwaysOn)
        });
        assert!(erased(&mut ratio_child, &th0));
        // The default delegate under a sampled parent whose `th` holds keeps it.
        let mut default = Sampler::ParentBased(ParentBased::new(RootSampler::AlwaysOn));
        assert_eq!(default.should_sample(&th0).threshold, ThresholdUpdate::Keep);
    }

    /// (reason, parent as (remote, sampled), decision).
    type Row = (&'static str, Option<(bool, bool)>, SamplingDecision);

    #[rustfmt::skip]
    const MATRIX: &[Row] = &[
        // reason,                                    (remote, sampled),  decision of default ParentBased(AlwaysOff root)
        ("root goes to the root sampler (off)",       None,               SamplingDecision::Drop),
        ("remote sampled parent -> AlwaysOn",         Some((true, true)),  SamplingDecision::RecordAndSample),
        ("remote unsampled parent -> AlwaysOff",      Some((true, false)), SamplingDecision::Drop),
        ("local sampled parent -> AlwaysOn",          Some((false, true)), SamplingDecision::RecordAndSample),
        ("local unsampled parent -> AlwaysOff",       Some((false, false)), SamplingDecision::Drop),
    ];

    /// Every span a compile-time sampler decides on, decided the same as the runtime
    /// sampler it stands for: roots and every parent kind, with and without an OTEP 235
    /// threshold that agrees or disagrees with the parent's flag.
    fn assert_same_decisions(fixed: impl SpanSampler, mut runtime: Sampler) {
        let mut described = heapless::String::<64>::new();
        write!(described, "{fixed}").unwrap();
        assert_eq!(described.as_str(), runtime.to_string_buf());
        assert_eq!(fixed.records_every_root(), runtime.records_every_root());
        assert_eq!(fixed.drops_every_root(), runtime.drops_every_root());
        assert_eq!(
            fixed.records_sampled_local_children(),
            runtime.records_sampled_local_children()
        );
        let states = [
            "",
            "ot=th:8",
            "ot=th:0;rv:01",
            "vendor=x,ot=th:c",
            "ot=th:zz",
        ];
        let parents = [
            None,
            Some((false, false)),
            Some((false, true)),
            Some((true, false)),
            Some((true, true)),
        ];
        for seed in 0..64u8 {
            let trace_id = TraceId::from_bytes([seed.wrapping_mul(37) | 1; 16]);
            for parent in parents {
                let parent = parent.map(|(remote, sampled)| SpanContext {
                    trace_id,
                    span_id: SpanId::from_bytes([2; 8]),
                    flags: TraceFlags::NONE.with_sampled(sampled),
                    is_remote: remote,
                });
                for state in states {
                    let p = params(parent.as_ref(), state, trace_id, Timestamp::ZERO);
                    if parent.is_none() && fixed.drops_every_root() {
                        assert_eq!(
                            runtime.decide_shared(&p),
                            Some(SamplingResult::new(SamplingDecision::Drop)),
                            "{fixed} says it drops every root"
                        );
                    }
                    assert_eq!(
                        fixed.decide_shared(&p),
                        runtime.decide_shared(&p),
                        "{fixed} {parent:?} {state}"
                    );
                    assert_eq!(
                        fixed.clone().decide_exclusive(&p),
                        runtime.should_sample(&p),
                        "{fixed} {parent:?} {state}"
                    );
                }
            }
        }
    }

    #[test]
    fn compile_time_samplers_decide_as_their_runtime_counterparts() {
        assert_same_decisions(ParentBasedAlwaysOn, Sampler::default());
        assert_same_decisions(AlwaysOn, Sampler::ALWAYS_ON);
        assert_same_decisions(AlwaysOff, Sampler::ALWAYS_OFF);
        // The runtime types through the trait: the tracer sees what their own methods say.
        let root = Sampler::trace_id_ratio(0.5);
        assert_same_decisions(root, Sampler::Root(root));
        let parent_based = ParentBased::new(root);
        assert_same_decisions(parent_based, Sampler::ParentBased(parent_based));
        let off = ParentBased::new(RootSampler::AlwaysOff);
        assert!(off.drops_every_root() && SpanSampler::drops_every_root(&RootSampler::AlwaysOff));
        assert_same_decisions(off, Sampler::ParentBased(off));
    }

    #[test]
    fn parent_based_decision_matrix() {
        let trace_id = TraceId::from_bytes([1; 16]);
        let mut s = Sampler::parent_based(RootSampler::AlwaysOff);
        for &(reason, parent, expected) in MATRIX {
            let parent = parent.map(|(remote, sampled)| SpanContext {
                trace_id,
                span_id: SpanId::from_bytes([2; 8]),
                flags: TraceFlags::NONE.with_sampled(sampled),
                is_remote: remote,
            });
            let got = s
                .should_sample(&params(parent.as_ref(), "", trace_id, Timestamp::ZERO))
                .decision;
            assert_eq!(got, expected, "{reason}");
        }
    }

    #[test]
    fn parent_based_uses_each_of_the_five_delegates() {
        let trace_id = TraceId::from_bytes([1; 16]);
        // Invert every default so each delegate's effect is visible.
        let mut s = Sampler::ParentBased(ParentBased {
            root: RootSampler::AlwaysOn,
            remote_parent_sampled: RootSampler::AlwaysOff,
            remote_parent_not_sampled: RootSampler::AlwaysOn,
            local_parent_sampled: RootSampler::AlwaysOff,
            local_parent_not_sampled: RootSampler::AlwaysOn,
        });
        for &(reason, parent, expected) in MATRIX {
            let parent = parent.map(|(remote, sampled)| SpanContext {
                trace_id,
                span_id: SpanId::from_bytes([2; 8]),
                flags: TraceFlags::NONE.with_sampled(sampled),
                is_remote: remote,
            });
            let got = s
                .should_sample(&params(parent.as_ref(), "", trace_id, Timestamp::ZERO))
                .decision;
            let inverted = if expected.is_sampled() {
                SamplingDecision::Drop
            } else {
                SamplingDecision::RecordAndSample
            };
            assert_eq!(got, inverted, "{reason} (inverted)");
        }
        assert_eq!(
            s.to_string_buf().as_str(),
            "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOffSampler,remoteParentNotSampled:AlwaysOnSampler,localParentSampled:AlwaysOffSampler,localParentNotSampled:AlwaysOnSampler}"
        );
    }

    #[test]
    fn rate_limiter_admits_the_rate_over_a_fake_clock() {
        let mut s = Sampler::from(Sampler::rate_limiting(10.0));
        let id = TraceId::from_bytes([3; 16]);
        let t0 = Timestamp::from_unix_nanos(1_000_000_000_000);
        let mut kept = 0;
        // 100 spans in the same instant: a burst of one second's worth.
        for _ in 0..100 {
            kept += usize::from(
                s.should_sample(&params(None, "", id, t0))
                    .decision
                    .is_sampled(),
            );
        }
        assert_eq!(kept, 10);
        // Then 1000 spans spread over 10 seconds: 10 per second more.
        let mut kept = 0;
        for i in 1..=1000u64 {
            let now = t0.saturating_add(Duration::from_millis(i * 10));
            kept += usize::from(
                s.should_sample(&params(None, "", id, now))
                    .decision
                    .is_sampled(),
            );
        }
        assert!((99..=101).contains(&kept), "kept {kept} over 10 s at 10/s");
        // A clock that steps back admits nothing extra.
        let mut kept = 0;
        for _ in 0..50 {
            kept += usize::from(
                s.should_sample(&params(None, "", id, t0))
                    .decision
                    .is_sampled(),
            );
        }
        assert!(kept <= 1);
        // Regression (found by review): after a step back of more than a second the
        // limiter earned nothing until the clock caught up with the latest time it had
        // seen (here 10 s); it counts on from the new time now.
        let mut kept = 0;
        for i in 1..=100u64 {
            let now = t0.saturating_add(Duration::from_millis(i * 10));
            kept += usize::from(
                s.should_sample(&params(None, "", id, now))
                    .decision
                    .is_sampled(),
            );
        }
        assert!(
            (9..=11).contains(&kept),
            "kept {kept} in the second after the step"
        );
    }

    #[test]
    fn rate_limiter_handles_fractional_and_zero_rates() {
        let id = TraceId::from_bytes([3; 16]);
        let t0 = Timestamp::from_unix_nanos(1_000_000_000_000);
        let mut half = Sampler::from(Sampler::rate_limiting(0.5));
        let kept = (0..=100u64)
            .filter(|i| {
                let now = t0.saturating_add(Duration::from_millis(i * 100));
                half.should_sample(&params(None, "", id, now))
                    .decision
                    .is_sampled()
            })
            .count();
        assert_eq!(kept, 1 + 5, "a burst of one, then one every 2 s over 10 s");
        let mut none = Sampler::from(Sampler::rate_limiting(f64::NAN));
        assert!(!none
            .should_sample(&params(None, "", id, t0))
            .decision
            .is_sampled());
        assert_eq!(half.to_string_buf().as_str(), "RateLimitingSampler{0.500}");
    }

    #[cfg(all(feature = "tracestate", feature = "otep235"))]
    #[test]
    fn probability_sampler_writes_th_and_honours_rv() {
        let mut s = Sampler::from(Sampler::probability(0.25));
        // Trace id randomness 0xff.. >= T = 0xc0..: sampled, th:c written.
        let high = TraceId::from_bytes([0xff; 16]);
        let r = s.should_sample(&params(None, "", high, Timestamp::ZERO));
        assert_eq!(r.decision, SamplingDecision::RecordAndSample);
        assert_eq!(r.threshold, ThresholdUpdate::Set(0xc0_0000_0000_0000));
        // Explicit rv below the threshold wins over the trace id.
        let parent = SpanContext {
            trace_id: high,
            span_id: SpanId::from_bytes([1; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        };
        let r = s.should_sample(&params(
            Some(&parent),
            "ot=rv:10000000000000",
            high,
            Timestamp::ZERO,
        ));
        assert_eq!(r.decision, SamplingDecision::Drop);
    }

    /// Regression (found by review): a probability sampler as a `ParentBased` delegate
    /// wrote its own `th`: `th:8` (50 %) under a parent sampled at 25 % (`th:c`), and
    /// under a parent of unknown probability. It writes the smaller probability when
    /// the parent's `th` is known, else none (and erases an unreadable one).
    #[cfg(all(feature = "tracestate", feature = "otep235"))]
    #[test]
    fn a_probability_delegate_writes_the_probability_the_span_has() {
        let ones = TraceId::from_bytes([0xff; 16]);
        let sampled = SpanContext {
            trace_id: ones,
            span_id: SpanId::from_bytes([1; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        };
        let mut s = Sampler::ParentBased(ParentBased {
            remote_parent_sampled: Sampler::probability(0.5),
            ..ParentBased::new(RootSampler::AlwaysOn)
        });
        let under = |state| params(Some(&sampled), state, ones, Timestamp::ZERO);
        let r = s.should_sample(&under("ot=th:c"));
        assert_eq!(r.decision, SamplingDecision::RecordAndSample);
        assert_eq!(r.threshold, ThresholdUpdate::Set(0xc0_0000_0000_0000));
        let r = s.should_sample(&under("ot=th:4"));
        assert_eq!(
            r.threshold,
            ThresholdUpdate::Set(0x80_0000_0000_0000),
            "its own, smaller"
        );
        assert_eq!(s.should_sample(&under("")).threshold, ThresholdUpdate::Keep);
        assert_eq!(
            s.should_sample(&under("vendor=x")).threshold,
            ThresholdUpdate::Keep
        );
        assert_eq!(
            s.should_sample(&under("ot=th:zz")).threshold,
            ThresholdUpdate::Erase
        );
        // On its own (a root, or `Sampler::Root`) it writes its own, as before.
        let mut root: Sampler = Sampler::probability(0.5).into();
        assert_eq!(
            root.should_sample(&params(None, "", ones, Timestamp::ZERO))
                .threshold,
            ThresholdUpdate::Set(0x80_0000_0000_0000)
        );
    }

    #[cfg(all(feature = "tracestate", feature = "otep235"))]
    #[test]
    fn parent_based_erases_an_inconsistent_threshold() {
        let mut s = Sampler::default();
        let id = TraceId::from_bytes([0; 16]); // randomness 0: below any non-zero threshold
        let parent = SpanContext {
            trace_id: id,
            span_id: SpanId::from_bytes([1; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        };
        let r = s.should_sample(&params(Some(&parent), "ot=th:8", id, Timestamp::ZERO));
        assert_eq!(r.decision, SamplingDecision::RecordAndSample);
        assert_eq!(
            r.threshold,
            ThresholdUpdate::Erase,
            "sampled flag disagrees with R >= T"
        );
        let consistent = s.should_sample(&params(Some(&parent), "ot=th:0", id, Timestamp::ZERO));
        assert_eq!(consistent.threshold, ThresholdUpdate::Keep);
    }

    /// Regression (found by review): an always-on sampler that ignores its parent kept
    /// the parent's `th:8` (50 %) on spans it sampled with probability 1, and so did a
    /// `ParentBased` delegate that samples what its parent did not; both say `th:0`
    /// now. The default delegate that follows a sampled parent keeps the parent's `th`.
    #[cfg(all(feature = "tracestate", feature = "otep235"))]
    #[test]
    fn always_on_on_its_own_says_th_0() {
        let ones = TraceId::from_bytes([0xff; 16]);
        let cx = |sampled| SpanContext {
            trace_id: ones,
            span_id: SpanId::from_bytes([1; 8]),
            flags: TraceFlags::NONE.with_sampled(sampled),
            is_remote: true,
        };
        let (sampled, unsampled) = (cx(true), cx(false));
        let under = |parent| params(Some(parent), "ot=th:8", ones, Timestamp::ZERO);
        let mut on = Sampler::ALWAYS_ON;
        assert_eq!(
            on.should_sample(&under(&sampled)).threshold,
            ThresholdUpdate::Set(0)
        );
        assert_eq!(
            AlwaysOn
                .decide_shared(&under(&sampled))
                .map(|r| r.threshold),
            Some(ThresholdUpdate::Set(0))
        );
        let mut delegate = Sampler::ParentBased(ParentBased {
            remote_parent_not_sampled: RootSampler::AlwaysOn,
            ..ParentBased::new(RootSampler::AlwaysOn)
        });
        assert_eq!(
            delegate.should_sample(&under(&unsampled)).threshold,
            ThresholdUpdate::Set(0)
        );
        assert_eq!(
            delegate.should_sample(&under(&sampled)).threshold,
            ThresholdUpdate::Keep
        );
        assert_eq!(
            ParentBasedAlwaysOn
                .decide_shared(&under(&sampled))
                .map(|r| r.threshold),
            Some(ThresholdUpdate::Keep)
        );
    }

    /// Regression (found by review): a `th` that cannot be read (uppercase, not hex,
    /// too long) was passed on by every sampler, a ratio's too; a reader that accepts
    /// it would take a wrong probability from it. It is erased (the probability is
    /// unknown), but by an always-on sampler on its own, which writes `th:0`.
    #[cfg(all(feature = "tracestate", feature = "otep235"))]
    #[test]
    fn a_th_that_cannot_be_read_is_not_passed_on() {
        let ones = TraceId::from_bytes([0xff; 16]);
        let parent = SpanContext {
            trace_id: ones,
            span_id: SpanId::from_bytes([1; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        };
        for state in [
            "ot=th:C",
            "ot=th:zz",
            "ot=th:000000000000001",
            "ot=th:0;X:1",
        ] {
            let p = params(Some(&parent), state, ones, Timestamp::ZERO);
            let mut ratio = Sampler::from(Sampler::trace_id_ratio(0.5));
            assert_eq!(
                ratio.should_sample(&p).threshold,
                ThresholdUpdate::Erase,
                "{state}"
            );
            let mut default = Sampler::default();
            assert_eq!(
                default.should_sample(&p).threshold,
                ThresholdUpdate::Erase,
                "{state}"
            );
            let mut on = Sampler::ALWAYS_ON;
            assert_eq!(
                on.should_sample(&p).threshold,
                ThresholdUpdate::Set(0),
                "{state}"
            );
        }
        // Without a `th` there is nothing to settle.
        let p = params(Some(&parent), "ot=rv:00000000000000", ones, Timestamp::ZERO);
        assert_eq!(
            Sampler::ALWAYS_ON.decide_shared(&p).map(|r| r.threshold),
            Some(ThresholdUpdate::Keep)
        );
    }

    /// Regression (found by review): the description was written into 256 bytes and
    /// a parent-based sampler with four long delegates (276 bytes) stopped mid-way,
    /// without its closing brace.
    #[test]
    fn parent_based_descriptions_with_every_delegate_are_whole() {
        let long = Sampler::trace_id_ratio(0.123_456_789_012_3);
        let sampler = Sampler::ParentBased(ParentBased {
            root: long,
            remote_parent_sampled: long,
            remote_parent_not_sampled: long,
            local_parent_sampled: long,
            local_parent_not_sampled: long,
        });
        let described = sampler.to_string_buf();
        assert_eq!(described.as_str(), std::format!("{sampler}"));
        assert!(described.len() > 256, "{}", described.as_str());
        assert!(described.as_str().ends_with("}}"), "{}", described.as_str());
    }

    /// Regression (found by review): a ratio given as -0 was kept as -0 and described as
    /// `TraceIdRatioBased{-0}`; a tiny ratio's description (printed without an exponent,
    /// some 300 characters) was cut short of its closing brace.
    #[test]
    fn ratio_descriptions_are_whole() {
        let describe = |r: f64| Sampler::from(Sampler::trace_id_ratio(r)).to_string_buf();
        assert_eq!(describe(-0.0).as_str(), "TraceIdRatioBased{0}");
        assert_eq!(describe(0.25).as_str(), "TraceIdRatioBased{0.25}");
        let tiny = describe(1e-300);
        assert!(tiny.as_str().ends_with('}'), "{}", tiny.as_str());
        let ratio: f64 = tiny.as_str()["TraceIdRatioBased{".len()..tiny.len() - 1]
            .parse()
            .unwrap();
        assert_eq!(ratio, 1e-300);
    }
}
