//! [`Hashed`]: the members of a large object, in order, each found by its
//! name through one array of hashes and places.
//!
//! A large object is mostly a table: a million rows, each looked up by its
//! id once a change, at a cache line it misses for every link it follows.
//! An `IndexMap` follows four: its control bytes, its array of places, the
//! member, and the member's name (an allocation of its own). Here a lookup
//! follows two: one word of the index, which holds the hash's high half
//! beside the place, then the member, a cache line that holds its hash, its
//! name (in place, up to 24 bytes) and its value.

use std::hash::BuildHasher;

use super::KeyHasher;
use crate::document::{Document, Str};

/// A member: its name's hash, its name and its value, in one cache line.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(in crate::document) struct Member {
    hash: u64,
    /// Not to be changed in place: the index holds its hash.
    name: Str,
    pub(super) value: Document,
}

impl Member {
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn into_parts(self) -> (Str, Document) {
        (self.name, self.value)
    }
}

/// The members of an object, in order, with an index to find each by name.
///
/// The index is open addressing with linear probing, kept at most half
/// full: a word a slot, [`EMPTY`] or the high 32 bits of a member's hash
/// above its place. A member's first slot is its hash's highest bits, so
/// that the index grows by reading only itself (not the members, a line
/// each), and the bits below filter out nearly every other member met on
/// the way without reading it. A member removed leaves no mark: those after
/// it move back ([`Hashed::erase`]), so a lookup stops at the first empty slot.
#[derive(Clone)]
pub(super) struct Hashed {
    members: Vec<Member>,
    index: Box<[u64]>,
    /// `32 - log2(index.len())`: a tag shifted right by it is a first slot.
    shift: u32,
    hasher: KeyHasher,
}

/// A slot of the index that holds no member.
const EMPTY: u64 = u64::MAX;

/// The fewest slots an index has.
const SMALLEST: usize = 16;

/// The most slots an index has: a slot's place is 32 bits, its first slot
/// the tag's top bits. An object of 2^31 members (half of them) would take
/// 128 GiB of members alone; the state limits refuse one far sooner.
/// (Counted in `u64`: on a 32-bit target no object comes near.)
const MOST_SLOTS: u64 = 1 << 32;

/// The part of a hash an index slot keeps.
fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn slot(tag: u32, place: usize) -> u64 {
    (u64::from(tag) << 32) | place as u64
}

fn slot_tag(slot: u64) -> u32 {
    (slot >> 32) as u32
}

fn slot_place(slot: u64) -> usize {
    slot as u32 as usize
}

impl Hashed {
    /// No members, with room for `capacity` without growing.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let slots = capacity
            .saturating_mul(2)
            .max(SMALLEST)
            .checked_next_power_of_two()
            .filter(|&slots| slots as u64 <= MOST_SLOTS)
            .expect("an object of at most 2^31 members");
        Self {
            members: Vec::with_capacity(capacity),
            index: vec![EMPTY; slots].into_boxed_slice(),
            shift: 32 - slots.trailing_zeros(),
            hasher: KeyHasher::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    pub(super) fn members(&self) -> &[Member] {
        &self.members
    }

    pub(super) fn members_mut(&mut self) -> &mut [Member] {
        &mut self.members
    }

    pub(super) fn into_members(self) -> std::vec::IntoIter<Member> {
        self.members.into_iter()
    }

    fn mask(&self) -> usize {
        self.index.len() - 1
    }

    /// The first slot of a member whose hash has the tag `tag`.
    fn home(&self, tag: u32) -> usize {
        (tag >> self.shift) as usize
    }

    /// Where the member named `name` is in the order.
    #[inline]
    pub(super) fn place_of(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        let tag = tag_of(hash);
        let mut at = self.home(tag);
        loop {
            let slot = self.index[at];
            if slot == EMPTY {
                return None;
            }
            if slot_tag(slot) == tag {
                let member = &self.members[slot_place(slot)];
                if member.hash == hash && super::same_key(&member.name, name) {
                    return Some(slot_place(slot));
                }
            }
            at = (at + 1) & self.mask();
        }
    }

    /// The slot that holds `place`, whose member's hash is `hash`.
    fn slot_holding(&self, hash: u64, place: usize) -> usize {
        let mut at = self.home(tag_of(hash));
        for _ in 0..self.index.len() {
            let slot = self.index[at];
            if slot != EMPTY && slot_place(slot) == place {
                return at;
            }
            at = (at + 1) & self.mask();
        }
        unreachable!("every member has a slot")
    }

    /// Adds a member named `name`, which the object does not have, last;
    /// its place.
    pub(super) fn push(&mut self, name: &str, value: Document) -> usize {
        if (self.members.len() + 1) * 2 > self.index.len() {
            self.grow();
        }
        let place = self.members.len();
        let hash = self.hasher.hash_one(name);
        self.settle(slot(tag_of(hash), place));
        self.members.push(Member {
            hash,
            name: Str::from(name),
            value,
        });
        place
    }

    /// Puts `slot` into the first empty slot from its first.
    fn settle(&mut self, slot: u64) {
        let mut at = self.home(slot_tag(slot));
        while self.index[at] != EMPTY {
            at = (at + 1) & self.mask();
        }
        self.index[at] = slot;
    }

    /// Doubles the index, from itself alone.
    fn grow(&mut self) {
        let slots = self.index.len() * 2;
        assert!(
            slots as u64 <= MOST_SLOTS,
            "an object of at most 2^31 members"
        );
        let old = std::mem::replace(&mut self.index, vec![EMPTY; slots].into_boxed_slice());
        self.shift -= 1;
        for slot in old.iter().copied().filter(|&slot| slot != EMPTY) {
            self.settle(slot);
        }
    }

    /// Empties the slot `hole`: the slots after it that may move back do.
    fn erase(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let slot = self.index[at];
            if slot == EMPTY {
                break;
            }
            // The slot may fill the hole when its first slot is not
            // between the hole and it: it is as far from its first slot.
            let home = self.home(slot_tag(slot));
            if at.wrapping_sub(home) & mask >= at.wrapping_sub(hole) & mask {
                self.index[hole] = slot;
                hole = at;
            }
        }
        self.index[hole] = EMPTY;
    }

    /// Points the slot of the member at `from` to `to`.
    fn repoint(&mut self, from: usize, to: usize) {
        let at = self.slot_holding(self.members[from].hash, from);
        self.index[at] = slot(slot_tag(self.index[at]), to);
    }

    /// Removes the member at `place`; the last member takes its place.
    pub(super) fn swap_remove(&mut self, place: usize) -> Member {
        let at = self.slot_holding(self.members[place].hash, place);
        self.erase(at);
        let last = self.members.len() - 1;
        if place != last {
            self.repoint(last, place);
        }
        self.members.swap_remove(place)
    }

    /// Swaps the members at `a` and `b` in the order.
    pub(super) fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (at_a, at_b) = (
            self.slot_holding(self.members[a].hash, a),
            self.slot_holding(self.members[b].hash, b),
        );
        self.index[at_a] = slot(slot_tag(self.index[at_a]), b);
        self.index[at_b] = slot(slot_tag(self.index[at_b]), a);
        self.members.swap(a, b);
    }

    /// Keeps the first `len` members.
    pub(super) fn truncate(&mut self, len: usize) {
        if len == 0 {
            self.members.clear();
            self.index.fill(EMPTY);
            return;
        }
        while self.members.len() > len {
            let last = self.members.len() - 1;
            let at = self.slot_holding(self.members[last].hash, last);
            self.erase(at);
            self.members.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Whatever was done, every member is found at its place, the index has
    /// a slot for each member and no other, and a name not there is not
    /// found.
    fn check(hashed: &Hashed, model: &[String]) {
        assert_eq!(hashed.len(), model.len());
        for (place, name) in model.iter().enumerate() {
            assert_eq!(&*hashed.members[place].name, name.as_str());
            assert_eq!(hashed.place_of(name), Some(place), "{name}");
        }
        let taken = hashed.index.iter().filter(|&&slot| slot != EMPTY).count();
        assert_eq!(taken, model.len());
        assert!(taken * 2 <= hashed.index.len(), "at most half full");
        assert_eq!(hashed.place_of("not a member"), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u16),
        Remove(u16),
        Swap(u16, u16),
        Truncate(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u16>().prop_map(Op::Push),
            3 => any::<u16>().prop_map(Op::Remove),
            1 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Op::Swap(a, b)),
            1 => any::<u16>().prop_map(Op::Truncate),
        ]
    }

    proptest! {
        /// Any run of additions, removals, swaps and truncations agrees
        /// with a plain list of the names, including an index made tiny so
        /// that members meet and probes wrap around its end.
        #[test]
        fn the_index_agrees_with_a_list(ops in proptest::collection::vec(op(), 0..400)) {
            let mut hashed = Hashed::with_capacity(0);
            let mut model: Vec<String> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(n) => {
                        // Names of every length, short and past 24 bytes.
                        let name = format!("{n}").repeat(usize::from(n % 9) + 1);
                        if !model.contains(&name) {
                            assert_eq!(hashed.push(&name, Document::Null), model.len());
                            model.push(name);
                        }
                    }
                    Op::Remove(n) if !model.is_empty() => {
                        let place = usize::from(n) % model.len();
                        let gone = hashed.swap_remove(place);
                        assert_eq!(&*gone.name, model.swap_remove(place).as_str());
                    }
                    Op::Swap(a, b) if !model.is_empty() => {
                        let (a, b) = (usize::from(a) % model.len(), usize::from(b) % model.len());
                        hashed.swap(a, b);
                        model.swap(a, b);
                    }
                    Op::Truncate(n) => {
                        let len = model.len().saturating_sub(usize::from(n % 8));
                        hashed.truncate(len);
                        model.truncate(len);
                    }
                    _ => {}
                }
                check(&hashed, &model);
            }
        }
    }

    #[test]
    fn a_member_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Member>(), 64);
        assert_eq!(std::mem::align_of::<Member>(), 64);
    }
}
