//! Member names, shared: the records of a table name the same few fields a
//! million times, and each of them holds the one copy of each name.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;

/// A member name of a [`Map`](super::Map): its text, shared by every member
/// of that name made on this thread lately.
///
/// A record's names were each an allocation of their own: five of 32 bytes
/// for a five-field record, 160 MB in a table of a million, and each read
/// by a change to the record a line of its own to miss. Shared, they cost
/// the record 16 bytes each and the text of a field name stays in the
/// cache. The length sits in the pointer, so a scan of names compares
/// lengths without reading any text.
pub(super) type Name = Arc<str>;

/// How many names a thread remembers: the fields of a few record shapes.
const REMEMBERED: usize = 64;

/// Names longer than this are not remembered: an id or a sentence is
/// rarely repeated, and would only push field names out.
const LONGEST: usize = 32;

thread_local! {
    static RECENT: RefCell<[Option<Name>; REMEMBERED]> =
        const { RefCell::new([const { None }; REMEMBERED]) };
}

/// The name `text`, shared with the last one of that text made on this
/// thread when there is one. `repeated` says whether such names are likely
/// to recur (the members of a small object: a record's fields), rather than
/// be each new (the keys of a large one: row ids), which are not remembered,
/// so that a million ids do not push a record's fields out.
pub(super) fn name(text: &str, repeated: bool) -> Name {
    if !repeated || text.len() > LONGEST {
        return Name::from(text);
    }
    let slot = (foldhash::fast::FixedState::with_seed(0).hash_one(text) as usize) % REMEMBERED;
    RECENT
        .try_with(|recent| {
            let mut recent = recent.borrow_mut();
            match &recent[slot] {
                Some(name) if **name == *text => Name::clone(name),
                _ => {
                    let name = Name::from(text);
                    recent[slot] = Some(Name::clone(&name));
                    name
                }
            }
        })
        // The thread is ending: nothing to share with.
        .unwrap_or_else(|_| Name::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_shared_and_ids_are_not() {
        let a = name("status", true);
        let b = name("status", true);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "status");
        let id = name("r0000001", false);
        assert!(!Arc::ptr_eq(&id, &name("r0000001", false)));
        let long = "x".repeat(LONGEST + 1);
        assert!(!Arc::ptr_eq(&name(&long, true), &name(&long, true)));
    }

    #[test]
    fn names_that_share_a_slot_are_each_themselves() {
        let names: Vec<String> = (0..4 * REMEMBERED).map(|n| format!("f{n}")).collect();
        for _ in 0..2 {
            for text in &names {
                assert_eq!(&*name(text, true), text.as_str());
            }
        }
    }
}
