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

/// The most memory a kept [`Tape`] may take per byte of the text it
/// stands for (past a small allowance): about what a patch of short members
/// with numbers takes.
const MOST_TAPE_PER_TEXT_BYTE: usize = 6;

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

    /// This tape, to keep beside `text_len` bytes of text until the merge;
    /// `None` where it would hold far more memory than its text (then the
    /// patch is merged from its text, as a long one is).
    ///
    /// A tape costs a few times its text (an entry is 24 bytes, for a few
    /// bytes of text), and an update may wait a while before it is merged:
    /// in a handoff's backlog, a subscriber's queue. So a tape of more than
    /// [`MOST_TAPE_PER_TEXT_BYTE`] times its text (past a small allowance),
    /// as a patch of many empty objects makes, is not kept; and the room a
    /// tape reserved but did not use is given back when it is large (past
    /// what a thread keeps for the next tape, which small tapes reuse).
    #[inline]
    pub(crate) fn kept_for(mut self, text_len: usize) -> Option<Self> {
        let bytes = self.entries.len() * std::mem::size_of::<Entry>();
        if bytes > MOST_TAPE_PER_TEXT_BYTE * text_len + 1024 {
            return None;
        }
        let capacity = self.entries.capacity();
        if capacity > spare::LARGEST_TAPE && capacity > 2 * self.entries.len() {
            self.entries.shrink_to_fit();
        }
        Some(self)
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

    /// Where the span starts in the text the tape was recorded from.
    pub(crate) fn start(&self) -> usize {
        self.start as usize
    }

    /// Where the span ends in the text the tape was recorded from.
    pub(crate) fn end(&self) -> usize {
        self.end as usize
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{Document, Limits, Patch, Update};

    /// The tape `update`'s patch kept, if it kept one: its entries and the
    /// room it holds for them.
    fn tape_of(update: &Update) -> Option<(usize, usize)> {
        let Patch::Merge(patch) = &update.patch else {
            return None;
        };
        let (_, tape) = patch.as_text()?.tape()?;
        Some((tape.entries.len(), tape.entries.capacity()))
    }

    fn read(patch: &str) -> Update {
        let text = format!(r#"{{"seq":1,"merge":{patch}}}"#);
        Limits::default().parse_update(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_usual_patch_keeps_its_tape() {
        let update = read(r#"{"AAPL":{"price":190.25,"ts":1700000000}}"#);
        assert!(tape_of(&update).is_some());
    }

    #[test]
    fn a_tape_far_larger_than_its_text_is_not_kept_and_the_patch_still_merges() {
        let members: Vec<String> = (0..1_400).map(|n| format!(r#""{n}":{{}}"#)).collect();
        let patch = format!("{{{}}}", members.join(","));
        assert!(patch.len() < super::LONGEST_TAPED);
        let update = read(&patch);
        assert_eq!(tape_of(&update), None, "{} bytes of patch", patch.len());
        let mut state = Document::from(json!({"0": {"a": 1}, "x": 1}));
        state.apply(&update.patch).unwrap();
        // An empty object merged into one changes nothing in it (RFC 7396).
        assert_eq!(state["0"], json!({"a": 1}));
        assert_eq!(state["1399"], json!({}));
        assert_eq!(state["x"], json!(1));
    }

    #[test]
    fn a_long_patch_of_few_tokens_gives_back_the_room_it_did_not_use() {
        let patch = format!(r#"{{"note":"{}"}}"#, "x".repeat(15_000));
        let update = read(&patch);
        let (entries, capacity) = tape_of(&update).expect("a tape of four entries is kept");
        assert_eq!(entries, 4);
        assert!(
            capacity <= super::spare::LARGEST_TAPE,
            "{capacity} entries of room"
        );
    }
}
