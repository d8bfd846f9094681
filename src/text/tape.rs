//! [`Tape`]: what a check of JSON text found, kept so that the text need not
//! be read a second time.
//!
//! A merge patch read strictly is checked whole when its update is read, and
//! merged later. Reading it again to merge it would pass every key and number
//! twice; the check records instead, in one flat list, the tokens it met:
//! numbers already read, the spans of keys and strings in the text, and the
//! spans of arrays (which a merge replaces whole, so they are read once more,
//! into the value they become, when applied).

use std::borrow::Cow;

use serde_json::Number;

use super::{Reader, spare};

/// The tokens of one checked JSON value, in text order: objects open with
/// [`Entry::Object`], hold a [`Entry::Key`] before each member's value, and
/// close with [`Entry::End`].
///
/// A tape lives from the reading of an update to its merge, and then its
/// buffer is kept for the next tape made on the thread (see `text::spare`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tape {
    entries: Vec<Entry>,
}

/// One token of a [`Tape`].
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    /// `{`: keys and values follow, up to the matching [`Entry::End`].
    Object,
    /// The `}` of the innermost open object.
    End,
    /// A member's key.
    Key(Span),
    Null,
    Bool(bool),
    Number(Number),
    String(Span),
    /// An array, left as its text.
    Array(Span),
}

/// Where a token is in the text the tape was recorded from: for a string or
/// a key, its content between the quotes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    start: u32,
    end: u32,
    /// Whether the string holds escapes, to decode when it is read.
    escaped: bool,
}

/// The longest message whose patch is recorded: past it, a tape (an entry
/// is larger than the few bytes of text it stands for) would cost more
/// memory than it saves time, a long patch being read mostly for its many
/// values rather than its few keys. It keeps spans well within `u32`s.
pub(crate) const LONGEST_TAPED: usize = 16 << 10;

impl Tape {
    /// An empty tape for a value of at most `len` bytes of text.
    pub(crate) fn for_text(len: usize) -> Self {
        // Room for a token every eight bytes, and a few more: a short patch
        // mostly records without growing, and a long one (a tape is four
        // times the text it stands for, token for token) grows only as far
        // as it needs.
        let mut entries = spare::take_tape();
        entries.reserve(len / 8 + 8);
        Self { entries }
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

impl Drop for Tape {
    fn drop(&mut self) {
        spare::keep_tape(std::mem::take(&mut self.entries));
    }
}

impl Span {
    /// The span from `start` to `end` of text that starts at `base`.
    pub(crate) fn new(base: usize, start: usize, end: usize, escaped: bool) -> Self {
        // The text is at most `LONGEST_TAPED` long: the offsets fit.
        let offset = |at: usize| u32::try_from(at - base).unwrap_or(u32::MAX);
        Self {
            start: offset(start),
            end: offset(end),
            escaped,
        }
    }

    /// The text of the span in `text`, the text the tape was recorded from.
    #[inline]
    pub(crate) fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start as usize..self.end as usize]
    }

    /// A string's or a key's content, decoded, from `text`, the text the
    /// tape was recorded from.
    #[inline]
    pub(crate) fn string<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.escaped {
            return Cow::Borrowed(self.text(text));
        }
        // Checked when it was recorded: decoding it cannot fail.
        let quoted = &text[self.start as usize - 1..self.end as usize + 1];
        match Reader::new(quoted).token() {
            Ok(super::Token::String(decoded)) => decoded,
            _ => unreachable!("a string checked when the tape was recorded"),
        }
    }
}
