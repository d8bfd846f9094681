//! How long a value is as compact JSON, counted without writing the text.

use serde::Serialize;
use serde_json::Value;

// How deep `depth_and_bound` recurses before it gives up: as deep as
// `Tree::depth` does, so that a value past it has its depth found without
// recursion and checked before it is counted (by a recursion as deep as the
// limits allow).
use super::tree::SHALLOW;

/// The most bytes a `f64` takes as JSON: a sign, seventeen digits, a point
/// and an exponent of three digits with its sign (`-2.2250738585072014e-308`).
const LONGEST_FLOAT: usize = 24;

/// At least the length of `value` as compact JSON, in bytes: exact but for
/// a decimal number, counted as the longest a `f64` can be written.
///
/// What a change may add to a state is bounded by this on every update; it
/// costs a walk of the value, not the formatting of its numbers, which was
/// most of what counting the text exactly cost.
pub(crate) fn bound(value: &Value) -> usize {
    depth_and_bound(value).map_or_else(|| encoded_len(value), |(_, bound)| bound)
}

/// How deep `value` nests (a scalar is 0, `{}` and `[]` are 1, as
/// [`Tree::depth`](super::tree::Tree::depth) counts) and its [`bound`],
/// found in one walk; `None` when it nests deeper than the walk recurses
/// ([`SHALLOW`] levels), to be measured without recursion.
///
/// Every in-memory patch a replica applies is checked for both: one walk
/// where two cost a sixth of a table's row change.
pub(crate) fn depth_and_bound(value: &Value) -> Option<(usize, usize)> {
    shallow(value, SHALLOW)
}

fn shallow(value: &Value, room: usize) -> Option<(usize, usize)> {
    let scalar = |len| Some((0, len));
    match value {
        Value::Null => scalar(4),
        Value::Bool(true) => scalar(4),
        Value::Bool(false) => scalar(5),
        Value::Number(number) => scalar(number_bound(number)),
        Value::String(text) => scalar(string_len(text)),
        Value::Array(items) => {
            let room = room.checked_sub(1)?;
            let mut deepest = 0;
            let mut len = 2 + items.len().saturating_sub(1);
            for item in items {
                let (depth, item_len) = shallow(item, room)?;
                deepest = deepest.max(depth);
                len += item_len;
            }
            Some((deepest + 1, len))
        }
        Value::Object(members) => {
            let room = room.checked_sub(1)?;
            let mut deepest = 0;
            // Braces, and a comma between members and a colon in each.
            let mut len = 2 + members.len().saturating_sub(1) + members.len();
            for (key, member) in members {
                let (depth, member_len) = shallow(member, room)?;
                deepest = deepest.max(depth);
                len += string_len(key) + member_len;
            }
            Some((deepest + 1, len))
        }
    }
}

/// An integer's exact length, a decimal's longest (or, kept as its text,
/// its text's length).
fn number_bound(number: &serde_json::Number) -> usize {
    let digits = |n: u64| n.checked_ilog10().map_or(1, |log| log as usize + 1);
    if let Some(n) = number.as_u64() {
        digits(n)
    } else if let Some(n) = number.as_i64() {
        1 + digits(n.unsigned_abs())
    } else if crate::text::arbitrary_precision() {
        // `serde_json` keeps the number's text, which may be longer than
        // any `f64`'s.
        number.to_string().len()
    } else {
        LONGEST_FLOAT
    }
}

/// The exact length of `text` as a JSON string, as `serde_json` escapes it:
/// quotes, two bytes for `"`, `\\` and the five control characters with a
/// short escape, six for the other control characters.
///
/// Eight bytes are looked at a time, and only a word that holds a byte to
/// escape byte by byte: most text has none, and a loop over every byte cost
/// more than writing the text.
fn string_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut words = bytes.chunks_exact(8);
    let mut escapes = 0;
    for word in &mut words {
        let word: [u8; 8] = word.try_into().expect("eight bytes");
        if may_escape(word) {
            escapes += word
                .iter()
                .map(|&byte| usize::from(ESCAPE[usize::from(byte)]))
                .sum::<usize>();
        }
    }
    for &byte in words.remainder() {
        escapes += usize::from(ESCAPE[usize::from(byte)]);
    }
    2 + bytes.len() + escapes
}

/// The bytes each byte's escape adds.
const ESCAPE: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = 5;
        byte += 1;
    }
    let short = [b'"', b'\\', b'\x08', b'\t', b'\n', b'\x0c', b'\r'];
    let mut at = 0;
    while at < short.len() {
        table[short[at] as usize] = 1;
        at += 1;
    }
    table
};

/// Whether `word` may hold a byte to escape (a control character, `"` or
/// `\\`); never false when it does.
fn may_escape(word: [u8; 8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let bits = u64::from_ne_bytes(word);
    // A byte's high bit is set where it is below `n`, and perhaps past such
    // a byte where it is not: a false alarm only costs a look at each byte.
    let below = |bits: u64, n: u8| bits.wrapping_sub(ONES * u64::from(n)) & !bits & HIGH;
    let control = below(bits, 0x20);
    let quote = below(bits ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(bits ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

/// The length of `value` as compact JSON, counted without building the text.
pub(crate) fn encoded_len(value: &impl Serialize) -> usize {
    encoded_len_below(value, usize::MAX).expect("JSON values always serialize")
}

/// The length of `value` as compact JSON if it is below `limit`; the count
/// stops as soon as it reaches `limit`.
pub(crate) fn encoded_len_below(value: &impl Serialize, limit: usize) -> Option<usize> {
    struct Counter {
        count: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.count += buf.len();
            if self.count >= self.limit {
                return Err(std::io::ErrorKind::FileTooLarge.into());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { count: 0, limit };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.count)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x1f\"\\\\a\u{e9}]{0,6}".prop_map(Value::String),
        ];
        crate::testing::json(leaf, any::<String>(), 4, 4)
    }

    /// How many decimal numbers `value` holds.
    fn decimals(value: &Value) -> usize {
        match value {
            Value::Number(number) => usize::from(number.is_f64()),
            Value::Array(items) => items.iter().map(decimals).sum(),
            Value::Object(members) => members.values().map(decimals).sum(),
            _ => 0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn the_bound_is_the_length_but_for_decimals(value in value()) {
            let len = encoded_len(&value);
            let bound = bound(&value);
            prop_assert!(bound >= len, "{bound} < {len} for {value}");
            prop_assert!(bound <= len + LONGEST_FLOAT * decimals(&value), "{bound} for {value}");
            if decimals(&value) == 0 {
                prop_assert_eq!(bound, len);
            }
            let depth = crate::patch::tree::Tree::depth(&value);
            prop_assert_eq!(depth_and_bound(&value).map(|(depth, _)| depth), Some(depth));
        }
    }

    #[test]
    fn edges_are_counted_as_written() {
        for value in [
            json!(0),
            json!(9),
            json!(10),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(-1),
            json!(""),
            json!("\u{0}\u{1f}\"\\\n\u{7f}\u{e9}"),
            json!([]),
            json!({}),
            json!([1, [2, {"a": null}], true, false]),
            json!({"k\n": {"": ""}}),
        ] {
            assert_eq!(bound(&value), encoded_len(&value), "{value}");
        }
        for float in [
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::MAX,
            -1.0 / 3.0,
            1e-7,
            0.5,
        ] {
            let len = encoded_len(&json!(float));
            assert!(len <= LONGEST_FLOAT, "{float}: {len}");
        }
    }

    /// With `serde_json`'s `arbitrary_precision` feature (which any crate
    /// of the build may turn on) a number keeps its text, however long:
    /// the bound is still at least its length.
    #[test]
    fn a_number_kept_as_its_text_is_counted_whole() {
        for text in [
            format!("1{}", "0".repeat(60)),
            format!("-1{}", "0".repeat(60)),
            format!("0.{}1", "0".repeat(60)),
        ] {
            let value: Value = serde_json::from_str(&text).unwrap();
            let value = json!([value, {"n": value}]);
            assert!(
                bound(&value) >= encoded_len(&value),
                "{} < {} for {value}",
                bound(&value),
                encoded_len(&value)
            );
        }
    }

    #[test]
    fn a_value_deeper_than_the_recursion_is_counted_exactly() {
        let deep = (0..100).fold(json!(1.5), |inner, _| json!([inner]));
        assert_eq!(bound(&deep), encoded_len(&deep));
        assert_eq!(depth_and_bound(&deep), None);
    }

    #[test]
    fn the_depth_found_with_the_bound_is_the_depth() {
        use crate::patch::tree::Tree;
        for levels in [0, 1, SHALLOW - 1, SHALLOW] {
            // The deepest child first, then a shallower one, so that only
            // the deepest counts.
            let nested = (0..levels).fold(json!("x"), |inner, level| match level % 2 {
                0 => json!([inner, 1]),
                _ => json!({"a": inner, "b": {}}),
            });
            let found = depth_and_bound(&nested);
            assert_eq!(
                found,
                Some((Tree::depth(&nested), encoded_len(&nested))),
                "{levels}"
            );
        }
        let past = (0..=SHALLOW).fold(json!(null), |inner, _| json!([inner]));
        assert_eq!(depth_and_bound(&past), None);
    }
}
