//! [`Reader`]: JSON text read token by token, strictly, for the common case.
//!
//! Both readings of a merge patch kept as text go through it: the check
//! before the first write and the merge itself, so they agree on what the
//! text says. It gives up
//! ([`GiveUp`]) on anything it is not sure of, and the caller asks `serde_json`,
//! which accepts the text or says precisely what is wrong with it.

mod digits;
mod record;
mod short_number;

use std::borrow::Cow;

use serde_json::Number;

use self::digits::Digits;

/// Why the reader gave up. Never shown: the caller then reads the text with
/// `serde_json`, which either accepts it or says precisely what is wrong.
#[derive(Debug)]
pub(crate) struct GiveUp;

/// The bytes that end a run of ordinary string bytes: the closing quote, an
/// escape, and the control characters JSON strings cannot hold raw.
const STRING_STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        stops[byte] = true;
        byte += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
};

/// Where the run of ordinary string bytes from `at` ends: at the first
/// closing quote, escape or control character, or at the end of `bytes`.
///
/// Eight bytes at a time while eight are left (a key, a symbol, is mostly
/// passed in one or two words), then one at a time.
#[inline(always)]
fn ordinary_run_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(eight) = bytes.get(at..at + 8) {
        let stops = stops_in(u64::from_le_bytes(eight.try_into().expect("eight bytes")));
        if stops != 0 {
            // The lowest flagged byte is the first stop (see `stops_in`).
            return at + stops.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    while bytes
        .get(at)
        .is_some_and(|&byte| !STRING_STOPS[usize::from(byte)])
    {
        at += 1;
    }
    at
}

/// The high bit of each byte of `word` (eight bytes of text, the first in
/// the lowest byte) that stops a run of ordinary string bytes: a quote, a
/// backslash, or a byte below 0x20.
///
/// A byte is flagged when subtracting from it borrows past zero and its own
/// high bit was clear: exact for every byte below the lowest stop, and above
/// it a borrow may flag more, which the caller never looks at. Bytes from
/// 0x80 up (UTF-8 past ASCII) have their high bit set and are never flagged
/// but by such a borrow.
#[inline]
fn stops_in(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let escape = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    quote | escape | control
}

/// Containers nested deeper than this are left to `serde_json`, which refuses
/// past 128 levels: so the reader's recursion is bounded too.
const DEEPEST: usize = 120;

/// One token of JSON text, as the reader met it.
pub(crate) enum Token<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    /// `{`: the members follow, read with [`Reader::next_member`].
    Object,
    /// `[`: the items follow, read with [`Reader::next_item`].
    Array,
}

/// Reads JSON text token by token: a strict reader of the common case.
///
/// It accepts only text that `serde_json` accepts too and reads it to the
/// same value; it gives up on anything it is not sure of (malformed text, a
/// number out of range, a string with an escape `serde_json` refuses).
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self::starting_at(text, 0)
    }

    /// A reader of `text` from the byte `at` on.
    pub(crate) fn starting_at(text: &'a str, at: usize) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            at,
        }
    }

    /// Where the value the reader is at starts, past any whitespace: it is
    /// left unread, for the caller to read later.
    pub(crate) fn value_start(&mut self) -> usize {
        self.whitespace();
        self.at
    }

    /// Reads one value through, checking it: the span of its text, and how
    /// deep it nests (a scalar is 0, `{}` and `[]` are 1).
    pub(crate) fn checked_value(&mut self) -> Result<(std::ops::Range<usize>, usize), GiveUp> {
        self.whitespace();
        let start = self.at;
        let depth = self.check_value(0)?;
        Ok((start..self.at, depth))
    }

    /// Reads one value through, checking it without building anything; how
    /// deep it nests, `depth` being the nesting it sits in.
    ///
    /// It gives up exactly where reading the value with [`Reader::token`]
    /// would, but builds no token: a string's text is only passed (escapes
    /// are decoded, to check them), and a number only passed unless it may
    /// be out of an `f64`'s range (an exponent, or more than 300 digits
    /// before the point), which only reading it settles.
    pub(crate) fn check_value(&mut self, depth: usize) -> Result<usize, GiveUp> {
        self.whitespace();
        match self.next_byte()? {
            b'{' => {
                let inner = self.nest(depth)?;
                self.check_members(inner, true)
            }
            b'[' => {
                let inner = self.nest(depth)?;
                let mut deepest = inner;
                let mut first = true;
                while self.next_item(first)? {
                    first = false;
                    deepest = deepest.max(self.check_value(inner)?);
                }
                Ok(deepest)
            }
            b'"' => self.check_string().map(|()| depth),
            b't' => self.literal(b"rue", depth),
            b'f' => self.literal(b"alse", depth),
            b'n' => self.literal(b"ull", depth),
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.check_number().map(|()| depth)
            }
            _ => Err(GiveUp),
        }
    }

    /// Checks the members of an object up to its closing `}`, the object
    /// sitting at nesting `depth` (1 for the outermost), `first` if none of
    /// its members has been read yet; how deep it nests.
    pub(crate) fn check_members(&mut self, depth: usize, mut first: bool) -> Result<usize, GiveUp> {
        let mut deepest = depth;
        while self.member_start(first)? {
            first = false;
            self.check_string()?;
            self.expect(b':')?;
            deepest = deepest.max(self.check_value(depth)?);
        }
        Ok(deepest)
    }

    /// The nesting inside a container that sits at `depth`, unless that is
    /// deeper than the reader goes.
    #[inline]
    pub(crate) fn nest(&self, depth: usize) -> Result<usize, GiveUp> {
        if depth >= DEEPEST {
            return Err(GiveUp);
        }
        Ok(depth + 1)
    }

    /// The next value's first token: a scalar whole, or the opening of a
    /// container.
    #[inline(always)]
    pub(crate) fn token(&mut self) -> Result<Token<'a>, GiveUp> {
        self.whitespace();
        match self.next_byte()? {
            b'{' => Ok(Token::Object),
            b'[' => Ok(Token::Array),
            b'"' => self.string().map(Token::String),
            b't' => self.literal(b"rue", Token::Bool(true)),
            b'f' => self.literal(b"alse", Token::Bool(false)),
            b'n' => self.literal(b"ull", Token::Null),
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.number().map(Token::Number)
            }
            _ => Err(GiveUp),
        }
    }

    /// Whether the next value is `null`, which is then read.
    #[inline]
    pub(crate) fn null(&mut self) -> bool {
        self.whitespace();
        let found = self.bytes[self.at..].starts_with(b"null");
        if found {
            self.at += 4;
        }
        found
    }

    /// After [`Token::Object`] (`first`) or a member's value: the next
    /// member's key, its `:` read, or `None` at the closing `}`.
    #[inline]
    pub(crate) fn next_member(&mut self, first: bool) -> Result<Option<Cow<'a, str>>, GiveUp> {
        if !self.member_start(first)? {
            return Ok(None);
        }
        let key = self.string()?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// Reads what comes before a member's key: its opening quote, after a
    /// `,` unless it is the `first`; `false` at the object's closing `}`.
    #[inline]
    fn member_start(&mut self, first: bool) -> Result<bool, GiveUp> {
        self.whitespace();
        match self.next_byte()? {
            b'}' => Ok(false),
            b'"' if first => Ok(true),
            b',' if !first => self.expect(b'"').map(|()| true),
            _ => Err(GiveUp),
        }
    }

    /// After [`Token::Array`] (`first`) or an item: whether another item
    /// follows (its `,` read), or `false` at the closing `]`.
    #[inline]
    pub(crate) fn next_item(&mut self, first: bool) -> Result<bool, GiveUp> {
        self.whitespace();
        match self.peek() {
            Some(b']') => {
                self.at += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.at += 1;
                Ok(true)
            }
            Some(_) if first => Ok(true),
            _ => Err(GiveUp),
        }
    }

    /// Whether an object of the value the reader is at names a member twice,
    /// `depth` being the nesting it sits in.
    pub(crate) fn names_a_member_twice(&mut self, depth: usize) -> Result<bool, GiveUp> {
        match self.token()? {
            Token::Object => {
                let inner = self.nest(depth)?;
                let mut names = std::collections::HashSet::new();
                let mut first = true;
                while let Some(name) = self.next_member(first)? {
                    first = false;
                    if !names.insert(name) || self.names_a_member_twice(inner)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Token::Array => {
                let inner = self.nest(depth)?;
                let mut first = true;
                while self.next_item(first)? {
                    first = false;
                    if self.names_a_member_twice(inner)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Reads one value and forgets it, but for how deep it nests: what an
    /// envelope's other members get.
    pub(crate) fn skip_value(&mut self) -> Result<usize, GiveUp> {
        self.check_value(0)
    }

    /// Reads an unsigned integer (or `null`) such as a `seq`: digits with no
    /// leading zero that fit a `u64`. Anything else (a sign, a fraction, an
    /// exponent, too many digits) is left to `serde_json`, which refuses it
    /// for a `u64`.
    pub(crate) fn optional_u64(&mut self) -> Result<Option<u64>, GiveUp> {
        self.whitespace();
        // Digits, mostly: gathered in a loop of their own.
        let start = self.at;
        let mut at = start;
        let mut value: u64 = 0;
        while let Some(digit) = self.bytes.get(at).map(|byte| byte.wrapping_sub(b'0')) {
            if digit > 9 {
                break;
            }
            value = value
                .checked_mul(10)
                .and_then(|value| value.checked_add(u64::from(digit)))
                .ok_or(GiveUp)?;
            at += 1;
        }
        let digits = at - start;
        if digits == 0 {
            return if self.null() { Ok(None) } else { Err(GiveUp) };
        }
        let leading_zero = digits > 1 && self.bytes[start] == b'0';
        if leading_zero || matches!(self.bytes.get(at), Some(b'.' | b'e' | b'E')) {
            return Err(GiveUp);
        }
        self.at = at;
        Ok(Some(value))
    }

    /// Whether all that is left, but whitespace, is `closing` `}`s: the end
    /// of the objects the reader is in and of the message, with nothing
    /// more in any of them. Reads nothing.
    pub(crate) fn only_closing_braces_left(&self, closing: usize) -> bool {
        let mut braces = 0;
        for &byte in &self.bytes[self.at..] {
            match byte {
                b'}' => braces += 1,
                b' ' | b'\n' | b'\r' | b'\t' => {}
                _ => return false,
            }
        }
        braces == closing
    }

    /// Reads an envelope's key and the `:` after it, giving it back only
    /// when it has no escapes (an envelope's own keys never need any).
    pub(crate) fn plain_key(&mut self, first: bool) -> Result<Option<&'a str>, GiveUp> {
        if !self.member_start(first)? {
            return Ok(None);
        }
        let start = self.at;
        let end = ordinary_run_end(self.bytes, start);
        // An escape, a control character, or no end: not a plain key.
        if self.bytes.get(end) != Some(&b'"') {
            return Err(GiveUp);
        }
        self.at = end + 1;
        self.expect(b':')?;
        Ok(Some(&self.text[start..end]))
    }

    /// Whether the text goes on with exactly `bytes`, no whitespace before
    /// them, which are then read.
    #[inline]
    pub(crate) fn exactly(&mut self, bytes: &[u8]) -> bool {
        let found = self.bytes[self.at..].starts_with(bytes);
        if found {
            self.at += bytes.len();
        }
        found
    }

    #[inline]
    pub(crate) fn expect(&mut self, byte: u8) -> Result<(), GiveUp> {
        self.whitespace();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// Whether nothing but whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.whitespace();
        self.at == self.bytes.len()
    }

    #[inline]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn next_byte(&mut self) -> Result<u8, GiveUp> {
        let byte = self.peek().ok_or(GiveUp)?;
        self.at += 1;
        Ok(byte)
    }

    #[inline]
    fn literal<T>(&mut self, rest: &[u8], token: T) -> Result<T, GiveUp> {
        if !self.bytes[self.at..].starts_with(rest) {
            return Err(GiveUp);
        }
        self.at += rest.len();
        Ok(token)
    }

    /// A string whose opening quote has been read.
    #[inline]
    fn string(&mut self) -> Result<Cow<'a, str>, GiveUp> {
        let start = self.at;
        if self.scan_string()? {
            return self.escaped(start).map(Cow::Owned);
        }
        Ok(Cow::Borrowed(&self.text[start..self.at - 1]))
    }

    /// Passes a string whose opening quote has been read, checking it as
    /// [`Reader::string`] reads it.
    #[inline]
    fn check_string(&mut self) -> Result<(), GiveUp> {
        let start = self.at;
        if self.scan_string()? {
            self.escaped(start)?;
        }
        Ok(())
    }

    /// The string with escapes that the reader just passed, from `start`
    /// just past its opening quote. Rare: `serde_json` decodes it, with its
    /// quotes.
    #[cold]
    fn escaped(&self, start: usize) -> Result<String, GiveUp> {
        serde_json::from_str(&self.text[start - 1..self.at]).map_err(|_| GiveUp)
    }

    /// Passes a string whose opening quote has been read; whether it held
    /// escapes, which are then checked by `serde_json` (which refuses a lone
    /// surrogate, an unknown escape).
    #[inline(always)]
    fn scan_string(&mut self) -> Result<bool, GiveUp> {
        let mut escaped = false;
        loop {
            self.at = ordinary_run_end(self.bytes, self.at);
            match self.next_byte()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.next_byte()?;
                }
                // JSON strings cannot hold raw control characters.
                _ => return Err(GiveUp),
            }
        }
        Ok(escaped)
    }

    /// Passes a number, checking it as [`Reader::number`] reads it: its
    /// form, and, where it may be out of an `f64`'s range (an exponent, or
    /// more than 300 digits before the point), its value, by reading it.
    #[inline]
    fn check_number(&mut self) -> Result<(), GiveUp> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        self.pass_digits();
        let int_digits = self.at - int_start;
        // One or more digits, with no leading zero.
        if int_digits == 0 || (int_digits > 1 && self.bytes[int_start] == b'0') {
            return Err(GiveUp);
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let fraction_start = self.at;
            self.pass_digits();
            if self.at == fraction_start {
                return Err(GiveUp);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) || int_digits > 300 {
            self.at = start;
            return self.any_number().map(drop);
        }
        Ok(())
    }

    /// Passes a run of decimal digits.
    #[inline]
    fn pass_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    /// A number, read as `serde_json` reads it: an integer that fits is a
    /// `u64` (or an `i64` below zero), anything else an `f64`; `-0` too.
    /// The common short form is read in one tight pass, anything else by
    /// [`Reader::any_number`].
    #[inline(always)]
    fn number(&mut self) -> Result<Number, GiveUp> {
        if !arbitrary_precision() {
            if let Some((number, len)) = short_number::short_number(&self.bytes[self.at..]) {
                self.at += len;
                return Ok(number);
            }
        }
        self.any_number()
    }

    /// [`Reader::number`], for any form: one pass gathers the digits as an
    /// integer and the power of ten they are scaled by; a short decimal then
    /// becomes the nearest `f64` by one exact operation, and anything longer
    /// goes to the standard library's correctly rounded reader.
    #[inline(never)]
    fn any_number(&mut self) -> Result<Number, GiveUp> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let mut digits = Digits::default();
        let int_start = self.at;
        while let Some(byte @ b'0'..=b'9') = self.peek() {
            self.at += 1;
            digits.push(byte, 0);
        }
        let int_end = self.at;
        // One or more digits, with no leading zero.
        if int_end == int_start || (int_end - int_start > 1 && self.bytes[int_start] == b'0') {
            return Err(GiveUp);
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let fraction_start = self.at;
            while let Some(byte @ b'0'..=b'9') = self.peek() {
                self.at += 1;
                digits.push(byte, -1);
            }
            if self.at == fraction_start {
                return Err(GiveUp);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let sign = match self.peek() {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            if sign != 0 {
                self.at += 1;
            }
            let exponent_start = self.at;
            let mut exponent = 0i64;
            while let Some(byte @ b'0'..=b'9') = self.peek() {
                self.at += 1;
                // Past any exponent an f64 can use; the exact value no
                // longer matters, only that it is large.
                exponent = (exponent * 10 + i64::from(byte - b'0')).min(1 << 20);
            }
            if self.at == exponent_start {
                return Err(GiveUp);
            }
            digits.scale += if sign < 0 { -exponent } else { exponent };
        }
        let token = &self.text[start..self.at];
        if arbitrary_precision() {
            return serde_json::from_str(token).map_err(|_| GiveUp);
        }
        if self.at == int_end {
            // An integer. Past 19 digits it may still fit a u64.
            let magnitude = match digits.lost {
                false => Some(digits.value),
                true => self.text[int_start..int_end].parse().ok(),
            };
            if let Some(magnitude) = magnitude {
                if !negative {
                    return Ok(Number::from(magnitude));
                }
                // `serde_json` reads `-0` as a float, and a magnitude past
                // `i64`'s as one too.
                if magnitude != 0 && magnitude <= i64::MIN.unsigned_abs() {
                    return Ok(Number::from((magnitude as i64).wrapping_neg()));
                }
            }
        }
        let value = match digits.exact() {
            Some(magnitude) if negative => -magnitude,
            Some(magnitude) => magnitude,
            None => token.parse().map_err(|_| GiveUp)?,
        };
        // Out of range: `serde_json` refuses it, and says so.
        Number::from_f64(value).ok_or(GiveUp)
    }
}

/// Whether `serde_json` keeps numbers as their text (its
/// `arbitrary_precision` feature, which another crate of the build may turn
/// on): numbers are then read by `serde_json` itself, to keep its form.
///
/// Told by an integer past `u64`, which only a number kept as text keeps
/// digit for digit (a short exponent does not tell: `1e2` comes back as
/// `1e+2` with the feature on).
pub(crate) fn arbitrary_precision() -> bool {
    static KEEPS_TEXT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEPS_TEXT.get_or_init(|| {
        let text = "18446744073709551616";
        serde_json::from_str::<Number>(text).is_ok_and(|number| number.to_string() == text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// `text` read whole as one checked value: its text, and how deep it nests.
    fn read(text: &str) -> Option<(&str, usize)> {
        let mut reader = Reader::new(text);
        let (span, depth) = reader.checked_value().ok()?;
        assert_eq!(
            Reader::new(&text[span.clone()]).check_value(0).ok(),
            Some(depth)
        );
        reader.at_end().then_some((&text[span], depth))
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a":{"b":[1,-2,3.5,"x",true,false,null,{"c":[]}]},"d":{}}"#,
            r#" { "spaced" : [ 1 , 2 ] , "e" : 1e3 , "f" : -0 , "g" : -0.0 } "#,
            r#"{"big":18446744073709551615,"bigger":18446744073709551616,"low":-9223372036854775808,"lower":-9223372036854775809}"#,
            r#"{"esc\"aped":"a\nb\u00e9\ud83d\ude00","plain":"héllo"}"#,
            "[]",
            "[[],[1],{}]",
            "17",
            r#""text""#,
            "null",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            let (span, _) = read(text).unwrap_or_else(|| panic!("gave up on {text}"));
            assert_eq!(
                serde_json::from_str::<Value>(span).unwrap(),
                expected,
                "{text}"
            );
            assert_eq!(span, text.trim(), "{text}");
        }
    }

    #[test]
    fn gives_up_where_serde_json_refuses() {
        for text in [
            "",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            "[1,]",
            "[,1]",
            r#"{,"a":1}"#,
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "tru",
            "nul",
            r#""\x""#,
            r#""\ud800""#,
            "\"a\tb\"",
            "1e400",
            "[1 2]",
            r#"{"a" 1}"#,
            r#"{1:2}"#,
            r#"{"a":1 "b":2}"#,
            "[1,,2]",
        ] {
            if arbitrary_precision() && text == "1e400" {
                // A number kept as its text need not fit an `f64`.
                continue;
            }
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert!(read(text).is_none(), "accepted {text:?}");
        }
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them() {
        for text in [
            "-0",
            "0",
            "-1",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5",
            "-2e-3",
        ] {
            let mut reader = Reader::new(text);
            let Ok(Token::Number(number)) = reader.token() else {
                panic!("{text}")
            };
            let expected: Number = serde_json::from_str(text).unwrap();
            assert_eq!(number, expected, "{text}");
            assert_eq!(number.is_f64(), expected.is_f64(), "{text}");
        }
    }

    #[test]
    fn decimals_read_correctly_rounded() {
        for token in [
            "190.25",
            "-1.5e3",
            "0.1",
            "1e22",
            "1e23",
            "9007199254740992",
            "9007199254740993",
            "123456789.123456789e-5",
            "0.000001",
            "1E+2",
            "4.56",
            "1e-22",
            "2.2250738585072014e-308",
            "1.7976931348623157e308",
            "12345678901234567890.5",
            "0.30000000000000004",
            "123456789012345678901234567890",
            "-0.0",
            "5e-324",
            "1e-400",
        ] {
            let expected: f64 = token.parse().unwrap();
            let mut reader = Reader::new(token);
            let Ok(Token::Number(number)) = reader.token() else {
                panic!("{token}")
            };
            assert_eq!(
                number.as_f64().unwrap().to_bits(),
                expected.to_bits(),
                "{token}"
            );
        }
    }

    #[test]
    fn ordinary_runs_end_at_the_first_stop() {
        for (text, end) in [
            ("abcdefghij\"", 10),
            ("abc\"defghijklmnop", 3),
            ("abcdefgh\\ijk", 8),
            ("\u{1}bcdefghijk", 0),
            ("héllo wörld, at length\"", "héllo wörld, at length".len()),
            ("abcdefghijklmnopq\u{1f}", 17),
            ("abc", 3),
            ("", 0),
        ] {
            assert_eq!(ordinary_run_end(text.as_bytes(), 0), end, "{text:?}");
            // And from every place inside it.
            for from in 0..=end {
                if text.is_char_boundary(from) {
                    assert_eq!(
                        ordinary_run_end(text.as_bytes(), from),
                        end,
                        "{text:?} from {from}"
                    );
                }
            }
        }
        // Every byte value, in every lane of a word and past it, behind
        // ordinary bytes of every kind (one past ASCII, which must not
        // flag the bytes above it).
        for filler in [b'a', b' ', 0x7f, 0x80, 0xff] {
            for byte in 0..=255u8 {
                for lane in 0..20 {
                    let mut bytes = [filler; 21];
                    bytes[lane] = byte;
                    let stop = byte < 0x20 || byte == b'"' || byte == b'\\';
                    assert_eq!(
                        ordinary_run_end(&bytes, 0),
                        if stop { lane } else { 21 },
                        "{byte} at {lane} among {filler}"
                    );
                }
            }
        }
        for byte in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b'a'; 12];
                bytes[lane] = byte;
                let stop = byte < 0x20 || byte == b'"' || byte == b'\\';
                assert_eq!(
                    ordinary_run_end(&bytes, 0),
                    if stop { lane } else { 12 },
                    "{byte} at {lane}"
                );
            }
        }
    }

    /// What [`Reader::check_value`] did before it passed scalars without
    /// reading them: every scalar read whole by [`Reader::token`].
    fn check_by_tokens(reader: &mut Reader<'_>, depth: usize) -> Result<usize, GiveUp> {
        match reader.token()? {
            Token::Object => {
                let inner = reader.nest(depth)?;
                let mut deepest = inner;
                let mut first = true;
                while reader.next_member(first)?.is_some() {
                    first = false;
                    deepest = deepest.max(check_by_tokens(reader, inner)?);
                }
                Ok(deepest)
            }
            Token::Array => {
                let inner = reader.nest(depth)?;
                let mut deepest = inner;
                let mut first = true;
                while reader.next_item(first)? {
                    first = false;
                    deepest = deepest.max(check_by_tokens(reader, inner)?);
                }
                Ok(deepest)
            }
            _ => Ok(depth),
        }
    }

    /// JSON-like text: pieces of values, numbers and strings, good and bad.
    pub(super) fn jsonish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\"a\"",
            "\"k\":",
            "\"\\n\"",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\u00e9\"",
            "\"\t\"",
            "0",
            "-",
            "1",
            "9",
            ".",
            "e",
            "E",
            "+",
            "00",
            "-0",
            "1.5",
            "1e400",
            "1e-400",
            "2.5E+3",
            "true",
            "fals",
            "null",
            "nul",
            "18446744073709551616",
            "1.7976931348623157e308",
            "1.8e308",
        ]);
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// `check_value` gives up, accepts and ends exactly where reading
        /// every token would, and says the same depth.
        #[test]
        fn checking_agrees_with_reading_every_token(text in jsonish(), digits in 0usize..400) {
            let long = format!("[{}{}]", text, "7".repeat(digits));
            for text in [&text, &long] {
                let (mut fast, mut slow) = (Reader::new(text), Reader::new(text));
                let (checked, read) = (fast.check_value(0), check_by_tokens(&mut slow, 0));
                proptest::prop_assert_eq!(checked.is_ok(), read.is_ok(), "{}", text);
                if let (Ok(checked), Ok(read)) = (checked, read) {
                    proptest::prop_assert_eq!(checked, read, "{}", text);
                    proptest::prop_assert_eq!(fast.at, slow.at, "{}", text);
                }
            }
        }
    }

    #[test]
    fn optional_u64s_read_as_serde_json_reads_them() {
        for text in [
            "17",
            " 17",
            "0",
            "null",
            " null",
            "18446744073709551615",
            "18446744073709551616",
            "01",
            "-1",
            "1.5",
            "1e3",
            "",
            "nul",
            "x",
        ] {
            let expected = serde_json::from_str::<Option<u64>>(text).ok();
            let read = Reader::new(text)
                .optional_u64()
                .ok()
                .filter(|_| Reader::new(text).optional_u64().is_ok());
            // The reader gives up on what `serde_json` refuses, and reads
            // the rest to the same value, up to where it ends.
            match read {
                Some(read) => assert_eq!(Some(read), expected, "{text:?}"),
                None => assert!(expected.is_none(), "gave up on {text:?}"),
            }
        }
        let mut reader = Reader::new("17,");
        assert_eq!(reader.optional_u64().ok(), Some(Some(17)));
        assert!(reader.exactly(b","));
    }

    #[test]
    fn numbers_checked_as_read() {
        let huge = format!("1{}", "0".repeat(400));
        let big = format!("1{}.5", "0".repeat(300));
        for text in [
            "1e400", "-1e400", "1.8e308", "1e-400", "1.5", "-0", &huge, &big, "1E+2", "2e",
        ] {
            let checked = Reader::new(text).check_value(0).is_ok();
            let read = Reader::new(text).token().is_ok();
            assert_eq!(checked, read, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde_json() {
        let deep = format!("{}{}", "[".repeat(DEEPEST + 1), "]".repeat(DEEPEST + 1));
        assert!(read(&deep).is_none());
        let fine = format!("{}{}", "[".repeat(DEEPEST), "]".repeat(DEEPEST));
        assert_eq!(read(&fine).unwrap().1, DEEPEST);
    }
}
