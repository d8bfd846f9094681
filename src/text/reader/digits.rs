//! [`Digits`]: a number's digits gathered as one integer while they are read,
//! so that a short decimal becomes the nearest `f64` by one exact operation.

/// A number's digits as one integer, and the power of ten it is scaled by.
#[derive(Default)]
pub(super) struct Digits {
    pub(super) value: u64,
    /// How many digits `value` holds, leading zeros aside.
    count: u32,
    pub(super) scale: i64,
    /// Whether digits past the 19 a `u64` surely holds were dropped.
    pub(super) lost: bool,
}

impl Digits {
    /// Adds a digit; `scale` is -1 for a digit after the point, else 0.
    #[inline(always)]
    pub(super) fn push(&mut self, byte: u8, scale: i64) {
        if self.count < 19 {
            self.value = self.value * 10 + u64::from(byte - b'0');
            self.count += u32::from(self.value != 0);
            self.scale += scale;
        } else {
            // Dropped: it scales the kept digits up instead, unless it is
            // after the point, where it is simply gone.
            self.lost = true;
            self.scale += 1 + scale;
        }
    }

    /// The magnitude as the nearest `f64`, when that takes one exact
    /// operation: the digits fit the 53 bits of an `f64`, and the power of
    /// ten is one an `f64` holds exactly, so a single multiplication or
    /// division rounds once, correctly (Clinger's fast path).
    pub(super) fn exact(&self) -> Option<f64> {
        const POWERS: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        if self.lost || self.value > 1 << 53 {
            return None;
        }
        let mantissa = self.value as f64;
        let power = *POWERS.get(usize::try_from(self.scale.unsigned_abs()).ok()?)?;
        Some(if self.scale < 0 {
            mantissa / power
        } else {
            mantissa * power
        })
    }
}
