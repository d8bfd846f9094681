//! Member names, shared: the records of a table name the same few fields a
//! million times, and each of them holds the one copy of each name.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;

/// A member name of a [`Map`](super::Map): its text, shared by the members
/// of that name made on this thread lately (up to 512 names, two for each
/// of 256 hashes).
///
/// A record's names were each an allocation of their own: five of 32 bytes
/// for a five-field record, 160 MB in a table of a million, and each read
/// by a change to the record a line of its own to miss. Shared, they cost
/// the record 16 bytes each and the text of a field name stays in the
/// cache. The length sits in the pointer, so a scan of names compares
/// lengths without reading any text.
pub(super) type Name = Arc<str>;

/// How many names a thread remembers: the fields of a few record shapes
/// (of up to sixteen fields, the most a small object has), two to each of
/// [`SETS`] sets, so that two fields of one record whose hashes meet do
/// not push each other out at every record (three meeting in one set, which
/// would, is a chance of about 1 in 300 for a record of twelve fields, 1 in
/// 120 for sixteen; with 64 sets it was 1 in 20 for twelve).
const SETS: usize = 256;

/// Names longer than this are not remembered: an id or a sentence is
/// rarely repeated, and would only push field names out.
const LONGEST: usize = 32;

thread_local! {
    static RECENT: RefCell<[[Option<Name>; 2]; SETS]> =
        const { RefCell::new([const { [None, None] }; SETS]) };
}

/// The name `text`, shared with one of that text made on this thread
/// lately, when there is one. Only the members of small objects are named
/// so (a record's fields, which recur): the keys of a large one (row ids,
/// each new) sit in place, and are not remembered, so that a million ids do
/// not push a record's fields out. (A large object starts small, and its
/// first sixteen keys are remembered: a few slots.)
pub(super) fn name(text: &str) -> Name {
    if text.len() > LONGEST {
        return Name::from(text);
    }
    let set = set_of(text);
    RECENT
        .try_with(|recent| {
            let mut recent = recent.borrow_mut();
            let [newer, older] = &mut recent[set];
            if let Some(name) = newer.as_ref().filter(|name| ***name == *text) {
                return Name::clone(name);
            }
            // Found second, or made (the second dropped), the name goes
            // first and the first second.
            let name = match older.take() {
                Some(name) if *name == *text => name,
                _ => Name::from(text),
            };
            *older = newer.replace(Name::clone(&name));
            name
        })
        // The thread is ending: nothing to share with.
        .unwrap_or_else(|_| Name::from(text))
}

/// Which of the [`SETS`] sets remembers `text`.
fn set_of(text: &str) -> usize {
    (foldhash::fast::FixedState::with_seed(0).hash_one(text) as usize) % SETS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_shared_and_long_names_are_not() {
        let a = name("status");
        let b = name("status");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "status");
        let long = "x".repeat(LONGEST + 1);
        assert!(!Arc::ptr_eq(&name(&long), &name(&long)));
    }

    #[test]
    fn two_names_of_one_set_are_both_kept() {
        let first = "f0".to_owned();
        let second = (1..10_000)
            .map(|n| format!("f{n}"))
            .find(|text| set_of(text) == set_of(&first))
            .expect("a name of the same set");
        let (a, b) = (name(&first), name(&second));
        for _ in 0..3 {
            assert!(Arc::ptr_eq(&a, &name(&first)));
            assert!(Arc::ptr_eq(&b, &name(&second)));
        }
    }

    /// A name made while the thread's names are being dropped (by a
    /// thread-local's destructor that drops or builds a document) is made
    /// without them.
    #[test]
    fn names_are_made_while_the_thread_ends() {
        struct AtExit;
        impl Drop for AtExit {
            fn drop(&mut self) {
                let doc = crate::Document::from(serde_json::json!({"late": 1}));
                assert_eq!(doc["late"], 1);
            }
        }
        thread_local! {
            static AT_EXIT: AtExit = const { AtExit };
        }
        std::thread::spawn(|| {
            // Made before the names, so dropped after them where the
            // platform drops thread-locals last made first (Linux).
            AT_EXIT.with(|_| {});
            name("early");
        })
        .join()
        .expect("no panic at thread exit");
    }

    #[test]
    fn names_that_share_a_slot_are_each_themselves() {
        let names: Vec<String> = (0..8 * SETS).map(|n| format!("f{n}")).collect();
        for _ in 0..2 {
            for text in &names {
                assert_eq!(&*name(text), text.as_str());
            }
        }
    }
}
