//! The common number read in one tight pass: up to 19 digits, with or
//! without a fraction, and no exponent (a price, a count, a timestamp).
//! Anything else is left to the general reader, which also says what is
//! wrong with a malformed number.

use serde_json::Number;

/// Powers of ten an `f64` holds exactly.
const EXACT_POWERS: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// The number at the start of `bytes`, read as `serde_json` reads it, and
/// its length; `None` when it is not the common form, or not sure to be
/// read exactly (a decimal whose digits pass the 53 bits of an `f64`).
///
/// Digits up to 19 fit a `u64`, so they are gathered with no check of
/// overflow; a decimal then is its digits over a power of ten, both exact
/// in an `f64`, and one division rounds correctly (Clinger's fast path).
#[inline(always)]
pub(super) fn short_number(bytes: &[u8]) -> Option<(Number, usize)> {
    let negative = bytes.first() == Some(&b'-');
    let int_start = usize::from(negative);
    let (mut value, int_end) = digit_run(bytes, int_start, 0);
    let int_digits = int_end - int_start;
    // One or more digits, with no leading zero.
    if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
        return None;
    }
    let mut end = int_end;
    if bytes.get(end) == Some(&b'.') {
        let fraction_start = end + 1;
        (value, end) = digit_run(bytes, fraction_start, value);
        if end == fraction_start {
            return None;
        }
    }
    let digits = end - int_start - usize::from(end > int_end);
    if digits > 19 || matches!(bytes.get(end), Some(b'e' | b'E')) {
        return None;
    }
    let number = if end == int_end {
        integer(value, negative)?
    } else {
        let fraction_digits = end - int_end - 1;
        if value > 1 << 53 {
            return None;
        }
        let magnitude = value as f64 / EXACT_POWERS[fraction_digits];
        Number::from_f64(if negative { -magnitude } else { magnitude })?
    };
    Some((number, end))
}

/// An integer as `serde_json` reads it: a `u64`, or an `i64` below zero;
/// `-0` is a float. `None` for a magnitude past `i64`'s below zero.
fn integer(magnitude: u64, negative: bool) -> Option<Number> {
    if !negative {
        return Some(Number::from(magnitude));
    }
    if magnitude == 0 {
        return Number::from_f64(-0.0);
    }
    let value = 0i64.checked_sub_unsigned(magnitude)?;
    Some(Number::from(value))
}

/// The digits from `at` on, gathered onto `value` (wrapping past a `u64`,
/// which the caller refuses by their count): the value and where the
/// digits end.
///
/// One at a time for the first eight, which most numbers never pass; a
/// longer run (a timestamp) goes on eight at a time.
#[inline(always)]
fn digit_run(bytes: &[u8], start: usize, mut value: u64) -> (u64, usize) {
    let mut at = start;
    while let Some(digit) = bytes.get(at).map(|byte| byte.wrapping_sub(b'0')) {
        if digit > 9 {
            return (value, at);
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        at += 1;
        if at - start == 8 {
            return eight_at_a_time(bytes, at, value);
        }
    }
    (value, at)
}

/// [`digit_run`] past its first eight digits.
#[inline(never)]
fn eight_at_a_time(bytes: &[u8], mut at: usize, mut value: u64) -> (u64, usize) {
    while let Some(eight) = bytes.get(at..at + 8) {
        let chunk = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
        let Some(digits) = eight_digits(chunk) else {
            break;
        };
        value = value.wrapping_mul(100_000_000).wrapping_add(digits);
        at += 8;
    }
    while let Some(digit) = bytes.get(at).map(|byte| byte.wrapping_sub(b'0')) {
        if digit > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        at += 1;
    }
    (value, at)
}

/// The value of eight ASCII digits read as a little-endian word (the first
/// digit in the lowest byte), or `None` if any byte is not a digit.
#[inline]
fn eight_digits(chunk: u64) -> Option<u64> {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    // A byte is a digit when it is 0x3_ and still is with 6 added (0x3A..
    // become 0x4_). A byte carrying into the next is past 0xF9, and fails
    // the first test, so a chunk that passes both is all digits.
    let all_digits = chunk & HIGH_NIBBLES == ZEROS
        && chunk.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES == ZEROS;
    if !all_digits {
        return None;
    }
    // Pairs of digits into bytes, pairs of those into 16-bit lanes, then
    // those into one: each step multiplies the earlier (lower) lane up and
    // adds the later one, with no carry between lanes.
    let digits = chunk - ZEROS;
    let pairs = (digits * 10 + (digits >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_digits_read_every_digit_in_every_place() {
        for text in ["00000000", "12345678", "99999999", "10000001", "09876543"] {
            let chunk = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            assert_eq!(eight_digits(chunk), text.parse().ok(), "{text}");
        }
        for lane in 0..8 {
            for byte in 0..=255u8 {
                let mut bytes = *b"31415926";
                bytes[lane] = byte;
                let expected = std::str::from_utf8(&bytes)
                    .ok()
                    .filter(|text| text.bytes().all(|byte| byte.is_ascii_digit()))
                    .map(|text| text.parse::<u64>().unwrap());
                let chunk = u64::from_le_bytes(bytes);
                assert_eq!(eight_digits(chunk), expected, "{byte} at {lane}");
            }
        }
    }

    #[test]
    fn short_numbers_read_as_serde_json_reads_them() {
        if crate::text::arbitrary_precision() {
            // Numbers are then left to `serde_json`, which keeps their text.
            return;
        }
        for text in [
            "0",
            "-0",
            "7",
            "1.23",
            "-0.42",
            "1234567",
            "1718000000123456",
            "9999999999999999999",
            "-9223372036854775808",
            "0.000001",
            "-0.0",
            "123456789.0123456789",
            "4.56,",
            "190.25}",
            "9007199254740993.5",
        ] {
            let token = text.trim_end_matches([',', '}']);
            let expected: Number = serde_json::from_str(token).unwrap();
            if let Some((number, len)) = short_number(text.as_bytes()) {
                assert_eq!(len, token.len(), "{text}");
                assert_eq!(number, expected, "{text}");
                assert_eq!(number.is_f64(), expected.is_f64(), "{text}");
            }
        }
        // Read here, not left to the general reader.
        for text in ["1.23", "-0.42", "1718000000123456", "-0", "0.5"] {
            assert!(short_number(text.as_bytes()).is_some(), "{text}");
        }
    }

    #[test]
    fn digit_runs_of_every_length_are_read_whole() {
        for len in 0..=40 {
            let digits: String = (0..len).map(|i| char::from(b'1' + (i % 9) as u8)).collect();
            for tail in ["", ",", "}", ".5", "x"] {
                let text = format!("{digits}{tail}");
                let (value, end) = digit_run(text.as_bytes(), 0, 0);
                assert_eq!(end, len, "{text}");
                if len <= 19 {
                    assert_eq!(value, digits.parse::<u64>().unwrap_or(0), "{text}");
                }
            }
        }
    }

    #[test]
    fn anything_else_is_left_to_the_general_reader() {
        for text in [
            "",
            "-",
            "01",
            "1.",
            "-.5",
            "1e3",
            "2.5E-1",
            "12345678901234567890",
            "-9223372036854775809",
            "9007199254740993.5",
            "x",
        ] {
            assert!(short_number(text.as_bytes()).is_none(), "{text}");
        }
    }
}
