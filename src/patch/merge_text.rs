//! [`MergeText`]: a merge patch kept as the text it arrived in.
//!
//! Reading an update into a `serde_json::Value` costs far more than merging
//! it: every object of the patch becomes a `BTreeMap` and every key a `String`,
//! all built to be dropped a moment later. A `MergeText` keeps the text, and
//! a [`Document`](crate::Document) merges it as it reads it: keys are looked
//! up straight from the text, and nothing is allocated but what the document
//! keeps (a new member, a longer string).
//!
//! Read lazily (`Limits::parse_update_lazy`, as the transports read
//! messages past 16 KB), an
//! update `{"seq":18,"merge":{..}}` is read only as far as the patch; the
//! patch and the rest of the message are read when the patch is applied, in
//! one pass. That pass checks the rest of the text before it writes anything
//! (for the usual one-field patch, the rest is a few closing brackets), so a
//! malformed text fails with nothing written. Whatever the [`Reader`] is not
//! sure of goes to `serde_json`, which accepts it or says what is wrong.
//!
//! Read strictly (`Limits::parse_update`), the patch is checked whole when
//! it is read, and the check records what it found on a [`Tape`] (keys and
//! strings as spans of the text, numbers already read): the merge walks the
//! tape, and reads nothing twice. Only a patch too long to be worth a tape
//! (past 16 KB) is merged from its text, as a lazy one is.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::Error;
use crate::text::{GiveUp, OwnedText, Reader, Tape};

/// An RFC 7396 merge patch still in the JSON text it arrived in, read when it
/// is applied: the text form of a [`MergePatch`](crate::patch::MergePatch).
///
/// The update readers give it for a `merge` update (but where the reader
/// leaves the text to `serde_json`: an escape in the update's own member
/// names, nesting past 120 levels), and a [`Document`](crate::Document)
/// merges it in one pass over the text, or over the tape its check
/// recorded, without building a [`Value`].
///
/// Read lazily (as the transports read updates past 16 KB), an update numbered before
/// its patch (`{"seq":18,"merge":..}`, the order this crate's servers write)
/// is read only as far as the patch: the patch and what follows it are read
/// when the patch is applied, so a patch that is not JSON is found then, and
/// applying it fails with [`Error::Malformed`] and changes nothing.
///
/// Numbers are read correctly rounded, as `serde_json` reads them with its
/// `float_roundtrip` feature (which the crate turns on), so that a float is
/// the one its writer wrote, to the last bit, whichever reads it. One thing
/// differs from merging the patch's [`Value`]: where an object of the patch
/// names a member twice, both apply, in order, as two patches one after the
/// other would; in a `Value` only the last one remains.
#[derive(Clone)]
pub(crate) struct MergeText {
    /// The text the patch is read from: the patch alone, or the whole update
    /// message it came in.
    text: OwnedText,
    /// Where the patch starts in `text`.
    start: usize,
    form: Form,
    /// The nesting bound the whole message was checked against when it was
    /// read (`u32::MAX`: none): the patch nests no deeper.
    within_depth: u32,
    /// What the check of a patch read alone found, when it recorded it: the
    /// merge then walks it instead of reading the text again.
    tape: Option<Tape>,
}

/// What a [`MergeText`] holds, and how much of it has been read.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// The patch alone, checked when the update was read.
    Patch,
    /// A whole update message whose patch, and everything after it, is
    /// checked when it is applied, by the rules of that message.
    Update(&'static Message),
}

impl PartialEq for Form {
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (Self::Patch, Self::Patch) | (Self::Update(_), Self::Update(_))
        )
    }
}

/// The rules of the message a patch read lazily is still in, given by the
/// reader of that message (`update::read`): this module reads patches, and
/// leaves what an update message may hold to the update's own module.
#[derive(Debug)]
pub(crate) struct Message {
    /// Checks what follows the patch in its message, up to the message's
    /// closing `}`.
    pub(crate) check_rest: fn(&mut Reader<'_>) -> Result<(), GiveUp>,
    /// The patch's value, read with the whole message by `serde_json`; or
    /// the error that says what is wrong with the message.
    pub(crate) read_whole: fn(&str) -> Result<Value, Error>,
}

impl MergeText {
    /// A patch read and checked by a [`Reader`]: `text` is exactly it.
    pub(crate) fn checked(text: &str) -> Self {
        Self {
            text: OwnedText::copy_of(text),
            start: 0,
            form: Form::Patch,
            within_depth: u32::MAX,
            tape: None,
        }
    }

    /// A patch read and checked by a [`Reader`] that recorded it on `tape`:
    /// `text` is exactly it.
    #[inline]
    pub(crate) fn recorded(text: &str, tape: Tape) -> Self {
        Self {
            tape: Some(tape),
            ..Self::checked(text)
        }
    }

    /// The patch of the update message `text`, from `start` on, not yet
    /// read: what follows `start` is read when it is applied, by the
    /// `message`'s rules.
    pub(crate) fn in_update(text: &str, start: usize, message: &'static Message) -> Self {
        Self {
            text: OwnedText::copy_of(text),
            start,
            form: Form::Update(message),
            within_depth: u32::MAX,
            tape: None,
        }
    }

    /// The patch as a [`Value`], built by `serde_json`.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] only for a patch read lazily whose text (the
    /// patch, or the rest of its message) is not JSON or not an update.
    pub(crate) fn to_value(&self) -> Result<Value, Error> {
        match self.form {
            Form::Patch => serde_json::from_str(&self.text).map_err(Error::Malformed),
            Form::Update(message) => (message.read_whole)(&self.text),
        }
    }

    /// How deep the patch nests (a scalar is 0, `{}` and `[]` are 1), as far
    /// as its text says: for a malformed text, how deep its brackets go.
    pub(crate) fn depth(&self) -> usize {
        let mut reader = self.reader();
        reader
            .check_value(0)
            .unwrap_or_else(|GiveUp| crate::text::text_depth(self.text[self.start..].as_bytes()))
    }

    /// The length of the text the patch is read from: it cannot nest deeper.
    pub(crate) fn text_len(&self) -> usize {
        self.text.len() - self.start
    }

    /// Records that the message was checked to nest no deeper than `depth`.
    pub(crate) fn set_within_depth(&mut self, depth: usize) {
        self.within_depth = u32::try_from(depth).unwrap_or(u32::MAX);
    }

    /// Whether the patch surely nests no deeper than `depth`, known without
    /// reading it: from the check its message passed, or from its length.
    pub(crate) fn known_within(&self, depth: usize) -> bool {
        (self.within_depth != u32::MAX && self.within_depth as usize <= depth)
            || self.text_len() <= depth
    }

    /// The patch's text, and what its check recorded, if it did.
    pub(crate) fn tape(&self) -> Option<(&str, &Tape)> {
        Some((&self.text, self.tape.as_ref()?))
    }

    /// A reader at the start of the patch.
    pub(crate) fn reader(&self) -> Reader<'_> {
        Reader::starting_at(&self.text, self.start)
    }

    /// A merge of the patch: a reader, and what it must check before the
    /// first write.
    pub(crate) fn merging(&self) -> Merging<'_> {
        Merging {
            reader: self.reader(),
            // A patch read alone was checked whole when it was read.
            checked: self.form == Form::Patch,
            message: match self.form {
                Form::Patch => None,
                Form::Update(message) => Some(message),
            },
        }
    }
}

/// Writes the patch's value, compact. A patch read lazily whose text turns
/// out not to be JSON is an error of the serializer (so `to_string(&update)`
/// of such an update is an `Err`).
impl Serialize for MergeText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// Equal when they are the same text, or when they read to the same value
/// and do the same: whatever the spacing of their text, but never when one
/// names a member twice in an object (it merges both, which its value, keeping
/// the last, does not say). Comparing reads both texts.
impl PartialEq for MergeText {
    fn eq(&self, other: &Self) -> bool {
        let same_text =
            self.text[self.start..] == other.text[other.start..] && self.form == other.form;
        same_text || (self.same_as_value() && other.same_as_value() && self.value_eq(other))
    }
}

impl MergeText {
    /// Whether merging this text does what merging its value does: true
    /// unless an object of it names a member twice.
    pub(crate) fn same_as_value(&self) -> bool {
        !self.reader().names_a_member_twice(0).unwrap_or(false)
    }

    fn value_eq(&self, other: &Self) -> bool {
        matches!((self.to_value(), other.to_value()), (Ok(a), Ok(b)) if a == b)
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
    /// The rules of the message the patch is in, if it is in one.
    message: Option<&'static Message>,
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
        // Mostly, what is left is the end of the objects the patch is in
        // and of its message: nothing else to check.
        let closing = open + usize::from(self.message.is_some());
        if !fresh && self.reader.only_closing_braces_left(closing) {
            self.checked = true;
            return Ok(());
        }
        let mut ahead = self.reader.clone();
        for level in (1..=open).rev() {
            ahead.check_members(level, fresh && level == open)?;
        }
        if let Some(message) = self.message {
            (message.check_rest)(&mut ahead)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `text` read whole as one checked patch.
    fn read(text: &str) -> Option<MergeText> {
        let mut reader = Reader::new(text);
        let (span, _) = reader.checked_value().ok()?;
        reader.at_end().then(|| MergeText::checked(&text[span]))
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(read("1").unwrap().depth(), 0);
        assert_eq!(read("{}").unwrap().depth(), 1);
        assert_eq!(read(r#"{"a":[{"b":1}],"c":2}"#).unwrap().depth(), 3);
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
