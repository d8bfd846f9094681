//! The buffer of a dropped tape, kept per thread for the next tape made
//! there.
//!
//! Every update read strictly records a tape that is dropped once merged, a
//! moment later: an allocation and a free per update, which for a one-field
//! patch cost a fourteenth of reading and merging it. A thread keeps one
//! small buffer instead, and the next tape made on it takes it. A tape
//! dropped on another thread than it was made on (a reader task handing
//! updates to a consumer) stocks that thread, and a large buffer is freed
//! as before, so what is kept stays small.

use std::cell::Cell;

use super::Entry;

/// The largest buffer kept, in entries: a few kilobytes.
const LARGEST_KEPT: usize = 256;

thread_local! {
    static SPARE: Cell<Vec<Entry>> = const { Cell::new(Vec::new()) };
}

/// The empty buffer this thread kept, if it has one (else one that holds
/// nothing yet).
pub(super) fn take() -> Vec<Entry> {
    SPARE.try_with(Cell::take).unwrap_or_default()
}

/// Keeps `entries`'s buffer for the next tape, if it is small: in place of
/// the one kept before, if any, which is freed.
pub(super) fn keep(mut entries: Vec<Entry>) {
    if entries.capacity() == 0 || entries.capacity() > LARGEST_KEPT {
        return;
    }
    entries.clear();
    // During the thread's exit the store may be gone: the buffer is freed.
    let _ = SPARE.try_with(|spare| spare.set(entries));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_buffer_is_kept_and_taken_again() {
        let mut entries = Vec::with_capacity(8);
        entries.push(Entry::Null);
        let place = entries.as_ptr();
        keep(entries);
        let again = take();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), place);
        assert_eq!(take().capacity(), 0);
    }

    #[test]
    fn a_large_buffer_is_freed() {
        take();
        keep(Vec::with_capacity(LARGEST_KEPT + 1));
        assert_eq!(take().capacity(), 0);
    }
}
