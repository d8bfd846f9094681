//! What the RFC 6902 operations and their checks need of a JSON tree, so
//! that one implementation serves a hub's `serde_json::Value` and a
//! replica's [`Document`](crate::Document) (whose side is in `document/tree.rs`).

use json_patch::jsonptr::index::Index;
use json_patch::jsonptr::{Pointer, Token};
use serde_json::Value;

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

    /// How deep it nests: a scalar is 0, `{}` and `[]` are 1. Walked without
    /// recursion, so that a hostile value cannot exhaust the stack here.
    fn depth(&self) -> usize {
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
        let members = self.as_object().into_iter().flat_map(|map| map.values());
        members.chain(self.as_array().into_iter().flatten())
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
