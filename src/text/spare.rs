//! The buffers of the last updates dropped on a thread, kept for the next
//! updates read there.
//!
//! An update read from text owns a copy of its text and, read strictly, the
//! tape of its patch; both are dropped once it is merged, a moment later.
//! Allocating and freeing them per update cost, for a one-field patch, a
//! seventh of reading and merging it. A thread keeps the buffers instead,
//! and the next update read on it takes them: one tape, and two texts (a
//! table's update, merged, hands each row its part of the text as a copy,
//! made while the update still holds its own). An update dropped on another
//! thread than it was read on (a reader task handing updates to a consumer)
//! stocks that thread; a large buffer is freed as before, so what a thread
//! keeps stays small.

use std::cell::Cell;
use std::thread::LocalKey;

use super::Entry;

/// The largest tape buffer kept, in entries.
pub(super) const LARGEST_TAPE: usize = 256;

/// The largest text buffer kept, in bytes.
const LARGEST_TEXT: usize = 4 << 10;

thread_local! {
    static TAPE: Cell<Vec<Entry>> = const { Cell::new(Vec::new()) };
    static TEXTS: [Cell<String>; 2] = const { [Cell::new(String::new()), Cell::new(String::new())] };
}

/// The empty tape buffer this thread kept, if any (else one that holds
/// nothing yet).
pub(super) fn take_tape() -> Vec<Entry> {
    take(&TAPE)
}

/// Keeps `entries`'s buffer for the next tape, if it is small.
pub(super) fn keep_tape(mut entries: Vec<Entry>) {
    if entries.capacity() <= LARGEST_TAPE {
        entries.clear();
        keep(&TAPE, entries);
    }
}

/// An empty text buffer this thread kept, the newest, if any (else one
/// that holds nothing yet).
pub(super) fn take_text() -> String {
    TEXTS
        .try_with(|[first, second]| {
            let text = first.take();
            if text.capacity() > 0 {
                text
            } else {
                second.take()
            }
        })
        .unwrap_or_default()
}

/// Keeps `text`'s buffer for the next text, if it is small (and is one:
/// an empty `String` has none, and displaces nothing).
pub(super) fn keep_text(mut text: String) {
    if text.capacity() > 0 && text.capacity() <= LARGEST_TEXT {
        text.clear();
        // The newest buffer into the first slot, the one it displaces into
        // the second, whose buffer is freed. (During the thread's exit the
        // slots may be gone: the buffer is freed.)
        let _ = TEXTS.try_with(|[first, second]| {
            let kept = first.replace(text);
            if kept.capacity() > 0 {
                second.set(kept);
            }
        });
    }
}

fn take<T: Default>(slot: &'static LocalKey<Cell<T>>) -> T {
    slot.try_with(Cell::take).unwrap_or_default()
}

/// Puts `buffer` in `slot`, in place of the one kept before, which is freed.
fn keep<T>(slot: &'static LocalKey<Cell<T>>, buffer: T) {
    // During the thread's exit the slot may be gone: the buffer is freed.
    let _ = slot.try_with(|slot| slot.set(buffer));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_buffer_is_kept_and_taken_again() {
        let mut entries = Vec::with_capacity(8);
        entries.push(Entry::Null);
        let place = entries.as_ptr();
        keep_tape(entries);
        let again = take_tape();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), place);
        assert_eq!(take_tape().capacity(), 0);

        let text = String::from("{\"a\":1}");
        let place = text.as_ptr();
        keep_text(text);
        let again = take_text();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), place);
    }

    #[test]
    fn two_texts_are_kept_and_a_third_is_freed() {
        take_text();
        take_text();
        let texts: Vec<String> = (0..3).map(|_| String::with_capacity(16)).collect();
        let places: Vec<*const u8> = texts.iter().map(|text| text.as_ptr()).collect();
        for text in texts {
            keep_text(text);
        }
        // The newest first; the first kept was freed.
        let (newest, next) = (take_text(), take_text());
        assert_eq!(newest.as_ptr(), places[2]);
        assert_eq!(next.as_ptr(), places[1]);
        assert_eq!(take_text().capacity(), 0);
    }

    #[test]
    fn a_buffer_kept_beside_one_in_the_second_slot_is_taken_first() {
        take_text();
        take_text();
        let (older, newer) = (String::with_capacity(16), String::with_capacity(16));
        let (older_place, newer_place) = (older.as_ptr(), newer.as_ptr());
        keep_text(older);
        keep_text(newer);
        // As an update and its row's part leave it: one buffer taken, the
        // other still kept, one given back.
        let taken = take_text();
        assert_eq!(taken.as_ptr(), newer_place);
        keep_text(taken);
        let (first, second) = (take_text(), take_text());
        assert_eq!(first.as_ptr(), newer_place);
        assert_eq!(second.as_ptr(), older_place);
    }

    #[test]
    fn an_empty_string_displaces_no_buffer() {
        take_text();
        take_text();
        let text = String::with_capacity(16);
        let place = text.as_ptr();
        keep_text(text);
        keep_text(String::new());
        let kept = take_text();
        assert_eq!(kept.as_ptr(), place);
    }

    #[test]
    fn a_large_buffer_is_freed() {
        take_tape();
        keep_tape(Vec::with_capacity(LARGEST_TAPE + 1));
        assert_eq!(take_tape().capacity(), 0);
        take_text();
        take_text();
        keep_text(String::with_capacity(LARGEST_TEXT + 1));
        assert_eq!(take_text().capacity(), 0);
    }
}
