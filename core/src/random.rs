//! Id generation: [`IdGenerator`] over any `rand_core` 0.9 [`RngCore`], Xoshiro by default,
//! seeded from [`Entropy`] the platform supplies.
//!
//! Trace ids are fully random, so the W3C Level 2 random-trace-id flag is always set on
//! the roots we start, and OpenTelemetry's probability samplers can use their rightmost
//! 56 bits.
//!
//! Where the randomness comes from, by what the platform has:
//!
//! | the platform has | use |
//! | --- | --- |
//! | a `rand_core` 0.9 generator (a HAL RNG, `OsRng`) | [`IdGenerator::with_rng`] (it draws from it), [`IdGenerator::from_rng`] (seeds Xoshiro from it) |
//! | a `rand_core` 0.6 or 0.10 generator | the same, through `RandCore06` / `RandCore010` (features `rand-core-06` / `rand-core-010`) |
//! | a random-number register | [`IdGenerator::from_fn`] with a closure that reads it |
//! | weak sources to mix (unique id, ADC noise, timer jitter) | an [`Entropy`] and [`IdGenerator::from_entropy`] |
//! | a seed already: bytes, a number | [`IdGenerator::from_seed`], [`IdGenerator::from_u64`] |
//!
//! A [`Tracer`](crate::Tracer) draws three 64-bit keys from its generator once, when it is
//! created, and derives every id from them: a slow hardware RNG costs nothing per span.
//! The derivation (SplitMix64's finaliser of a key plus a span number) is fast and
//! uniform, and ids from one seeded tracer never repeat before 2^47 spans of one slot;
//! but it is invertible: someone who sees a tracer's ids could work out its later ones
//! and how many spans it started in between (found by review). Ids are for telling
//! traces apart, as OpenTelemetry's SDKs make them (Java's `ThreadLocalRandom` is the
//! same kind of generator), not secrets or capabilities.
//!
//! ```
//! use picotrace::{Entropy, IdGenerator};
//! struct Adc(u8); // stands in for a noisy ADC pin
//! impl Entropy for Adc {
//!     fn fill(&mut self, seed: &mut [u8]) {
//!         for b in seed { self.0 = self.0.wrapping_mul(29).wrapping_add(7); *b = self.0 }
//!     }
//! }
//! let mut ids = IdGenerator::from_entropy(&mut Adc(1));
//! assert!(ids.trace_id().is_valid());
//! assert!(ids.span_id().is_valid());
//! ```

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::id::{SpanId, TraceId};

mod compat;
#[cfg(feature = "rand-core-010")]
pub use compat::RandCore010;
#[cfg(feature = "rand-core-06")]
pub use compat::RandCore06;

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
    /// Its seed came from entropy that gave one word over and over (zero, or a
    /// register's constant: a hardware RNG read before it is clocked).
    /// [`crate::Tracer::seed`] refuses it: every device would make the same ids.
    stuck: bool,
}

impl IdGenerator<Xoshiro256PlusPlus> {
    /// Creates the default generator (Xoshiro256++) seeded from `entropy`.
    ///
    /// Entropy that gives one 32-bit word eight times over (all zero, or a register's
    /// constant) makes a generator [`crate::Tracer::seed`] refuses.
    pub fn from_entropy(entropy: &mut impl Entropy) -> Self {
        let mut seed = [0u8; 32];
        entropy.fill(&mut seed);
        Self::from_seed(seed).stuck_if(looks_stuck(&seed))
    }

    /// Creates the default generator from a 32-byte seed (an all-zero seed is replaced
    /// by a fixed non-zero one, since Xoshiro cannot leave the zero state).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::from_seed(seed),
            stuck: false,
        }
    }

    /// Creates the default generator from a 64-bit seed, expanded to Xoshiro's 256 bits
    /// with SplitMix64 (rand_xoshiro's `seed_from_u64`).
    ///
    /// For tests and for devices that store one number (a serial number plus a boot
    /// counter): 64 bits of seed is not 256 bits of entropy.
    ///
    /// ```
    /// use picotrace::IdGenerator;
    /// let mut a = IdGenerator::from_u64(42);
    /// let mut b = IdGenerator::from_u64(42);
    /// assert_eq!(a.trace_id(), b.trace_id());
    /// assert_ne!(a.trace_id(), IdGenerator::from_u64(43).trace_id());
    /// ```
    pub fn from_u64(seed: u64) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            stuck: false,
        }
    }

    /// Creates the default generator seeded from eight calls of `next`, typically a read
    /// of a hardware random-number register; the first word becomes seed bytes 0..4
    /// (little-endian), and so on. Eight equal words (a register read before its
    /// generator is clocked) make a generator [`crate::Tracer::seed`] refuses.
    ///
    /// ```
    /// use picotrace::IdGenerator;
    /// # struct Trng;
    /// # impl Trng { fn read(&mut self) -> u32 { 0x1234_5678 } }
    /// # let mut trng = Trng;
    /// let mut ids = IdGenerator::from_fn(|| trng.read());
    /// assert!(ids.span_id().is_valid());
    /// ```
    pub fn from_fn(mut next: impl FnMut() -> u32) -> Self {
        let mut seed = [0u8; 32];
        for word in seed.chunks_exact_mut(4) {
            word.copy_from_slice(&next().to_le_bytes());
        }
        Self::from_seed(seed).stuck_if(looks_stuck(&seed))
    }

    /// Creates the default generator seeded from another `rand_core` 0.9 generator (32
    /// bytes of its output), e.g. a slow hardware RNG lent for the purpose.
    ///
    /// ```
    /// use picotrace::IdGenerator;
    /// use rand_core::SeedableRng;
    /// let mut hardware = rand_xoshiro::SplitMix64::seed_from_u64(7); // stands in for a HAL RNG
    /// let mut ids = IdGenerator::from_rng(&mut hardware);
    /// assert!(ids.trace_id().is_valid());
    /// ```
    pub fn from_rng(rng: &mut impl RngCore) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self::from_seed(seed).stuck_if(looks_stuck(&seed))
    }

    const fn stuck_if(mut self, stuck: bool) -> Self {
        self.stuck = stuck;
        self
    }
}

/// Whether a 32-byte seed is one 32-bit word eight times over, or one 64-bit word four
/// times: what a stuck source gives (zero, or a register's constant), and random bytes
/// do with odds of 2^-192.
fn looks_stuck(seed: &[u8; 32]) -> bool {
    let repeats = |width: usize| seed.chunks_exact(width).all(|w| w == &seed[..width]);
    repeats(4) || repeats(8)
}

impl<R: RngCore> IdGenerator<R> {
    /// Wraps any `rand_core` 0.9 generator (e.g. a hardware RNG's driver); ids are drawn
    /// from it directly. A `&mut` to a generator is one too, so a HAL's RNG can be lent
    /// and used again afterwards. Generators of rand_core 0.6 and 0.10 go through
    /// `RandCore06` and `RandCore010`.
    ///
    /// ```
    /// use picotrace::IdGenerator;
    /// use rand_core::SeedableRng;
    /// let mut hardware = rand_xoshiro::SplitMix64::seed_from_u64(7); // stands in for a HAL RNG
    /// let mut ids = IdGenerator::with_rng(&mut hardware);
    /// assert!(ids.span_id().is_valid());
    /// ```
    ///
    /// [`crate::Tracer::seed`] draws three keys from it, and refuses a generator that
    /// gives zero or equal ones (a constant test generator is one).
    pub const fn with_rng(rng: R) -> Self {
        Self { rng, stuck: false }
    }

    /// Returns a new random, valid trace id. A generator that gives zero
    /// [`Self::ZERO_DRAWS`] times running (a hardware RNG read before it is clocked)
    /// gets its last draw with the lowest bit set: a valid id, where waiting for a
    /// non-zero one would never end.
    #[inline]
    pub fn trace_id(&mut self) -> TraceId {
        let mut bytes = [0u8; 16];
        for _ in 0..Self::ZERO_DRAWS {
            bytes[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
            bytes[8..].copy_from_slice(&self.rng.next_u64().to_be_bytes());
            let id = TraceId::from_bytes(bytes);
            if id.is_valid() {
                return id;
            }
        }
        bytes[15] |= 1;
        TraceId::from_bytes(bytes)
    }

    /// [`Self::trace_id`], and whether it is random: not the fallback of a generator
    /// stuck at zero, nor drawn from a generator seeded from stuck entropy, nor two
    /// equal halves, which a generator stuck at a constant word gives (a hardware RNG's
    /// register read before it is clocked; a real generator gives them once in 2^64
    /// ids; found by review: every root had the same id, flagged random). For the W3C
    /// random-trace-id flag.
    pub(crate) fn trace_id_and_randomness(&mut self) -> (TraceId, bool) {
        let id = self.trace_id();
        let bytes = id.to_bytes();
        // The fallback sets the lowest bit of an id that is otherwise all zero.
        let fallback = bytes[..15].iter().all(|&b| b == 0);
        let halves_equal = bytes[..8] == bytes[8..];
        (id, !self.stuck && !fallback && !halves_equal)
    }

    /// Returns a new random, valid span id; a generator stuck at zero as in
    /// [`Self::trace_id`].
    #[inline]
    pub fn span_id(&mut self) -> SpanId {
        let mut draw = 0;
        for _ in 0..Self::ZERO_DRAWS {
            draw = self.rng.next_u64();
            if draw != 0 {
                break;
            }
        }
        SpanId::from_bytes((draw | u64::from(draw == 0)).to_be_bytes())
    }

    /// How many all-zero draws an id takes before the generator is taken to be stuck.
    pub const ZERO_DRAWS: usize = 4;

    /// Returns a random 64-bit number (used by samplers that need jitter-free randomness).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// Ids for a shared tracer without a shared generator: each span's ids are a keyed
/// bijection of a number no other span of the tracer has (its slot's index and claim
/// count, or a counter for spans without a slot), so starting a span needs no lock and
/// no extra atomic operation. The keys come from an [`IdGenerator`] once.
///
/// The mix is SplitMix64's (`key + n * golden gamma`, then its finalizer, a bijection),
/// so distinct numbers give distinct ids and the output passes statistical tests as
/// SplitMix64 does; like Xoshiro it is not a cryptographic generator.
///
/// The keys live in atomics so that a tracer can be built in a `const` (a plain
/// `static` on firmware) and seeded at boot, when entropy is there: they are written by
/// [`IdKeys::seed`] before the tracer is switched on (a release store that span starts
/// acquire) and only read afterwards.
#[derive(Debug)]
pub(crate) struct IdKeys {
    trace_hi: Key,
    trace_lo: Key,
    span: Key,
}

/// One 64-bit key: a native atomic where the CPU has 64-bit atomics, two 32-bit halves
/// elsewhere (a 64-bit atomic there would cost a critical section on every read; the
/// halves are only written before the tracer is switched on, so they never tear).
#[derive(Debug)]
struct Key {
    #[cfg(target_has_atomic = "64")]
    value: portable_atomic::AtomicU64,
    #[cfg(not(target_has_atomic = "64"))]
    halves: [portable_atomic::AtomicU32; 2],
}

impl Key {
    const fn zero() -> Self {
        Self {
            #[cfg(target_has_atomic = "64")]
            value: portable_atomic::AtomicU64::new(0),
            #[cfg(not(target_has_atomic = "64"))]
            halves: [
                portable_atomic::AtomicU32::new(0),
                portable_atomic::AtomicU32::new(0),
            ],
        }
    }

    #[inline]
    fn get(&self) -> u64 {
        use portable_atomic::Ordering::Relaxed;
        #[cfg(target_has_atomic = "64")]
        return self.value.load(Relaxed);
        #[cfg(not(target_has_atomic = "64"))]
        return u64::from(self.halves[0].load(Relaxed)) << 32
            | u64::from(self.halves[1].load(Relaxed));
    }

    fn set(&self, key: u64) {
        use portable_atomic::Ordering::Relaxed;
        #[cfg(target_has_atomic = "64")]
        self.value.store(key, Relaxed);
        #[cfg(not(target_has_atomic = "64"))]
        {
            self.halves[0].store((key >> 32) as u32, Relaxed);
            self.halves[1].store(key as u32, Relaxed);
        }
    }
}

/// Where the numbers of spans without a slot start: above every `slot << 40 | claim`.
pub(crate) const UNSLOTTED: u64 = 1 << 63;

impl IdKeys {
    /// All-zero keys, until [`IdKeys::seed`].
    pub(crate) const fn unseeded() -> Self {
        Self {
            trace_hi: Key::zero(),
            trace_lo: Key::zero(),
            span: Key::zero(),
        }
    }

    /// Draws the keys from `ids`, and returns `true`; the caller publishes them (a
    /// release store) before any span reads them. A generator whose seed looked stuck,
    /// or that gives a zero or a repeated key [`IdGenerator::ZERO_DRAWS`] times running
    /// (a hardware RNG read before it is clocked), leaves the keys as they were and
    /// returns `false` (found by review: zero keys gave every device the same ids, with
    /// the random flag set).
    pub(crate) fn seed<R: RngCore>(&self, ids: &mut IdGenerator<R>) -> bool {
        if ids.stuck {
            return false;
        }
        for _ in 0..IdGenerator::<R>::ZERO_DRAWS {
            let (hi, lo, span) = (ids.next_u64(), ids.next_u64(), ids.next_u64());
            if hi != 0 && lo != 0 && span != 0 && hi != lo && lo != span && hi != span {
                self.trace_hi.set(hi);
                self.trace_lo.set(lo);
                self.span.set(span);
                return true;
            }
        }
        false
    }

    /// The number of the `generation`-th claim of slot `index`: 47 bits of the count,
    /// the low 40 below the index (bits 40..56) and the next 7 above it (bits 56..63;
    /// bit 63 is [`UNSLOTTED`]'s).
    #[inline]
    pub(crate) const fn slot_number(index: u16, generation: u64) -> u64 {
        (index as u64) << 40 | (generation & ((1 << 40) - 1)) | (generation >> 40 & 0x7f) << 56
    }

    #[inline]
    const fn mix(key: u64, n: u64) -> u64 {
        let mut z = key.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The trace id of span number `n` (valid: never all zero).
    #[inline]
    pub(crate) fn trace_id(&self, n: u64) -> TraceId {
        let hi = Self::mix(self.trace_hi.get(), n);
        let lo = Self::mix(self.trace_lo.get(), n) | u64::from(hi == 0);
        TraceId::from_u64_pair(hi, lo)
    }

    /// The span id of span number `n` (valid: never all zero).
    #[inline]
    pub(crate) fn span_id(&self, n: u64) -> SpanId {
        let id = Self::mix(self.span.get(), n);
        SpanId::from_u64(id | u64::from(id == 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generator stuck at zero (a hardware RNG read before it is clocked).
    struct Zero;

    impl rand_core::RngCore for Zero {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0);
        }
    }

    /// A generator stuck at a constant word (a register read before it is clocked).
    struct Constant(u64);

    impl rand_core::RngCore for Constant {
        fn next_u32(&mut self) -> u32 {
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for chunk in dest.chunks_mut(8) {
                chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
            }
        }
    }

    #[test]
    fn keyed_ids_are_distinct_for_distinct_numbers_and_valid() {
        let keys = IdKeys::unseeded();
        keys.seed(&mut IdGenerator::from_seed([3; 32]));
        let mut seen = std::collections::HashSet::new();
        for index in 0..64u16 {
            for generation in [
                0u64,
                1,
                2,
                63,
                1 << 32,
                (1 << 32) + 1,
                (1 << 40) - 1,
                1 << 40,
                (1 << 40) + 1,
                (1 << 47) - 1,
            ] {
                let n = IdKeys::slot_number(index, generation);
                assert!(seen.insert(keys.span_id(n)));
                assert!(keys.trace_id(n).is_valid());
            }
        }
        for c in 0..4096 {
            assert!(seen.insert(keys.span_id(UNSLOTTED | c)));
        }
        // Bits are balanced: each of the 64 span-id bits is set in about half the ids.
        let total = seen.len();
        for bit in 0..64 {
            let ones = seen
                .iter()
                .filter(|id| u64::from_be_bytes(id.to_bytes()) >> bit & 1 == 1)
                .count();
            assert!(
                ones * 100 > total * 43 && ones * 100 < total * 57,
                "bit {bit}: {ones} of {total}"
            );
        }
    }

    /// Regression (found by review): a generator stuck at zero (a hardware RNG read
    /// before its clock is on often reads 0) made `trace_id` and `span_id` loop
    /// forever; they now give a valid id after a few draws.
    #[test]
    fn a_generator_stuck_at_zero_does_not_hang() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ids = IdGenerator::with_rng(Zero);
            let _ = done.send((ids.trace_id(), ids.span_id()));
        });
        let (trace_id, span_id) = finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("ids from a generator stuck at zero");
        assert!(trace_id.is_valid() && span_id.is_valid());
    }

    /// Regression (found by review): `TraceContext::new_root` set the W3C random flag
    /// on the id a generator stuck at zero falls back to (`0…01`), and on the ids of a
    /// generator seeded from stuck entropy (the same sequence on every device): the
    /// flag says the id's right 7 bytes are random.
    #[test]
    fn new_roots_of_a_stuck_generator_are_not_flagged_random() {
        let root = crate::TraceContext::new_root(&mut IdGenerator::with_rng(Zero), true);
        assert!(root.span_context.is_valid() && root.is_sampled());
        assert!(!root.flags().is_random_trace_id(), "{root:?}");
        let mut stuck = IdGenerator::from_entropy(&mut |s: &mut [u8]| s.fill(0));
        assert!(!crate::TraceContext::new_root(&mut stuck, true)
            .flags()
            .is_random_trace_id());
        // Regression (found by review): a generator stuck at a constant word.
        let constant = crate::TraceContext::new_root(
            &mut IdGenerator::with_rng(Constant(0x1234_5678_9abc_def0)),
            true,
        );
        assert!(!constant.flags().is_random_trace_id(), "{constant:?}");
        // A working generator's roots keep the flag.
        let mut ids = IdGenerator::from_seed([7; 32]);
        assert!(crate::TraceContext::new_root(&mut ids, false)
            .flags()
            .is_random_trace_id());
    }

    /// Regression (found by review): a generator stuck at zero (or at a register's
    /// constant) gave zero keys, and every device the same ids with the random flag
    /// set; now the keys are refused, and the caller told.
    #[test]
    fn stuck_generators_are_refused_as_keys() {
        fn refused<R: RngCore>(mut ids: IdGenerator<R>) -> bool {
            let keys = IdKeys::unseeded();
            !keys.seed(&mut ids) && keys.trace_hi.get() == 0 && keys.span.get() == 0
        }
        assert!(refused(IdGenerator::with_rng(Constant(0))));
        assert!(refused(IdGenerator::with_rng(Constant(
            0x1234_5678_9abc_def0
        ))));
        assert!(refused(IdGenerator::from_fn(|| 0)));
        assert!(refused(IdGenerator::from_fn(|| 0x1234_5678)));
        assert!(refused(IdGenerator::from_entropy(
            &mut |seed: &mut [u8]| seed.fill(0)
        )));
        assert!(refused(IdGenerator::from_rng(&mut Constant(7))));
        // Working sources, and seeds the caller chose, are taken.
        let keys = IdKeys::unseeded();
        let mut counter = 0u32;
        assert!(keys.seed(&mut IdGenerator::from_fn(|| {
            counter += 1;
            counter
        })));
        assert!(keys.seed(&mut IdGenerator::from_seed([0; 32])));
        assert!(keys.seed(&mut IdGenerator::from_u64(0)));
        assert!(keys.seed(&mut IdGenerator::with_rng(
            rand_xoshiro::SplitMix64::seed_from_u64(1)
        )));
    }

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
    fn from_fn_puts_words_into_the_seed_little_endian() {
        let mut n = 0u32;
        let mut ids = IdGenerator::from_fn(|| {
            n += 1;
            0x0403_0201 * n
        });
        assert_eq!(n, 8, "eight words make the 32-byte seed");
        let mut seed = [0u8; 32];
        for (i, word) in seed.chunks_exact_mut(4).enumerate() {
            word.copy_from_slice(&(0x0403_0201 * (i as u32 + 1)).to_le_bytes());
        }
        assert_eq!(seed[..5], [1, 2, 3, 4, 2]);
        let mut expected = IdGenerator::from_seed(seed);
        assert_eq!(ids.trace_id(), expected.trace_id());
        assert_eq!(ids.span_id(), expected.span_id());
    }

    #[test]
    fn from_u64_is_splitmix_expanded_and_distinguishes_seeds() {
        let mut a = IdGenerator::from_u64(1);
        let mut b = IdGenerator::from_u64(2);
        assert_ne!(a.trace_id(), b.trace_id());
        // A zero seed is fine too: SplitMix64 never expands it to the all-zero state.
        let mut z = IdGenerator::from_u64(0);
        assert!(z.span_id().is_valid());
        assert_ne!(z.next_u64(), z.next_u64());
        // The expansion is rand_xoshiro's seed_from_u64, so it matches that exactly.
        let mut x = Xoshiro256PlusPlus::seed_from_u64(7);
        assert_eq!(IdGenerator::from_u64(7).next_u64(), x.next_u64());
    }

    #[test]
    fn from_rng_seeds_with_32_bytes_of_the_source() {
        let mut source = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut copy = source.clone();
        let mut ids = IdGenerator::from_rng(&mut source);
        let mut seed = [0u8; 32];
        copy.fill_bytes(&mut seed);
        assert_eq!(ids.trace_id(), IdGenerator::from_seed(seed).trace_id());
        // The source moved on by exactly those 32 bytes.
        assert_eq!(source.next_u64(), copy.next_u64());
    }

    #[test]
    fn with_rng_borrows_a_generator_and_draws_from_it() {
        let mut hardware = Xoshiro256PlusPlus::seed_from_u64(9);
        let mut reference = hardware.clone();
        let id = IdGenerator::with_rng(&mut hardware).span_id();
        assert_eq!(id, SpanId::from_u64(reference.next_u64()));
        // Still usable, and one draw further.
        assert_eq!(hardware.next_u64(), reference.next_u64());
    }

    #[test]
    fn entropy_closure_fills_seed() {
        let mut calls = 0;
        let pattern = |i: usize| (i as u8).wrapping_mul(37).wrapping_add(11);
        let mut entropy = |seed: &mut [u8]| {
            calls += 1;
            for (i, b) in seed.iter_mut().enumerate() {
                *b = pattern(i);
            }
        };
        let mut ids = IdGenerator::from_entropy(&mut entropy);
        assert_eq!(calls, 1);
        // The generator is seeded with what the closure wrote (found by review: only
        // the call was counted).
        let mut seeded = IdGenerator::from_seed(core::array::from_fn(pattern));
        assert_eq!(ids.span_id(), seeded.span_id());
        assert_eq!(ids.trace_id(), seeded.trace_id());
    }
}
