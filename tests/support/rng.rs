//! A small deterministic generator (xorshift64*): no dependency, and a seed
//! replays the schedule it picks.

use std::time::Duration;

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        Self(seed | 1)
    }

    /// A number in `[0, n)`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    /// A duration in `[low, high)` milliseconds.
    pub(crate) fn millis(&mut self, (low, high): (u64, u64)) -> Duration {
        Duration::from_millis(low + self.below(high - low))
    }
}
