//! Generators of other `rand_core` generations as `rand_core` 0.9 ones, so that a HAL's
//! RNG seeds [`IdGenerator`](super::IdGenerator) whichever generation the HAL implements.
//!
//! picotrace takes `rand_core` 0.9 (see the crate README). HALs move between generations
//! at their own pace, and the traits of two generations are different traits to the
//! compiler, so a 0.6 `RngCore` is not a 0.9 `RngCore` even where the methods match.
//! Each wrapper here is a newtype that forwards every method to the same method of the
//! wrapped generator: the words and bytes it returns are exactly the wrapped
//! generator's.
//!
//! | wrapper | feature | wraps |
//! | --- | --- | --- |
//! | [`RandCore06`] | `rand-core-06` | any `rand_core` 0.6 `RngCore` |
//! | [`RandCore010`] | `rand-core-010` | any `rand_core` 0.10 `Rng` (0.10's name for `RngCore`) |
//!
//! `CryptoRng` carries over where the wrapped generator has it.
//!
//! Which generation does a HAL implement? Its `Cargo.toml` names the `rand_core` it
//! depends on (`cargo tree -i rand_core` lists them all): nrf52840-hal 0.19 and
//! rp2040-hal 0.12 implement 0.9 (no wrapper needed), esp-hal 1.2 implements 0.6, 0.9 and
//! 0.10.

#[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
use rand_core::{CryptoRng, RngCore};

/// Forwards the three `RngCore` methods and `CryptoRng` from the wrapped generator's
/// generation of the traits to rand_core 0.9's.
#[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
macro_rules! forward_rng {
    ($wrapper:ident, $rng:path, $crypto:path) => {
        impl<R> $wrapper<R> {
            /// Wraps `rng`.
            pub const fn new(rng: R) -> Self {
                Self(rng)
            }

            /// Returns the wrapped generator.
            pub fn into_inner(self) -> R {
                self.0
            }
        }

        impl<R: $rng> RngCore for $wrapper<R> {
            #[inline]
            fn next_u32(&mut self) -> u32 {
                <R as $rng>::next_u32(&mut self.0)
            }

            #[inline]
            fn next_u64(&mut self) -> u64 {
                <R as $rng>::next_u64(&mut self.0)
            }

            #[inline]
            fn fill_bytes(&mut self, dst: &mut [u8]) {
                <R as $rng>::fill_bytes(&mut self.0, dst)
            }
        }

        impl<R: $rng + $crypto> CryptoRng for $wrapper<R> {}
    };
}

/// A `rand_core` 0.6 generator as a `rand_core` 0.9 one (feature `rand-core-06`).
///
/// For a HAL whose RNG implements `rand_core` 0.6 `RngCore`: wrap it (or a `&mut` to
/// it, which 0.6 also makes a generator) and hand it to
/// [`IdGenerator::with_rng`](super::IdGenerator::with_rng) or
/// [`IdGenerator::from_rng`](super::IdGenerator::from_rng).
///
/// ```
/// use picotrace::random::RandCore06;
/// use picotrace::IdGenerator;
/// # use rand_core_06 as rand_core;
/// # struct HalRng(u32);
/// # impl rand_core::RngCore for HalRng {
/// #     fn next_u32(&mut self) -> u32 { self.0 += 1; self.0 }
/// #     fn next_u64(&mut self) -> u64 { rand_core::impls::next_u64_via_u32(self) }
/// #     fn fill_bytes(&mut self, dest: &mut [u8]) { rand_core::impls::fill_bytes_via_next(self, dest) }
/// #     fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
/// #         self.fill_bytes(dest);
/// #         Ok(())
/// #     }
/// # }
/// # let mut hal_rng = HalRng(0);
/// // `hal_rng` implements rand_core 0.6 `RngCore`.
/// let mut ids = IdGenerator::with_rng(RandCore06(&mut hal_rng));
/// assert!(ids.trace_id().is_valid());
/// ```
#[cfg(feature = "rand-core-06")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RandCore06<R>(pub R);

#[cfg(feature = "rand-core-06")]
forward_rng!(RandCore06, rand_core_06::RngCore, rand_core_06::CryptoRng);

/// A `rand_core` 0.10 generator (`Rng`, 0.10's name for `RngCore`) as a `rand_core` 0.9
/// one (feature `rand-core-010`).
///
/// ```
/// use picotrace::random::RandCore010;
/// use picotrace::IdGenerator;
/// # use rand_core_010 as rand_core;
/// # struct HalRng(u32);
/// # impl rand_core::TryRng for HalRng {
/// #     type Error = core::convert::Infallible;
/// #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
/// #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { self.0 += 1; Ok(self.0.into()) }
/// #     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> { dst.fill(7); Ok(()) }
/// # }
/// # let mut hal_rng = HalRng(0);
/// // `hal_rng` implements rand_core 0.10 `Rng`.
/// let mut ids = IdGenerator::with_rng(RandCore010(&mut hal_rng));
/// assert!(ids.span_id().is_valid());
/// ```
#[cfg(feature = "rand-core-010")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RandCore010<R>(pub R);

#[cfg(feature = "rand-core-010")]
forward_rng!(RandCore010, rand_core_010::Rng, rand_core_010::CryptoRng);

#[cfg(test)]
mod tests {
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    use crate::random::IdGenerator;
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    use crate::{SpanId, TraceId};
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    use rand_core::{RngCore, SeedableRng};

    // Every method of a wrapper must reach the same method of the wrapped generator. The
    // `Marked` generators below give different, recognisable output per method
    // (`next_u32`: 0x3232_xxxx, `next_u64`: 0x6464_6464_xxxx_xxxx, `fill_bytes`: 0xf1
    // bytes, numbered by call), so the output shows which method ran.
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    const U32: u32 = 0x3232_0000;
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    const U64: u64 = 0x6464_6464_0000_0000;
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    const FILL: u8 = 0xf1;

    /// Checks a wrapped, fresh `Marked`: call 1 is `next_u32`, 2 `next_u64`, 3 `fill_bytes`.
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    fn assert_each_method_forwarded(rng: &mut impl RngCore) {
        assert_eq!(rng.next_u32(), U32 + 1);
        assert_eq!(rng.next_u64(), U64 + 2);
        let mut buf = [0xa5u8; 5];
        rng.fill_bytes(&mut buf);
        assert_eq!(buf, [FILL; 5]);
        // rand_core 0.9's try_fill_bytes comes from fill_bytes (infallible).
        let mut buf = [0xa5u8; 3];
        rand_core::TryRngCore::try_fill_bytes(rng, &mut buf).unwrap();
        assert_eq!(buf, [FILL; 3]);
    }

    /// Checks that ids drawn through a wrapped, fresh `Marked` are its `next_u64` words.
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    fn assert_ids_are_the_words(rng: impl RngCore) {
        let mut ids = IdGenerator::with_rng(rng);
        assert_eq!(ids.span_id(), SpanId::from_u64(U64 + 1));
        assert_eq!(ids.trace_id(), TraceId::from_u64_pair(U64 + 2, U64 + 3));
    }

    /// Checks that two generators give the same ids, bytes and words.
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    fn assert_same_stream(mut a: impl RngCore, mut b: impl RngCore) {
        let (mut x, mut y) = ([0u8; 37], [0u8; 37]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        assert_eq!(x, y);
        assert_eq!(a.next_u32(), b.next_u32());
        let (mut a, mut b) = (IdGenerator::with_rng(a), IdGenerator::with_rng(b));
        for _ in 0..8 {
            assert_eq!(a.trace_id(), b.trace_id());
            assert_eq!(a.span_id(), b.span_id());
        }
    }

    /// Xoshiro256++ of rand_xoshiro 0.7 (rand_core 0.9), the reference stream.
    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    fn reference() -> rand_xoshiro::Xoshiro256PlusPlus {
        rand_xoshiro::Xoshiro256PlusPlus::from_seed(SEED)
    }

    #[cfg(any(feature = "rand-core-06", feature = "rand-core-010"))]
    const SEED: [u8; 32] = [
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
        0x36, 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
        0x07, 0x08,
    ];

    #[cfg(feature = "rand-core-06")]
    mod v06 {
        use super::*;
        use crate::random::RandCore06;
        use rand_core_06 as r06;
        use rand_core_06::SeedableRng as _;

        #[derive(Default)]
        struct Marked {
            calls: u32,
        }

        impl r06::RngCore for Marked {
            fn next_u32(&mut self) -> u32 {
                self.calls += 1;
                U32 + self.calls
            }
            fn next_u64(&mut self) -> u64 {
                self.calls += 1;
                U64 + u64::from(self.calls)
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                self.calls += 1;
                dest.fill(FILL);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), r06::Error> {
                // Never reached through the wrapper: a different mark shows it if it were.
                dest.fill(0xee);
                Ok(())
            }
        }

        impl r06::CryptoRng for Marked {}

        fn assert_crypto<R: rand_core::CryptoRng>(_: &R) {}

        #[test]
        fn rand_core_06_methods_reach_the_same_methods_of_the_wrapped_generator() {
            let mut rng = RandCore06(Marked::default());
            assert_crypto(&rng);
            assert_each_method_forwarded(&mut rng);
            assert_eq!(rng.into_inner().calls, 4);
        }

        #[test]
        fn ids_from_a_borrowed_rand_core_06_generator_are_its_words() {
            let mut marked = Marked::default();
            assert_ids_are_the_words(RandCore06(&mut marked));
            assert_eq!(marked.calls, 3, "the borrowed generator advanced");
        }

        #[test]
        fn xoshiro_of_rand_core_06_through_the_wrapper_equals_rand_core_09s() {
            let old = rand_xoshiro_06::Xoshiro256PlusPlus::from_seed(SEED);
            assert_same_stream(RandCore06(old), reference());
        }

        #[test]
        fn from_rng_seeds_from_a_rand_core_06_generator() {
            let mut old = RandCore06(rand_xoshiro_06::Xoshiro256PlusPlus::from_seed(SEED));
            let mut seed = [0u8; 32];
            reference().fill_bytes(&mut seed);
            assert_eq!(
                IdGenerator::from_rng(&mut old).trace_id(),
                IdGenerator::from_seed(seed).trace_id()
            );
        }
    }

    #[cfg(feature = "rand-core-010")]
    mod v010 {
        use super::*;
        use crate::random::RandCore010;
        use core::convert::Infallible;
        use rand_core_010 as r010;
        use rand_core_010::SeedableRng as _;

        #[derive(Default)]
        struct Marked {
            calls: u32,
        }

        impl r010::TryRng for Marked {
            type Error = Infallible;
            fn try_next_u32(&mut self) -> Result<u32, Infallible> {
                self.calls += 1;
                Ok(U32 + self.calls)
            }
            fn try_next_u64(&mut self) -> Result<u64, Infallible> {
                self.calls += 1;
                Ok(U64 + u64::from(self.calls))
            }
            fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
                self.calls += 1;
                dst.fill(FILL);
                Ok(())
            }
        }

        impl r010::TryCryptoRng for Marked {}

        fn assert_crypto<R: rand_core::CryptoRng>(_: &R) {}

        #[test]
        fn rand_core_010_methods_reach_the_same_methods_of_the_wrapped_generator() {
            let mut rng = RandCore010(Marked::default());
            assert_crypto(&rng);
            assert_each_method_forwarded(&mut rng);
            assert_eq!(rng.into_inner().calls, 4);
        }

        #[test]
        fn ids_from_a_borrowed_rand_core_010_generator_are_its_words() {
            let mut marked = Marked::default();
            assert_ids_are_the_words(RandCore010(&mut marked));
            assert_eq!(marked.calls, 3, "the borrowed generator advanced");
        }

        #[test]
        fn xoshiro_of_rand_core_010_through_the_wrapper_equals_rand_core_09s() {
            let new = rand_xoshiro_08::Xoshiro256PlusPlus::from_seed(SEED);
            assert_same_stream(RandCore010(new), reference());
        }
    }
}
