//! [`Shift`]: how a change moves the members of the state's object, told
//! before the change from what each of its operations does.
//!
//! A [`Map`] keeps its members in order: a new member goes to the end, and a
//! removed one's place goes to the last member. A table that keeps each row
//! at its member's place repeats these moves to stay in step; [`Order`]
//! works them out from the state before the change without copying it: only
//! the members the change moves are written down.

use std::collections::HashMap;

use json_patch::PatchOperation;
use json_patch::jsonptr::Pointer;
use serde_json::Value;

use crate::Document;
use crate::document::Map;

/// One move of the members of the state's object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shift {
    /// A member was added at the end.
    Appended,
    /// The member at this place was removed, and the last member took its
    /// place (unless it was the last).
    Removed(usize),
}

/// Told the place of each member of the object that a change names, as
/// the order finds it, before the change is applied (as soon as the
/// object's index holds it: see [`Map::index_reading_ahead`]; now and then
/// also a place whose member turns out to have another name, so what it
/// is told is a hint). A table
/// whose typed rows sit at the same places reads the row's slot then: at a
/// million rows the slot and the member are each a cache miss, and read
/// there they are waited for together, where the slot read after the merge
/// was waited for alone (at a million rows of 8-byte ids a change 5–10 %
/// faster).
pub(crate) type Ahead<'a> = &'a dyn Fn(usize);

/// The members of a merge patch's object, for [`Order::merged`]: each
/// name, and whether it is `null`.
pub(super) fn patch_members(
    members: &serde_json::Map<String, Value>,
) -> impl Iterator<Item = (&str, bool)> {
    members
        .iter()
        .map(|(key, member)| (key.as_str(), member.is_null()))
}

/// The order of an object's members while a change is worked through.
pub(super) struct Order<'a> {
    /// The object before the change (empty when the state is not one).
    before: Option<&'a Map>,
    len: usize,
    /// Where each member the change moved is now; `None` when it is gone.
    places: HashMap<String, Option<usize>>,
    /// Which member is at each place the change wrote.
    members: HashMap<usize, String>,
    shifts: Vec<Shift>,
    ahead: Ahead<'a>,
}

impl<'a> Order<'a> {
    /// The order of `state`'s members, before a change; `ahead` is told
    /// where each member found is (a hint: see [`Ahead`]).
    #[inline]
    pub(super) fn of(state: &'a Document, ahead: Ahead<'a>) -> Self {
        let before = state.as_object();
        Self {
            before,
            len: before.map_or(0, Map::len),
            places: HashMap::new(),
            members: HashMap::new(),
            shifts: Vec::new(),
            ahead,
        }
    }

    /// The moves a merge patch of these members makes: a `null` removes
    /// its member, anything else sets it (in place, or added at the end).
    /// `members` are the patch's members in order, each its name and
    /// whether it is `null`.
    pub(super) fn merged<'k>(
        mut self,
        members: impl IntoIterator<Item = (&'k str, bool)>,
    ) -> Vec<Shift> {
        for (key, null) in members {
            match null {
                true => self.remove(key),
                false => self.set(key),
            }
        }
        self.shifts
    }

    /// The moves these JSON Patch operations make: only those whose path
    /// (or, for a `move`, source) is a member of the object itself move
    /// anything. A `move` takes its member out, then sets the other.
    pub(super) fn patched(mut self, ops: &json_patch::Patch) -> Vec<Shift> {
        for op in &ops.0 {
            match op {
                PatchOperation::Add(op) => self.set_at(&op.path),
                PatchOperation::Copy(op) => self.set_at(&op.path),
                PatchOperation::Remove(op) => self.remove_at(&op.path),
                PatchOperation::Move(op) => {
                    self.remove_at(&op.from);
                    self.set_at(&op.path);
                }
                PatchOperation::Replace(_) | PatchOperation::Test(_) => {}
            }
        }
        self.shifts
    }

    fn set_at(&mut self, path: &Pointer) {
        if let Some(key) = member(path) {
            self.set(&key);
        }
    }

    fn remove_at(&mut self, path: &Pointer) {
        if let Some(key) = member(path) {
            self.remove(&key);
        }
    }

    /// Where the member `key` is now.
    fn place(&self, key: &str) -> Option<usize> {
        match self.places.get(key) {
            Some(place) => *place,
            None => self.before?.index_reading_ahead(key, self.ahead),
        }
    }

    /// The member at `place` now, which is within the object.
    fn member_at(&self, place: usize) -> String {
        match self.members.get(&place) {
            Some(key) => key.clone(),
            None => self
                .before
                .and_then(|before| before.get_index(place))
                .map(|(key, _)| key.to_owned())
                .expect("a place no change wrote holds the member it held before"),
        }
    }

    fn set(&mut self, key: &str) {
        if self.place(key).is_some() {
            return;
        }
        let place = self.len;
        self.len += 1;
        self.members.insert(place, key.to_owned());
        self.places.insert(key.to_owned(), Some(place));
        self.shifts.push(Shift::Appended);
    }

    fn remove(&mut self, key: &str) {
        let Some(place) = self.place(key) else {
            return;
        };
        let last = self.len - 1;
        if place != last {
            let moved = self.member_at(last);
            self.members.insert(place, moved.clone());
            self.places.insert(moved, Some(place));
        }
        self.members.remove(&last);
        self.places.insert(key.to_owned(), None);
        self.len = last;
        self.shifts.push(Shift::Removed(place));
    }
}

/// The member of the object a path names, when it names one (not the root,
/// not a place inside a member).
fn member(path: &Pointer) -> Option<String> {
    let (first, rest) = path.split_front()?;
    rest.is_root().then(|| first.decoded().into_owned())
}

#[cfg(test)]
/// The member names of `before` moved by `shifts`, each member added
/// named as `after` names the member at its place.
pub(super) fn shifted(before: &Document, shifts: &[Shift], after: &Document) -> Vec<String> {
    let mut keys: Vec<Option<String>> = before
        .as_object()
        .map(|map| map.keys().map(|key| Some(key.to_owned())).collect())
        .unwrap_or_default();
    for shift in shifts {
        match shift {
            Shift::Appended => keys.push(None),
            Shift::Removed(place) => {
                keys.swap_remove(*place);
            }
        }
    }
    let names = after.as_object().unwrap();
    keys.into_iter()
        .enumerate()
        .map(|(place, key)| key.unwrap_or_else(|| names.get_index(place).unwrap().0.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::Patch;

    fn object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map("[a-f]", 0..3i64, 0..6)
            .prop_map(|map| Value::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect()))
    }

    fn merge_patch() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(
            "[a-h]",
            prop_oneof![Just(Value::Null), (0..3i64).prop_map(Value::from)],
            0..6,
        )
        .prop_map(|map| Value::Object(map.into_iter().collect()))
    }

    fn op() -> impl Strategy<Value = Value> {
        let key = "[a-h]";
        prop_oneof![
            (key, 0..3i64)
                .prop_map(|(k, v)| json!({"op": "add", "path": format!("/{k}"), "value": v})),
            key.prop_map(|k| json!({"op": "remove", "path": format!("/{k}")})),
            (key, 0..3i64)
                .prop_map(|(k, v)| json!({"op": "replace", "path": format!("/{k}"), "value": v})),
            (key, key).prop_map(
                |(f, t)| json!({"op": "move", "from": format!("/{f}"), "path": format!("/{t}")})
            ),
            (key, key).prop_map(
                |(f, t)| json!({"op": "copy", "from": format!("/{f}"), "path": format!("/{t}")})
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The moves told before a merge patch are the ones it makes: the
        /// members, moved so, are in the order the merged state has.
        #[test]
        fn a_merge_patch_moves_the_members_as_told(before in object(), patch in merge_patch()) {
            let before = Document::from(before);
            let Value::Object(members) = &patch else { unreachable!() };
            let shifts = Order::of(&before, &|_| {}).merged(patch_members(members));
            let mut after = before.clone();
            after.merge(&patch);
            let told = shifted(&before, &shifts, &after);
            let now: Vec<String> = after.as_object().unwrap().keys().map(str::to_owned).collect();
            prop_assert_eq!(told, now);
        }

        /// The same for JSON Patch operations on members, when they apply.
        #[test]
        fn json_patch_operations_move_the_members_as_told(
            before in object(),
            ops in prop::collection::vec(op(), 1..6),
        ) {
            let before = Document::from(before);
            let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
            let shifts = Order::of(&before, &|_| {}).patched(&ops);
            let mut after = before.clone();
            if after.apply(&Patch::Json(ops)).is_ok() {
                let told = shifted(&before, &shifts, &after);
                let now: Vec<String> = after.as_object().unwrap().keys().map(str::to_owned).collect();
                prop_assert_eq!(told, now);
            }
        }
    }

    fn large_object() -> impl Strategy<Value = Value> {
        // Up to 24 members: past the sixteen an object keeps in an array.
        prop::collection::btree_map("[a-x]", 0..3i64, 0..24)
            .prop_map(|map| Value::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect()))
    }

    fn large_op() -> impl Strategy<Value = Value> {
        let key = "[a-x]";
        prop_oneof![
            3 => (key, 0..3i64)
                .prop_map(|(k, v)| json!({"op": "add", "path": format!("/{k}"), "value": v})),
            2 => key.prop_map(|k| json!({"op": "remove", "path": format!("/{k}")})),
            1 => (key, key).prop_map(
                |(f, t)| json!({"op": "move", "from": format!("/{f}"), "path": format!("/{t}")})
            ),
            1 => (key, key).prop_map(
                |(f, t)| json!({"op": "copy", "from": format!("/{f}"), "path": format!("/{t}")})
            ),
            1 => (key, 0..3i64)
                .prop_map(|(k, v)| json!({"op": "test", "path": format!("/{k}"), "value": v})),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Objects of up to twelve members, grown past the small form and
        /// shrunk back by the operations: the moves told are the ones made;
        /// and operations that fail midway leave the members in the very
        /// order they had (a table keeps its rows at those places).
        #[test]
        fn moves_across_the_small_form_are_told_and_a_failed_patch_keeps_the_order(
            before in large_object(),
            ops in prop::collection::vec(large_op(), 1..10),
        ) {
            let before = Document::from(before);
            let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
            let shifts = Order::of(&before, &|_| {}).patched(&ops);
            let mut after = before.clone();
            let keys = |doc: &Document| -> Vec<String> {
                doc.as_object().unwrap().keys().map(str::to_owned).collect()
            };
            let mut value = before.to_value();
            let expected = json_patch::patch(&mut value, &ops);
            match after.apply(&Patch::Json(ops)) {
                Ok(()) => {
                    prop_assert!(expected.is_ok());
                    prop_assert_eq!(&after, &value);
                    prop_assert_eq!(shifted(&before, &shifts, &after), keys(&after));
                }
                Err(_) => {
                    prop_assert!(expected.is_err());
                    prop_assert_eq!(keys(&after), keys(&before));
                    prop_assert_eq!(&after, &before);
                }
            }
        }

        /// The same for merge patches of many members.
        #[test]
        fn merge_moves_across_the_small_form_are_told(
            before in large_object(),
            patch in prop::collection::btree_map(
                "[a-x]",
                prop_oneof![Just(Value::Null), (0..3i64).prop_map(Value::from)],
                0..24,
            ),
        ) {
            let before = Document::from(before);
            let patch = Value::Object(patch.into_iter().collect());
            let Value::Object(members) = &patch else { unreachable!() };
            let shifts = Order::of(&before, &|_| {}).merged(patch_members(members));
            let mut after = before.clone();
            after.merge(&patch);
            let now: Vec<String> = after.as_object().unwrap().keys().map(str::to_owned).collect();
            prop_assert_eq!(shifted(&before, &shifts, &after), now);
        }
    }

    #[test]
    fn a_removal_moves_the_last_member_into_its_place() {
        let before = Document::from(json!({"a": 1, "b": 2, "c": 3}));
        let patch = json!({"a": null, "c": null, "d": 4});
        let Value::Object(members) = &patch else {
            unreachable!()
        };
        // a out (c into its place), c out (b into its place), d added.
        assert_eq!(
            Order::of(&before, &|_| {}).merged(patch_members(members)),
            [Shift::Removed(0), Shift::Removed(0), Shift::Appended]
        );
    }
}
