//! A small deterministic generator (xorshift64*): no dependency, and a seed
//! replays the schedule it picks.

use std::time::Duration;

pub(crate) struct Rng(u64);

impl Rng {
    /// The seed `LIVE_RESOURCE_FAULT_SEED` names (decimal, or hexadecimal
    /// with `0x`), or `default`: a failing run prints its seed, and the
    /// variable replays it.
    pub(crate) fn seed_from_env(default: u64) -> u64 {
        let Ok(text) = std::env::var("LIVE_RESOURCE_FAULT_SEED") else {
            return default;
        };
        let text = text.trim();
        let parsed = match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => text.parse(),
        };
        parsed.unwrap_or_else(|error| panic!("LIVE_RESOURCE_FAULT_SEED={text}: {error}"))
    }

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
