//! What the RFC 6902 operations and their checks need of a JSON tree, so
//! that one implementation serves a hub's `serde_json::Value` and a
//! replica's [`Document`](crate::Document) (whose side is in `document/tree.rs`).

use json_patch::jsonptr::index::Index;
use json_patch::jsonptr::{Pointer, Token};
use serde_json::Value;

/// How deep [`Tree::depth`] recurses before it walks with a stack of its own.
pub(crate) const SHALLOW: usize = 32;

/// The depth of `node`, if it is at most `room` levels deep.
fn shallow_depth<T: Tree>(node: &T, room: usize) -> Option<usize> {
    if !node.is_container() {
        return Some(0);
    }
    let room = room.checked_sub(1)?;
    let mut deepest = 0;
    for child in node.children() {
        deepest = deepest.max(shallow_depth(child, room)?);
    }
    Some(deepest + 1)
}

/// The values directly inside a node, of one kind or the other: matched
/// once a step, where a chain of the two (each empty but one) cost a
/// twentieth of a table's row change, measuring its patch's depth.
pub(crate) enum Children<M, I> {
    Members(M),
    Items(I),
    Leaf,
}

impl<'a, T: 'a, M, I> Iterator for Children<M, I>
where
    M: Iterator<Item = &'a T>,
    I: Iterator<Item = &'a T>,
{
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        match self {
            Self::Members(members) => members.next(),
            Self::Items(items) => items.next(),
            Self::Leaf => None,
        }
    }
}

/// A JSON value that JSON Patch operations can walk and change.
pub(crate) trait Tree: serde::Serialize + Clone + Sized {
    /// The tree for a value an operation carries.
    fn from_value(value: &Value) -> Self;
    /// This tree as a `serde_json::Value`, copied.
    fn to_value(&self) -> Value;
    /// Whether this is `value`, as JSON.
    fn equals(&self, value: &Value) -> bool;
    /// Whether this is an object.
    fn is_object(&self) -> bool;
    /// The values directly inside: an object's members or an array's items.
    fn children(&self) -> impl Iterator<Item = &Self>;
    /// Whether this is an object or an array.
    fn is_container(&self) -> bool;

    /// How deep it nests: a scalar is 0, `{}` and `[]` are 1. Every update's
    /// patch is measured so: a patch of usual depth by a recursion of at
    /// most [`SHALLOW`] levels (no allocation), a deeper one by a walk with
    /// its own stack, so that a hostile value cannot exhaust the thread's.
    fn depth(&self) -> usize {
        shallow_depth(self, SHALLOW).unwrap_or_else(|| self.deep_depth())
    }

    /// [`Tree::depth`] without recursion.
    fn deep_depth(&self) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(self, 0usize)];
        while let Some((node, depth)) = pending.pop() {
            if node.is_container() {
                deepest = deepest.max(depth + 1);
                pending.extend(node.children().map(|child| (child, depth + 1)));
            }
        }
        deepest
    }
    /// The members' keys, if this is an object.
    fn keys(&self) -> Option<impl Iterator<Item = &str>>;
    /// The member `key`, if this is an object that has it.
    fn member(&self, key: &str) -> Option<&Self>;
    /// The member `key`, to change, if this is an object that has it.
    fn member_mut(&mut self, key: &str) -> Option<&mut Self>;
    /// Sets the member `key`, returning what it replaced; `Err` with the
    /// value back when this is not an object.
    fn insert_member(&mut self, key: &str, value: Self) -> Result<Option<Self>, Self>;
    /// Takes out the member `key`, if this is an object that has it, with
    /// its place in the order (for [`Tree::restore_member`]).
    fn remove_member(&mut self, key: &str) -> Option<(usize, Self)>;
    /// Puts back a member that [`Tree::remove_member`] took out, in its place.
    fn restore_member(&mut self, index: usize, key: &str, value: Self);
    /// The items, if this is an array.
    fn items(&self) -> Option<&Vec<Self>>;
    /// The items, to change, if this is an array.
    fn items_mut(&mut self) -> Option<&mut Vec<Self>>;

    /// The value at a JSON Pointer.
    fn at(&self, pointer: &Pointer) -> Option<&Self> {
        pointer
            .tokens()
            .try_fold(self, |node, token| match node.items() {
                Some(items) => items.get(item_position(&token, items.len())?),
                None => node.member(&token.decoded()),
            })
    }

    /// The value at a JSON Pointer, to change.
    fn at_mut(&mut self, pointer: &Pointer) -> Option<&mut Self> {
        pointer.tokens().try_fold(self, |node, token| {
            if let Some(len) = node.items().map(Vec::len) {
                let index = item_position(&token, len)?;
                return node.items_mut()?.get_mut(index);
            }
            node.member_mut(&token.decoded())
        })
    }
}

/// The item a token names in an array of `len` items (`-` names none).
pub(crate) fn item_position(token: &Token<'_>, len: usize) -> Option<usize> {
    match token.to_index().ok()? {
        Index::Num(index) if index < len => Some(index),
        _ => None,
    }
}

impl Tree for Value {
    fn from_value(value: &Value) -> Self {
        value.clone()
    }

    fn to_value(&self) -> Value {
        self.clone()
    }

    fn equals(&self, value: &Value) -> bool {
        self == value
    }

    fn is_object(&self) -> bool {
        self.is_object()
    }

    fn children(&self) -> impl Iterator<Item = &Self> {
        match self {
            Value::Object(members) => Children::Members(members.values()),
            Value::Array(items) => Children::Items(items.iter()),
            _ => Children::Leaf,
        }
    }

    fn is_container(&self) -> bool {
        self.is_object() || self.is_array()
    }

    fn keys(&self) -> Option<impl Iterator<Item = &str>> {
        Some(self.as_object()?.keys().map(String::as_str))
    }

    fn member(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }

    fn member_mut(&mut self, key: &str) -> Option<&mut Self> {
        self.as_object_mut()?.get_mut(key)
    }

    fn insert_member(&mut self, key: &str, value: Self) -> Result<Option<Self>, Self> {
        match self.as_object_mut() {
            Some(map) => Ok(map.insert(key.to_owned(), value)),
            None => Err(value),
        }
    }

    fn remove_member(&mut self, key: &str) -> Option<(usize, Self)> {
        // A `Value`'s members are sorted: the order needs nothing kept.
        Some((0, self.as_object_mut()?.remove(key)?))
    }

    fn restore_member(&mut self, _index: usize, key: &str, value: Self) {
        if let Some(map) = self.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
    }

    fn items(&self) -> Option<&Vec<Self>> {
        self.as_array()
    }

    fn items_mut(&mut self) -> Option<&mut Vec<Self>> {
        self.as_array_mut()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::Tree;
    use crate::Document;

    /// `levels` arrays one in another, with a scalar on either side of each.
    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!([2, inner, 3]))
    }

    #[test]
    fn depth_is_the_same_either_side_of_the_recursion_bound() {
        for levels in [0, 1, 2, 31, 32, 33, 64, 300] {
            let value = nested(levels);
            assert_eq!(value.depth(), levels, "{levels} levels");
            assert_eq!(value.deep_depth(), levels, "{levels} levels");
            assert_eq!(Document::from(&value).depth(), levels, "{levels} levels");
        }
        assert_eq!(json!({"a": {"b": []}, "c": 1}).depth(), 3);
        assert_eq!(json!([[], {"a": [[]]}, []]).depth(), 4);
        assert_eq!(json!({}).depth(), 1);
    }
}
