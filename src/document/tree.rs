//! A [`Document`] as the JSON Patch operations walk it.

use serde_json::Value;

use super::Document;
use crate::patch::tree::{Children, Tree};

impl Tree for Document {
    fn from_value(value: &Value) -> Self {
        Document::from(value)
    }

    fn to_value(&self) -> Value {
        Document::to_value(self)
    }

    fn equals(&self, value: &Value) -> bool {
        self == value
    }

    fn is_object(&self) -> bool {
        matches!(self, Document::Object(_))
    }

    fn children(&self) -> impl Iterator<Item = &Self> {
        match self {
            Document::Object(members) => Children::Members(members.values()),
            Document::Array(items) => Children::Items(items.iter()),
            _ => Children::Leaf,
        }
    }

    fn is_container(&self) -> bool {
        matches!(self, Document::Object(_) | Document::Array(_))
    }

    fn keys(&self) -> Option<impl Iterator<Item = &str>> {
        Some(self.as_object()?.keys())
    }

    fn member(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }

    fn member_mut(&mut self, key: &str) -> Option<&mut Self> {
        match self {
            Document::Object(map) => map.get_mut(key),
            _ => None,
        }
    }

    fn insert_member(&mut self, key: &str, value: Self) -> Result<Option<Self>, Self> {
        let Document::Object(map) = self else {
            return Err(value);
        };
        // Look before allocating the key: most writes are to members that exist.
        match map.get_mut(key) {
            Some(slot) => Ok(Some(std::mem::replace(slot, value))),
            None => Ok(map.insert(key, value)),
        }
    }

    fn remove_member(&mut self, key: &str) -> Option<(usize, Self)> {
        match self {
            Document::Object(map) => map.swap_remove_full(key),
            _ => None,
        }
    }

    fn restore_member(&mut self, index: usize, key: &str, value: Self) {
        if let Document::Object(map) = self {
            map.restore(index, key, value);
        }
    }

    fn items(&self) -> Option<&Vec<Self>> {
        self.as_array()
    }

    fn items_mut(&mut self) -> Option<&mut Vec<Self>> {
        match self {
            Document::Array(items) => Some(items),
            _ => None,
        }
    }
}
