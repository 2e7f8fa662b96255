//! Id generation: [`IdGenerator`] over any `rand_core` 0.9 [`RngCore`], Xoshiro by default,
//! seeded from [`Entropy`] the platform supplies.
//!
//! Trace ids are fully random, so the W3C Level 2 random-trace-id flag is always set on
//! the roots we start, and OpenTelemetry's probability samplers can use their rightmost
//! 56 bits.
//!
//! ```
//! use picotrace::{Entropy, IdGenerator};
//! struct Fixed;
//! impl Entropy for Fixed {
//!     fn fill(&mut self, seed: &mut [u8]) { seed.fill(7) }
//! }
//! let mut ids = IdGenerator::from_entropy(&mut Fixed);
//! assert!(ids.trace_id().is_valid());
//! assert!(ids.span_id().is_valid());
//! ```

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::id::{SpanId, TraceId};

/// A source of seed material: a hardware RNG, an ADC's noise bits, the OS.
///
/// # What implementors must guarantee
/// - `fill` writes every byte of `seed`, as unpredictably as the platform allows. Two
///   devices (or two boots) that produce the same seed produce the same ids, which
///   collide in the backend; mix in a unique device id if the entropy is weak.
/// - `fill` is called once per generator, at construction; it may be slow.
pub trait Entropy {
    /// Fills `seed` with entropy.
    fn fill(&mut self, seed: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, seed: &mut [u8]) {
        self(seed)
    }
}

/// Produces valid (never all-zero) trace and span ids from a random number generator.
#[derive(Clone, Debug)]
pub struct IdGenerator<R = Xoshiro256PlusPlus> {
    rng: R,
}

impl IdGenerator<Xoshiro256PlusPlus> {
    /// Creates the default generator (Xoshiro256++) seeded from `entropy`.
    pub fn from_entropy(entropy: &mut impl Entropy) -> Self {
        let mut seed = [0u8; 32];
        entropy.fill(&mut seed);
        Self::from_seed(seed)
    }

    /// Creates the default generator from a 32-byte seed (an all-zero seed is replaced
    /// by a fixed non-zero one, since Xoshiro cannot leave the zero state).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::from_seed(seed),
        }
    }
}

impl<R: RngCore> IdGenerator<R> {
    /// Wraps any `rand_core` 0.9 generator (e.g. a hardware RNG's driver).
    pub const fn with_rng(rng: R) -> Self {
        Self { rng }
    }

    /// Returns a new random, valid trace id.
    #[inline]
    pub fn trace_id(&mut self) -> TraceId {
        loop {
            let hi = self.rng.next_u64().to_be_bytes();
            let lo = self.rng.next_u64().to_be_bytes();
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&hi);
            bytes[8..].copy_from_slice(&lo);
            let id = TraceId::from_bytes(bytes);
            if id.is_valid() {
                return id;
            }
        }
    }

    /// Returns a new random, valid span id.
    #[inline]
    pub fn span_id(&mut self) -> SpanId {
        loop {
            let id = SpanId::from_bytes(self.rng.next_u64().to_be_bytes());
            if id.is_valid() {
                return id;
            }
        }
    }

    /// Returns a random 64-bit number (used by samplers that need jitter-free randomness).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_seed_still_yields_distinct_valid_ids() {
        let mut ids = IdGenerator::from_seed([0; 32]);
        let a = ids.trace_id();
        let b = ids.trace_id();
        assert!(a.is_valid() && b.is_valid());
        assert_ne!(a, b);
        assert_ne!(ids.span_id(), ids.span_id());
    }

    #[test]
    fn same_seed_same_ids() {
        let mut a = IdGenerator::from_seed([9; 32]);
        let mut b = IdGenerator::from_seed([9; 32]);
        assert_eq!(a.trace_id(), b.trace_id());
    }

    #[test]
    fn entropy_closure_fills_seed() {
        let mut calls = 0;
        let mut entropy = |seed: &mut [u8]| {
            calls += 1;
            seed.fill(1)
        };
        let _ = IdGenerator::from_entropy(&mut entropy);
        assert_eq!(calls, 1);
    }
}
