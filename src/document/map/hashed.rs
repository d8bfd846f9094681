//! [`Hashed`]: the members of a large object, in order, each found by its
//! name through one array of hashes and places.
//!
//! A large object is mostly a table: a million rows, each looked up by its
//! id once a change, at a cache line it misses for every link it follows.
//! An `IndexMap` follows four: its control bytes, its array of places, the
//! member, and the member's name (an allocation of its own). Here a lookup
//! follows two: one word of the index, which holds the hash's high half
//! beside the place, then the member, a cache line that holds its hash, its
//! name (in place, up to 24 bytes) and its value. A longer name (a UUID) is
//! an allocation, which a member added with a record that holds the same
//! text (its `id`) shares with that record ([`shared_name`]): the lookup
//! reads it, and so the record's decode finds it in the cache.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::KeyHasher;
use crate::document::string::IN_PLACE;
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

    /// Whether the member's name shares its text with the value's string
    /// member `field`.
    #[cfg(test)]
    pub(super) fn shares_name_with(&self, field: &str) -> bool {
        match &self.value[field] {
            Document::String(text) => self.name.shares_with(text),
            _ => false,
        }
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

/// The name `name` of a member whose value is `value`. A name too long to
/// keep in place (a UUID) that a record (a small object) also holds as a
/// string member (its `id`) is one allocation, shared by the two: a change
/// to the row compares the name to find it, and its decode copies the
/// member, and with one copy of the text, the second read is of a line the
/// first brought in, not one more to miss.
fn shared_name(name: &str, value: &mut Document) -> Str {
    if name.len() > IN_PLACE {
        if let Document::Object(record) = value {
            let same = record
                .few_members_mut()
                .iter_mut()
                .find_map(|(_, member)| match member {
                    Document::String(text) if text.as_str() == name => Some(text),
                    _ => None,
                });
            if let Some(text) = same {
                let shared = Arc::<str>::from(name);
                *text = Str::shared(Arc::clone(&shared));
                return Str::shared(shared);
            }
        }
    }
    Str::from(name)
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
        self.find(name, |_| {}, |_| {})
    }

    /// Where the member named `name` is, as [`Hashed::place_of`], reading
    /// ahead what a change to it reads next (see [`Map::index_reading_ahead`]).
    ///
    /// [`Map::index_reading_ahead`]: super::Map::index_reading_ahead
    pub(super) fn place_reading_ahead(&self, name: &str, ahead: &dyn Fn(usize)) -> Option<usize> {
        self.find(name, ahead, |member| member.value.read_ahead())
    }

    /// Where the member named `name` is. Each place whose tag matches is
    /// told to `at_place` before its member is read, and each member whose
    /// hash matches to `at_member` before its name is compared.
    #[inline]
    fn find(
        &self,
        name: &str,
        at_place: impl Fn(usize),
        at_member: impl Fn(&Member),
    ) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        let tag = tag_of(hash);
        let mut at = self.home(tag);
        loop {
            let slot = self.index[at];
            if slot == EMPTY {
                return None;
            }
            if slot_tag(slot) == tag {
                at_place(slot_place(slot));
                let member = &self.members[slot_place(slot)];
                if member.hash == hash {
                    at_member(member);
                    if super::same_key(&member.name, name) {
                        return Some(slot_place(slot));
                    }
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
    pub(super) fn push(&mut self, name: &str, mut value: Document) -> usize {
        if (self.members.len() + 1) * 2 > self.index.len() {
            self.grow();
        }
        let place = self.members.len();
        let hash = self.hasher.hash_one(name);
        self.settle(slot(tag_of(hash), place));
        let name = shared_name(name, &mut value);
        self.members.push(Member { hash, name, value });
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
            // Reading ahead finds the same place, and tells it.
            let told = std::cell::Cell::new(None);
            let ahead = |at| told.set(Some(at));
            assert_eq!(hashed.place_reading_ahead(name, &ahead), Some(place));
            assert_eq!(told.get(), Some(place), "{name}");
        }
        let taken = hashed.index.iter().filter(|&&slot| slot != EMPTY).count();
        assert_eq!(taken, model.len());
        assert!(taken * 2 <= hashed.index.len(), "at most half full");
        assert_eq!(hashed.place_of("not a member"), None);
        assert_eq!(hashed.place_reading_ahead("not a member", &|_| {}), None);
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

    /// A name past 24 bytes that its record holds as a string member is
    /// one allocation with it; no other name is shared, and a member set
    /// to other text stops sharing without touching the name.
    #[test]
    fn a_long_name_its_record_holds_is_shared() {
        let uuid = "6f1c2d9e-0a4b-4c3d-8e5f-7a6b5c4d3e2f";
        let other = "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b";
        let record = |id: &str| Document::from(serde_json::json!({"n": 1, "id": id}));
        let id_of = |hashed: &Hashed, place: usize| match &hashed.members[place].value["id"] {
            Document::String(id) => id.clone(),
            _ => unreachable!(),
        };
        let mut hashed = Hashed::with_capacity(0);
        hashed.push(uuid, record(uuid));
        hashed.push(other, record(uuid));
        hashed.push("r0000001", record("r0000001"));
        hashed.push("short", Document::String(Str::from(uuid)));
        let [shared, unshared, short, _] = &hashed.members[..] else {
            unreachable!()
        };
        assert!(shared.name.shares_with(&id_of(&hashed, 0)));
        assert!(!unshared.name.shares_with(&id_of(&hashed, 1)));
        assert!(!short.name.shares_with(&id_of(&hashed, 2)));
        assert_eq!(hashed.members[0].value, record(uuid));

        // Set to the same text (a merge that repeats the id): still one.
        id_of_first(&mut hashed).set(uuid);
        assert!(hashed.members[0].name.shares_with(&id_of(&hashed, 0)));
        // Set to other text: its own copy; the name is as it was.
        id_of_first(&mut hashed).set(other);
        assert_eq!(hashed.members[0].value, record(other));
        assert_eq!(&*hashed.members[0].name, uuid);
        assert_eq!(hashed.place_of(uuid), Some(0));
    }

    /// The first member's record's `id`, to set.
    fn id_of_first(hashed: &mut Hashed) -> &mut Str {
        let Document::Object(fields) = &mut hashed.members[0].value else {
            unreachable!("a record")
        };
        let Some(Document::String(id)) = fields.get_mut("id") else {
            unreachable!("an id")
        };
        id
    }

    #[test]
    fn a_member_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Member>(), 64);
        assert_eq!(std::mem::align_of::<Member>(), 64);
    }
}
