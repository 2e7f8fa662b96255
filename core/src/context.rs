//! The context that crosses process boundaries: [`SpanContext`] (ids and flags, `Copy`)
//! and [`TraceContext`] (a span context plus its `tracestate`).
//!
//! `TraceContext` is what goes over the wire: [`TraceContext::new_root`],
//! [`TraceContext::child`], and, in [`crate::propagation`], `from_headers`, `to_headers`
//! and `to_traceparent`.

use crate::id::{SpanId, TraceFlags, TraceId};
use crate::random::IdGenerator;
use crate::wire::tracestate::TraceState;
use rand_core::RngCore;

/// The identity of one span as other spans and processes see it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id (on the wire: the `parent-id` of the next hop).
    pub span_id: SpanId,
    /// Sampled and random-trace-id flags.
    pub flags: TraceFlags,
    /// `true` when this context was received from another process.
    pub is_remote: bool,
}

impl SpanContext {
    /// A context that is not valid: what a span has when tracing is disabled.
    pub const INVALID: Self = Self {
        trace_id: TraceId::INVALID,
        span_id: SpanId::INVALID,
        flags: TraceFlags::NONE,
        is_remote: false,
    };

    /// Returns `true` when both ids are valid (not all zero).
    #[inline]
    pub const fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// Returns whether the sampled flag is set.
    #[inline]
    pub const fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }
}

/// A span context with its vendor `tracestate`: what `traceparent` + `tracestate` carry.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TraceContext {
    /// Ids, flags and the remote marker.
    pub span_context: SpanContext,
    /// Vendor-specific trace state, kept in order.
    pub trace_state: TraceState,
}

impl TraceContext {
    /// Starts a new trace: random trace and span ids, the random-trace-id flag set (not
    /// for a generator that looks stuck: see [`IdGenerator::from_entropy`] and
    /// [`IdGenerator::trace_id`]), and the sampled flag as given.
    pub fn new_root<R: RngCore>(ids: &mut IdGenerator<R>, sampled: bool) -> Self {
        let (trace_id, random) = ids.trace_id_and_randomness();
        let flags = if random {
            TraceFlags::RANDOM_TRACE_ID
        } else {
            TraceFlags::NONE
        };
        Self {
            span_context: SpanContext {
                trace_id,
                span_id: ids.span_id(),
                flags: flags.with_sampled(sampled),
                is_remote: false,
            },
            trace_state: TraceState::new(),
        }
    }

    /// Returns the context of a child: same trace, flags and trace state, a new span id,
    /// and local (not remote).
    #[must_use]
    pub fn child<R: RngCore>(&self, ids: &mut IdGenerator<R>) -> Self {
        Self {
            span_context: SpanContext {
                span_id: ids.span_id(),
                is_remote: false,
                ..self.span_context
            },
            trace_state: self.trace_state.clone(),
        }
    }

    /// Returns the trace id.
    #[inline]
    pub const fn trace_id(&self) -> TraceId {
        self.span_context.trace_id
    }

    /// Returns the span id (the `parent-id` field when propagated).
    #[inline]
    pub const fn span_id(&self) -> SpanId {
        self.span_context.span_id
    }

    /// Returns the trace flags.
    #[inline]
    pub const fn flags(&self) -> TraceFlags {
        self.span_context.flags
    }

    /// Returns whether the sampled flag is set.
    #[inline]
    pub const fn is_sampled(&self) -> bool {
        self.span_context.flags.is_sampled()
    }

    /// Returns whether this context came from another process.
    #[inline]
    pub const fn is_remote(&self) -> bool {
        self.span_context.is_remote
    }
}

impl From<SpanContext> for TraceContext {
    fn from(span_context: SpanContext) -> Self {
        Self {
            span_context,
            trace_state: TraceState::new(),
        }
    }
}

// The sizes the README gives for 32-bit targets (a firmware build checks them when it
// compiles: host tests run on 64-bit targets).
#[cfg(all(feature = "tracestate", target_pointer_width = "32"))]
const _: () = assert!(core::mem::size_of::<TraceContext>() == 552);
#[cfg(all(not(feature = "tracestate"), target_pointer_width = "32"))]
const _: () = assert!(core::mem::size_of::<TraceContext>() == 36);

#[cfg(test)]
mod tests {
    use super::*;

    /// The size the docs give (README, the `tracestate` feature): the tracestate is
    /// stored inline, so this is what a context costs to move.
    #[test]
    #[cfg(all(feature = "tracestate", target_pointer_width = "64"))]
    fn a_context_with_its_tracestate_is_568_bytes() {
        assert_eq!(core::mem::size_of::<TraceContext>(), 568);
    }

    #[test]
    fn root_sets_random_flag_and_child_keeps_trace() {
        let mut ids = IdGenerator::from_seed([3; 32]);
        let root = TraceContext::new_root(&mut ids, true);
        assert!(root.span_context.is_valid());
        assert!(root.flags().is_random_trace_id() && root.is_sampled());
        let child = root.child(&mut ids);
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.span_id(), root.span_id());
        assert_eq!(child.flags(), root.flags());
        assert!(!child.is_remote());
    }
}
