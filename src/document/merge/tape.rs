//! A merge patch merged from the [`Tape`] its check recorded: the same merge
//! as from its text (each member in order, `null` deleting, objects merging
//! deeply), with nothing read twice.

use std::slice;

use crate::document::{Document, Map};
use crate::text::{Entry, Reader, Tape};

impl Document {
    /// Merges the patch recorded on `tape` from `text`. It cannot fail: the
    /// text was checked whole when it was recorded.
    pub(super) fn merge_tape(&mut self, text: &str, tape: &Tape) {
        let mut entries = tape.entries().iter();
        self.merge_entries(text, &mut entries);
    }

    /// Merges the value `entries` are at.
    fn merge_entries(&mut self, text: &str, entries: &mut slice::Iter<'_, Entry>) {
        match next(entries) {
            Entry::Object => self.object_for_merge().merge_members(text, entries),
            Entry::Number(new) => match self {
                Self::Number(number) => number.clone_from(new),
                _ => *self = Self::Number(new.clone()),
            },
            // A status text that changes at every update costs no allocation.
            Entry::String(span) => {
                let new = span.string(text);
                match self {
                    Self::String(string) => string.set(&new),
                    _ => *self = Self::String(new.into()),
                }
            }
            Entry::Null => *self = Self::Null,
            Entry::Bool(value) => *self = Self::Bool(*value),
            Entry::Array(span) => *self = array(span.text(text)),
            Entry::Key(_) | Entry::End => unreachable!("a value starts a recorded value"),
        }
    }
}

impl Map {
    /// Merges an object's members from `entries`, up to its end.
    fn merge_members(&mut self, text: &str, entries: &mut slice::Iter<'_, Entry>) {
        loop {
            let key = match next(entries) {
                Entry::Key(key) => key.string(text),
                Entry::End => return,
                _ => unreachable!("a key or the end of an object"),
            };
            if let Some(Entry::Null) = entries.as_slice().first() {
                entries.next();
                self.swap_remove(&key);
                continue;
            }
            match self.get_mut(&key) {
                Some(slot) => slot.merge_entries(text, entries),
                None => {
                    // A new member: an object patch merged into nothing, so
                    // its `null` members vanish.
                    let mut new = Document::Null;
                    new.merge_entries(text, entries);
                    self.insert(key, new);
                }
            }
        }
    }
}

/// The next entry of a tape that was recorded whole.
fn next<'t>(entries: &mut slice::Iter<'t, Entry>) -> &'t Entry {
    entries
        .next()
        .unwrap_or_else(|| unreachable!("a tape holds whole values"))
}

/// An array of a patch, from its checked text: it replaces whatever is
/// there, `null` items kept.
fn array(text: &str) -> Document {
    let mut reader = Reader::new(text);
    reader
        .token()
        .and_then(|token| Document::read(token, &mut reader, 0))
        .unwrap_or_else(|_| unreachable!("an array checked when the tape was recorded"))
}
