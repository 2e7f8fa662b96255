//! [`SeedMixer`]: folds a board's weak entropy sources into a 32-byte seed.
//!
//! Microcontrollers without a true random number generator still have sources that
//! differ between devices or boots: a factory-programmed unique id or MAC address, the
//! low bits of ADC readings (thermal noise), a free-running timer sampled after
//! something of variable duration. None is enough alone. The mixer runs each word
//! through SplitMix64's finaliser into one of four lanes, so that every input bit
//! affects the seed and a seed is never all zero.
//!
//! A unique id makes seeds differ *between* devices; noise and jitter make them differ
//! *between boots* of one device. With neither, two devices produce the same span ids
//! (the trace id usually comes from the caller's `traceparent`, so traces still differ).

use picotrace::Entropy;

/// Accumulates entropy words into a 256-bit seed.
#[derive(Clone, Debug)]
pub struct SeedMixer {
    lanes: [u64; 4],
    words: usize,
    /// The first word a caller gave, and whether a later one differed from it.
    first: Option<u32>,
    varied: bool,
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (Steele, Lea, Flood, 2014).
const fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SeedMixer {
    /// Creates a mixer with a fixed, non-zero start state.
    pub const fn new() -> Self {
        Self {
            lanes: [GOLDEN, GOLDEN << 1, GOLDEN << 2, GOLDEN << 3],
            words: 0,
            first: None,
            varied: false,
        }
    }

    /// Folds one word in.
    pub fn absorb(&mut self, word: u32) -> &mut Self {
        match self.first {
            None => self.first = Some(word),
            Some(first) => self.varied |= word != first,
        }
        self.mix(word);
        self
    }

    fn mix(&mut self, word: u32) {
        let lane = self.words % 4;
        let tweak = (self.words as u64).wrapping_mul(GOLDEN);
        self.lanes[lane] = finalise(self.lanes[lane] ^ u64::from(word) ^ tweak);
        self.words += 1;
    }

    /// Folds every word of `words` in.
    pub fn absorb_all(&mut self, words: &[u32]) -> &mut Self {
        for &w in words {
            self.absorb(w);
        }
        self
    }

    /// Returns the number of words absorbed.
    pub fn len(&self) -> usize {
        self.words
    }

    /// Returns `true` when nothing was absorbed yet.
    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    /// Returns the seed: every lane mixed with every other once more.
    pub fn seed(&self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        let all = self.lanes.iter().fold(0u64, |acc, &l| acc ^ l);
        for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
            let v = finalise(self.lanes[i] ^ all.rotate_left(i as u32 * 16) ^ GOLDEN);
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        seed
    }
}

impl Default for SeedMixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Entropy for SeedMixer {
    /// Fills `seed`; each call gives new bytes (found by review: two calls gave the
    /// same, so re-seeding a tracer from the same mixer drew the same keys), as the
    /// mixer absorbs a marker word after each fill.
    ///
    /// A mixer that has not been given two different words (none, one, or one over and
    /// over: a source stuck at a constant) fills zeros: `Tracer::seed` refuses those, where the mix of nothing looked random
    /// and every device made the same ids, flagged random (found by review). Words
    /// that vary but come from no per-device or per-boot source (chip ids alone) are not
    /// caught: see the module docs.
    fn fill(&mut self, seed: &mut [u8]) {
        if !self.varied {
            seed.fill(0);
            return;
        }
        let mine = self.seed();
        for (i, b) in seed.iter_mut().enumerate() {
            *b = mine[i % mine.len()] ^ (i / mine.len()) as u8;
        }
        self.mix(FILLED);
    }
}

/// The word absorbed after each fill (any constant: `absorb` tweaks it by position).
const FILLED: u32 = 0x5eed_f111;

/// Whether raw words from a hardware source look like noise rather than a stuck
/// source: at least two, not all the same, and between a quarter and three quarters
/// of their bits set. A cheap check of a source read at boot (a ring oscillator that
/// stopped, an RNG whose noise source is off), made before the words are mixed: a
/// [`SeedMixer`]'s seed looks random whatever goes in, so `Tracer::seed`'s own check
/// cannot see through it. Not a test of randomness.
pub fn looks_random(words: &[u32]) -> bool {
    let bits = words.len() as u64 * 32;
    let ones: u64 = words.iter().map(|w| u64::from(w.count_ones())).sum();
    let varied = words.windows(2).any(|pair| pair[0] != pair[1]);
    varied && ones * 4 >= bits && ones * 4 <= bits * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_sources_do_not_look_random() {
        assert!(!looks_random(&[]));
        assert!(!looks_random(&[0x1234_5678]));
        assert!(!looks_random(&[0; 32]));
        assert!(!looks_random(&[u32::MAX; 32]));
        // One word again and again, however random it looks.
        assert!(!looks_random(&[0x9e37_79b9; 8]));
        // A source stuck low but for a bit now and then: 1 of 32 bits set.
        let mostly_low: [u32; 32] = core::array::from_fn(|i| 1 << i);
        assert!(!looks_random(&mostly_low));
        // Noise: SplitMix64 output.
        let mut state = 7u64;
        let noise: [u32; 32] = core::array::from_fn(|_| {
            state = state.wrapping_add(GOLDEN);
            finalise(state) as u32
        });
        assert!(looks_random(&noise));
    }

    /// Regression (found by review): the mix of nothing, or of one word repeated, looked
    /// random, so `Tracer::seed`'s check for stuck entropy passed it, and every device
    /// made the same ids.
    #[test]
    fn a_mixer_of_nothing_or_one_word_is_refused() {
        use picotrace::{IdGenerator, NoClock, NoopExporter, SpanArena, Tracer, TracerConfig};
        let refused = |words: &[u32]| {
            let mut mixer = SeedMixer::new();
            mixer.absorb_all(words);
            let tracer = Tracer::unseeded(
                TracerConfig::new("t"),
                SpanArena::<1>::new(),
                NoClock,
                NoopExporter,
            );
            !tracer.seed(IdGenerator::from_entropy(&mut mixer))
        };
        assert!(refused(&[]));
        assert!(refused(&[0xffff_ffff; 12]));
        assert!(!refused(&[0x1234_5678, 0x9abc_def0]));
    }

    #[test]
    fn each_fill_draws_new_bytes() {
        let mut mixer = SeedMixer::new();
        mixer.absorb(7).absorb(8);
        let (mut first, mut second) = ([0u8; 32], [0u8; 32]);
        mixer.fill(&mut first);
        mixer.fill(&mut second);
        assert_ne!(first, second);
    }
}
