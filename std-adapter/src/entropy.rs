//! [`OsEntropy`]: seeds id generators from the operating system's random source.
//!
//! Ids need to be unique, not secret: the generator is Xoshiro256++ (see
//! [`picotrace::random`]), seeded once per tracer from `getrandom`. Should the OS source
//! fail (a sandbox without `getrandom(2)`), the seed falls back to a hash of the time,
//! the process and thread, addresses that ASLR moves and a counter, never to a
//! constant; the first time, a warning on stderr says so ([`os_entropy_failed`] tells
//! too): such ids are unique, but someone who knows the time and the binary could
//! guess them.
//!
//! A seeded tracer copied by `fork` keeps its keys and counters in the child, which then
//! makes the same ids as its parent: build (or install) the provider in the process
//! that traces, after any `fork`.
//!
//! ```
//! let mut ids = picotrace_std::id_generator();
//! assert_ne!(ids.trace_id(), ids.trace_id());
//! ```

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use picotrace::{Entropy, IdGenerator};

/// Entropy from the operating system (`getrandom`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

/// Set once the OS source has failed in this process.
static FELL_BACK: AtomicBool = AtomicBool::new(false);

/// Returns `true` once the OS random source has failed in this process and seeds have
/// come from the fallback (see the module docs).
pub fn os_entropy_failed() -> bool {
    FELL_BACK.load(Ordering::Relaxed)
}

impl Entropy for OsEntropy {
    fn fill(&mut self, seed: &mut [u8]) {
        #[cfg(test)]
        let os = if tests::FAIL_OS.with(std::cell::Cell::get) {
            Err(getrandom::Error::UNSUPPORTED)
        } else {
            getrandom::fill(seed)
        };
        #[cfg(not(test))]
        let os = getrandom::fill(seed);
        if let Err(e) = os {
            // Said once (found by review: the fallback was silent).
            // Not `eprintln!`, which panics when stderr cannot be written.
            if !FELL_BACK.swap(true, Ordering::Relaxed) {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "picotrace: the OS random source failed ({e}); ids are seeded from a \
                     hash of the time, the process and addresses: unique, not unguessable"
                );
            }
            fallback_fill(seed);
        }
    }
}

/// Fills `seed` without the OS source: a hash of the time, the process and thread ids,
/// addresses that ASLR moves (a stack slot, a static, this function) and a counter. Not
/// std's randomly keyed `RandomState`: its keys come from the same OS source, and it
/// panics when that fails, the very case this is for.
fn fallback_fill(seed: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for chunk in seed.chunks_mut(8) {
        let mut h = DefaultHasher::new();
        nanos.hash(&mut h);
        COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut h);
        std::process::id().hash(&mut h);
        std::thread::current().id().hash(&mut h);
        (std::ptr::from_ref(&nanos) as usize).hash(&mut h);
        (std::ptr::from_ref(&COUNTER) as usize).hash(&mut h);
        (fallback_fill as fn(&mut [u8]) as usize).hash(&mut h);
        let bytes = h.finish().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// Returns the default id generator seeded from [`OsEntropy`].
pub fn id_generator() -> IdGenerator {
    IdGenerator::from_entropy(&mut OsEntropy)
}

/// Returns a random `u64` from the OS (or the fallback), e.g. to seed jitter.
pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    OsEntropy.fill(&mut b);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    std::thread_local! {
        /// Makes the OS source fail on this thread.
        pub(super) static FAIL_OS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Regression (found by review): a failing OS source fell back to the hash
    /// silently.
    #[test]
    fn a_failing_os_source_is_reported() {
        FAIL_OS.with(|f| f.set(true));
        let mut buf = [0u8; 16];
        OsEntropy.fill(&mut buf);
        FAIL_OS.with(|f| f.set(false));
        assert!(os_entropy_failed());
        assert_ne!(buf, [0; 16], "filled by the fallback");
    }

    /// Every byte is written, an odd tail too (found by review: the buffers were only
    /// compared whole, which unwritten tail bytes would pass): of four fills of `N`
    /// bytes, each position differs somewhere (all four equal by chance: about 6e-8 a
    /// position).
    fn every_byte_varies<const N: usize>(fill: impl Fn(&mut [u8])) {
        let fills: Vec<[u8; N]> = (0..4)
            .map(|_| {
                let mut buf = [0u8; N];
                fill(&mut buf);
                buf
            })
            .collect();
        for i in 0..N {
            assert!(
                fills.iter().any(|f| f[i] != fills[0][i]),
                "byte {i} the same in every fill: {fills:?}"
            );
        }
    }

    #[test]
    fn fills_every_byte_differently_each_time() {
        every_byte_varies::<33>(|buf| OsEntropy.fill(buf));
    }

    #[test]
    fn fallback_differs_per_call_and_covers_odd_lengths() {
        every_byte_varies::<13>(fallback_fill);
    }

    #[test]
    fn generators_from_os_entropy_differ() {
        assert_ne!(id_generator().trace_id(), id_generator().trace_id());
    }
}
