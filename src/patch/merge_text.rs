//! [`MergeText`]: a merge patch kept as the text it arrived in.
//!
//! Reading an update into a `serde_json::Value` costs far more than merging
//! it: every object of the patch becomes a `BTreeMap` and every key a `String`,
//! all built to be dropped a moment later. A `MergeText` keeps the text, and
//! a [`Document`](crate::Document) merges it as it reads it: keys are looked
//! up straight from the text, and nothing is allocated but what the document
//! keeps (a new member, a longer string).
//!
//! An update `{"seq":18,"merge":{..}}` is read only as far as the patch; the
//! patch and the rest of the message are read when the patch is applied, in
//! one pass. That pass checks the rest of the text before it writes anything
//! (for the usual one-field patch, the rest is a few closing brackets), so a
//! malformed text fails with nothing written. Whatever the [`Reader`] is not
//! sure of goes to `serde_json`, which accepts it or says what is wrong.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Number, Value};

use crate::{Error, Update};

/// An RFC 7396 merge patch still in the JSON text it arrived in, read when it
/// is applied.
///
/// [`Limits::parse_update`](crate::Limits::parse_update) gives
/// [`Patch::MergeText`](crate::Patch::MergeText) for a `merge` update (or a
/// [`Patch::Merge`](crate::Patch::Merge) where its reader leaves the text to
/// `serde_json`: an escape in the update's own member names, a number out of
/// range, nesting past 120 levels), and a [`Document`](crate::Document)
/// merges it in one pass over the text, without building a [`Value`]. It
/// compares equal to a `Patch::Merge` of the same value.
///
/// Read by [`Limits::parse_update_lazy`](crate::Limits::parse_update_lazy) (as this crate's transports read
/// updates), an update numbered before its patch (`{"seq":18,"merge":..}`,
/// the order this crate's servers write) is read only as far as the patch:
/// the patch and what follows it are read when the patch is applied, so a
/// patch that is not JSON is found then, and applying it fails with
/// [`Error::Malformed`] and changes nothing.
///
/// Two things differ from merging the patch's [`Value`], both at the edges
/// of JSON. Numbers are read correctly rounded, as `serde_json` reads them
/// only with its `float_roundtrip` feature: without it, a long decimal may
/// come out a unit in the last place apart (and does so here too wherever
/// `serde_json` reads the text: for [`MergeText::to_value`], a `Value` target,
/// or text the reader leaves to it). And where an object of the patch names a
/// member twice, both apply, in order, as two patches one after the other
/// would; in a `Value` only the last one remains.
///
/// # Examples
///
/// ```
/// use live_resource::{Document, Limits, Patch};
/// use serde_json::json;
///
/// let limits = Limits::default();
/// let update = limits.parse_update_lazy(r#"{"seq":7,"merge":{"AAPL":{"price":190.25}}}"#)?;
/// let Patch::MergeText(patch) = &update.patch else { unreachable!() };
/// assert_eq!(patch.to_value()?, json!({"AAPL": {"price": 190.25}}));
///
/// let mut state = Document::from(json!({"AAPL": {"price": 189.5, "volume": 1200}}));
/// state.apply(&update.patch)?;
/// assert_eq!(state, json!({"AAPL": {"price": 190.25, "volume": 1200}}));
///
/// // Read lazily, a patch that is not JSON is found when applied, and the
/// // state is left as it was.
/// let bad = limits.parse_update_lazy(r#"{"seq":8,"merge":{"AAPL":{"price":}}}"#)?;
/// assert!(matches!(state.apply(&bad.patch), Err(live_resource::Error::Malformed(_))));
/// assert_eq!(state, json!({"AAPL": {"price": 190.25, "volume": 1200}}));
/// # Ok::<(), live_resource::Error>(())
/// ```
#[derive(Clone)]
pub struct MergeText {
    /// The text the patch is read from: the patch alone, or the whole update
    /// message it came in.
    text: Box<str>,
    /// Where the patch starts in `text`.
    start: usize,
    form: Form,
}

/// What a [`MergeText`] holds, and how much of it has been read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// The patch alone, checked when the update was read.
    Patch,
    /// A whole update message whose patch, and everything after it, is
    /// checked when it is applied.
    Update,
}

impl MergeText {
    /// A patch read and checked by a [`Reader`]: `text` is exactly it.
    pub(crate) fn checked(text: &str) -> Self {
        Self {
            text: text.into(),
            start: 0,
            form: Form::Patch,
        }
    }

    /// The patch of the update message `text`, from `start` on, not yet
    /// read: what follows `start` is read when it is applied.
    pub(crate) fn in_update(text: &str, start: usize) -> Self {
        Self {
            text: text.into(),
            start,
            form: Form::Update,
        }
    }

    /// The patch as a [`Value`], built by `serde_json`.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] when the text, read only now, is not JSON or
    /// not an update.
    ///
    /// ```
    /// # use live_resource::{Limits, Patch};
    /// # use serde_json::json;
    /// let update = Limits::default().parse_update(br#"{"seq":3,"merge":{"tags":["a","b"],"gone":null}}"#)?;
    /// let Patch::MergeText(patch) = update.patch else { unreachable!() };
    /// assert_eq!(patch.to_value()?, json!({"tags": ["a", "b"], "gone": null}));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn to_value(&self) -> Result<Value, Error> {
        match self.form {
            Form::Patch => serde_json::from_str(&self.text).map_err(Error::Malformed),
            Form::Update => match serde_json::from_str::<Update>(&self.text) {
                Ok(Update {
                    patch: crate::Patch::Merge(value),
                    ..
                }) => Ok(value),
                Ok(_) => unreachable!("the message was read as far as its `merge`"),
                Err(error) => Err(Error::Malformed(error)),
            },
        }
    }

    /// How deep the patch nests (a scalar is 0, `{}` and `[]` are 1), as far
    /// as its text says: for a malformed text, how deep its brackets go.
    pub(crate) fn depth(&self) -> usize {
        let mut reader = self.reader();
        reader
            .check_value(0)
            .unwrap_or_else(|GiveUp| crate::limits::text_depth(self.text[self.start..].as_bytes()))
    }

    /// The length of the text the patch is read from: it cannot nest deeper.
    pub(crate) fn text_len(&self) -> usize {
        self.text.len() - self.start
    }

    /// A reader at the start of the patch.
    pub(crate) fn reader(&self) -> Reader<'_> {
        let mut reader = Reader::new(&self.text);
        reader.at = self.start;
        reader
    }

    /// A merge of the patch: a reader, and what it must check before the
    /// first write.
    pub(crate) fn merging(&self) -> Merging<'_> {
        Merging {
            reader: self.reader(),
            checked: false,
            in_update: self.form == Form::Update,
        }
    }
}

/// Writes the patch's value, compact; a text that turns out not to be JSON
/// is an error of the serializer.
///
/// ```
/// # use live_resource::{Limits, Patch};
/// let update = Limits::default().parse_update(br#"{"seq":2,"merge":{ "a" : [1, 2] }}"#)?;
/// assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"seq":2,"merge":{"a":[1,2]}}"#);
/// # Ok::<(), live_resource::Error>(())
/// ```
impl Serialize for MergeText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// Equal when `serde_json` reads them to the same value, whatever the spacing
/// of their text; texts that are not JSON are equal only to the same text.
impl PartialEq for MergeText {
    fn eq(&self, other: &Self) -> bool {
        let same_text =
            self.text[self.start..] == other.text[other.start..] && self.form == other.form;
        same_text || matches!((self.to_value(), other.to_value()), (Ok(a), Ok(b)) if a == b)
    }
}

impl fmt::Debug for MergeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergeText")
            .field("text", &&*self.text)
            .field("start", &self.start)
            .field("checked", &(self.form == Form::Patch))
            .finish()
    }
}

/// A merge in progress: where it is in the text, and whether the rest of
/// the text has been checked, which it must be before the first write.
pub(crate) struct Merging<'a> {
    pub(crate) reader: Reader<'a>,
    checked: bool,
    in_update: bool,
}

impl Merging<'_> {
    /// Checks, once, everything after the reader: the rest of the `open`
    /// objects it is in (the innermost `fresh` if none of its members has
    /// been read yet), then the rest of the update message, if the patch is
    /// in one. After it the text cannot fail to read, so nothing written
    /// needs undoing.
    pub(crate) fn before_write(&mut self, open: usize, fresh: bool) -> Result<(), GiveUp> {
        if self.checked {
            return Ok(());
        }
        let mut ahead = self.reader.clone();
        for level in (1..=open).rev() {
            ahead.check_members(level, fresh && level == open)?;
        }
        if self.in_update {
            ahead.check_update_rest()?;
        }
        if !ahead.at_end() {
            return Err(GiveUp);
        }
        self.checked = true;
        Ok(())
    }

    /// Whether the rest has been checked: past that point the reader cannot
    /// give up.
    pub(crate) fn checked(&self) -> bool {
        self.checked
    }

    /// Runs `build` with checks off: what it writes is a new value of its
    /// own, not yet in the document.
    pub(crate) fn detached<T>(&mut self, build: impl FnOnce(&mut Self) -> T) -> T {
        let was = std::mem::replace(&mut self.checked, true);
        let built = build(self);
        self.checked = was;
        built
    }
}

// ---------------------------------------------------------------- reading

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
#[inline]
fn ordinary_run_end(bytes: &[u8], mut at: usize) -> usize {
    while bytes
        .get(at)
        .is_some_and(|&byte| !STRING_STOPS[usize::from(byte)])
    {
        at += 1;
    }
    at
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
        Self {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    /// The value the reader is at, to be read when it is applied, as the
    /// patch of the update message `text`.
    pub(crate) fn defer_value(&mut self, text: &str) -> MergeText {
        self.whitespace();
        MergeText::in_update(text, self.at)
    }

    /// Reads one value through, checking it, and keeps it as a
    /// [`MergeText`] of its own text.
    pub(crate) fn keep_value(&mut self) -> Result<MergeText, GiveUp> {
        self.whitespace();
        let start = self.at;
        self.check_value(0)?;
        Ok(MergeText::checked(&self.text[start..self.at]))
    }

    /// Reads one value through, checking it without building anything; how
    /// deep it nests, `depth` being the nesting it sits in.
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
            b't' => self.literal(b"rue", ()).map(|()| depth),
            b'f' => self.literal(b"alse", ()).map(|()| depth),
            b'n' => self.literal(b"ull", ()).map(|()| depth),
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.check_number().map(|()| depth)
            }
            _ => Err(GiveUp),
        }
    }

    /// A string whose opening quote has been read, checked and passed.
    fn check_string(&mut self) -> Result<(), GiveUp> {
        self.scan_string().map(drop)
    }

    /// A number, checked and passed: only one with an exponent, or with more
    /// digits than any `f64` below the largest needs, can be out of range,
    /// so only those are converted.
    fn check_number(&mut self) -> Result<(), GiveUp> {
        let (start, integer_digits, exponent) = self.scan_number()?;
        if exponent || integer_digits > 300 {
            self.at = start;
            self.number()?;
        }
        Ok(())
    }

    /// Checks the members of an object up to its closing `}`, the object
    /// sitting at nesting `depth` (1 for the outermost), `first` if none of
    /// its members has been read yet; how deep it nests.
    fn check_members(&mut self, depth: usize, mut first: bool) -> Result<usize, GiveUp> {
        let mut deepest = depth;
        loop {
            self.whitespace();
            match self.next_byte()? {
                b'}' => return Ok(deepest),
                b'"' if first => {}
                b',' if !first => self.expect(b'"')?,
                _ => return Err(GiveUp),
            }
            first = false;
            self.check_string()?;
            self.expect(b':')?;
            deepest = deepest.max(self.check_value(depth)?);
        }
    }

    /// Checks what follows an update's `merge`: other members, none of them
    /// one the update has had (`seq`, `merge`), may not have beside it
    /// (`patch`, `replace`), or may have had (the envelope's `type` and
    /// `topic`: `serde_json` decides those), up to the closing `}`.
    fn check_update_rest(&mut self) -> Result<(), GiveUp> {
        while let Some(key) = self.plain_key(false)? {
            if matches!(
                key,
                "seq" | "merge" | "patch" | "replace" | "type" | "topic"
            ) {
                return Err(GiveUp);
            }
            self.skip_value()?;
        }
        Ok(())
    }

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
        self.whitespace();
        match self.next_byte()? {
            b'}' => return Ok(None),
            b'"' if first => {}
            b',' if !first => self.expect(b'"')?,
            _ => return Err(GiveUp),
        }
        let key = self.string()?;
        self.expect(b':')?;
        Ok(Some(key))
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

    /// Reads one value and forgets it: what an envelope's other members get.
    pub(crate) fn skip_value(&mut self) -> Result<(), GiveUp> {
        self.check_value(0).map(drop)
    }

    /// Reads an unsigned integer (or `null`) such as a `seq`.
    pub(crate) fn optional_u64(&mut self) -> Result<Option<u64>, GiveUp> {
        if self.null() {
            return Ok(None);
        }
        let start = self.at;
        let mut value = 0u64;
        while let Some(byte @ b'0'..=b'9') = self.peek() {
            self.at += 1;
            value = value
                .checked_mul(10)
                .and_then(|value| value.checked_add(u64::from(byte - b'0')))
                .ok_or(GiveUp)?;
        }
        let digits = self.at - start;
        // One or more digits, no leading zero, and nothing that makes it a
        // float.
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return Err(GiveUp);
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => Err(GiveUp),
            _ => Ok(Some(value)),
        }
    }

    /// Reads an envelope's key and the `:` after it, giving it back only
    /// when it has no escapes (an envelope's own keys never need any).
    pub(crate) fn plain_key(&mut self, first: bool) -> Result<Option<&'a str>, GiveUp> {
        self.whitespace();
        match self.next_byte()? {
            b'}' => return Ok(None),
            b'"' if first => {}
            b',' if !first => self.expect(b'"')?,
            _ => return Err(GiveUp),
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

    /// Reads the member `name` of an envelope, which must come next and be
    /// a string without escapes, and gives its value.
    #[cfg(feature = "ws")]
    pub(crate) fn string_member(&mut self, first: bool, name: &str) -> Result<&'a str, GiveUp> {
        if self.plain_key(first)? != Some(name) {
            return Err(GiveUp);
        }
        self.expect(b'"')?;
        let start = self.at;
        if self.scan_string()? {
            return Err(GiveUp);
        }
        Ok(&self.text[start..self.at - 1])
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
            // Rare: `serde_json` decodes it, with its quotes.
            let quoted = &self.text[start - 1..self.at];
            return serde_json::from_str(quoted)
                .map(Cow::Owned)
                .map_err(|_| GiveUp);
        }
        Ok(Cow::Borrowed(&self.text[start..self.at - 1]))
    }

    /// Passes a string whose opening quote has been read; whether it held
    /// escapes, which are then checked by `serde_json` (which refuses a lone
    /// surrogate, an unknown escape).
    #[inline]
    fn scan_string(&mut self) -> Result<bool, GiveUp> {
        let start = self.at;
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
        if escaped {
            let quoted = &self.text[start - 1..self.at];
            serde_json::from_str::<Cow<'_, str>>(quoted).map_err(|_| GiveUp)?;
        }
        Ok(escaped)
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// Passes a number's text, checking its form: where it starts, how
    /// many digits come before any `.`, and whether it has an exponent.
    #[inline]
    fn scan_number(&mut self) -> Result<(usize, usize, bool), GiveUp> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        let int_digits = self.digits();
        // One or more digits, with no leading zero.
        if int_digits == 0 || (int_digits > 1 && self.bytes[int_start] == b'0') {
            return Err(GiveUp);
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(GiveUp);
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(GiveUp);
            }
            exponent = true;
        }
        Ok((start, int_digits, exponent))
    }

    /// A number, read as `serde_json` reads it: an integer that fits is a
    /// `u64` (or an `i64` below zero), anything else an `f64`; `-0` too.
    ///
    /// One pass gathers the digits as an integer and the power of ten they
    /// are scaled by; a short decimal then becomes the nearest `f64` by one
    /// exact operation, and anything longer goes to the standard library's
    /// correctly rounded reader.
    #[inline(always)]
    fn number(&mut self) -> Result<Number, GiveUp> {
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

/// A number's digits as one integer, and the power of ten it is scaled by.
#[derive(Default)]
struct Digits {
    value: u64,
    /// How many digits `value` holds, leading zeros aside.
    count: u32,
    scale: i64,
    /// Whether digits past the 19 a `u64` surely holds were dropped.
    lost: bool,
}

impl Digits {
    /// Adds a digit; `scale` is -1 for a digit after the point, else 0.
    #[inline(always)]
    fn push(&mut self, byte: u8, scale: i64) {
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
    fn exact(&self) -> Option<f64> {
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

/// Whether `serde_json` keeps numbers as their text (its
/// `arbitrary_precision` feature, which another crate of the build may turn
/// on): numbers are then read by `serde_json` itself, to keep its form.
fn arbitrary_precision() -> bool {
    static KEEPS_TEXT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEPS_TEXT.get_or_init(|| {
        serde_json::from_str::<Number>("1e2").is_ok_and(|number| number.to_string() == "1e2")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Option<MergeText> {
        let mut reader = Reader::new(text);
        let patch = reader.keep_value().ok()?;
        reader.at_end().then_some(patch)
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
            let patch = read(text).unwrap_or_else(|| panic!("gave up on {text}"));
            assert_eq!(patch.to_value().unwrap(), expected, "{text}");
            assert_eq!(&*patch.text, text.trim());
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
        // Every byte value, in every lane.
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

    #[test]
    fn depth_counts_containers() {
        assert_eq!(read("1").unwrap().depth(), 0);
        assert_eq!(read("{}").unwrap().depth(), 1);
        assert_eq!(read(r#"{"a":[{"b":1}],"c":2}"#).unwrap().depth(), 3);
    }

    #[test]
    fn deep_nesting_is_left_to_serde_json() {
        let deep = format!("{}{}", "[".repeat(DEEPEST + 1), "]".repeat(DEEPEST + 1));
        assert!(read(&deep).is_none());
        let fine = format!("{}{}", "[".repeat(DEEPEST), "]".repeat(DEEPEST));
        assert_eq!(read(&fine).unwrap().depth(), DEEPEST);
    }

    #[test]
    fn equal_by_meaning_and_shown_as_text() {
        let (a, b) = (read(r#"{"a": 1}"#).unwrap(), read(r#"{"a":1}"#).unwrap());
        assert_eq!(a, b);
        assert_eq!(
            format!("{a:?}"),
            r#"MergeText { text: "{\"a\": 1}", start: 0, checked: true }"#
        );
        assert_eq!(serde_json::to_value(&a).unwrap(), json!({"a": 1}));
    }
}
