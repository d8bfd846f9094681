//! RFC 7396 JSON Merge Patch into a [`Document`], borrowed and owned.
//!
//! The same rules as [`crate::patch::merge`]; what differs is the cost. Each
//! level of the patch is one hash lookup in the document, so a one-field
//! patch costs the same whatever the size of the object it lands in, and a
//! key is allocated only when it is new.

mod tape;

use serde_json::Value;

use super::{Document, Map};
use crate::Error;
use crate::patch::{MergeText, Merging};
use crate::text::{GiveUp, Reader, Token};

impl Document {
    /// Applies an RFC 7396 JSON Merge Patch, in place.
    ///
    /// Objects merge key by key, recursively; a `null` member deletes the key;
    /// anything that is not an object (arrays included) replaces the target
    /// whole. A merge patch cannot fail. The recursion is as deep as the patch,
    /// which [`Limits`](crate::Limits) bounds for every patch read from a wire.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let mut doc = Document::from(json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}}));
    /// doc.merge(&json!({"title": "Hello!", "author": {"familyName": null}}));
    /// assert_eq!(doc, json!({"title": "Hello!", "author": {"givenName": "John"}}));
    /// ```
    pub fn merge(&mut self, patch: &Value) {
        // Most patches change one member of one member of ... one leaf (a
        // price in a quote in a board): that chain is followed in a loop,
        // without a call per level, and the rest merges field by field.
        let mut target = self;
        let mut patch = patch;
        loop {
            match patch {
                Value::Object(fields) if fields.len() == 1 && target.is_object() => {
                    let Self::Object(map) = target else {
                        unreachable!("an object")
                    };
                    let Some((key, value)) = fields.iter().next() else {
                        unreachable!("one member")
                    };
                    if value.is_null() {
                        map.swap_remove(key);
                        return;
                    }
                    let Some(index) = map.index_of(key) else {
                        map.insert(key.as_str(), Document::from_patch(value));
                        return;
                    };
                    (target, patch) = (map.value_at_mut(index), value);
                }
                Value::Object(fields) => return target.object_for_merge().merge_fields(fields),
                leaf => return target.assign(leaf),
            }
        }
    }

    /// Applies an RFC 7396 JSON Merge Patch, consuming it: its strings and
    /// arrays move into the document instead of being copied.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let mut doc = Document::from(json!({"AAPL": {"price": 1.0, "volume": 10}}));
    /// doc.merge_owned(json!({"AAPL": {"price": 2.5}, "MSFT": {"price": 3.0, "note": null}}));
    /// assert_eq!(doc, json!({"AAPL": {"price": 2.5, "volume": 10}, "MSFT": {"price": 3.0}}));
    /// ```
    pub fn merge_owned(&mut self, patch: Value) {
        match patch {
            Value::Object(fields) => self.object_for_merge().merge_fields_owned(fields),
            leaf => *self = Document::from(leaf),
        }
    }

    /// Applies a merge patch read from wire text, in place, reading it as
    /// it merges: the same as [`Document::merge`] of its value (but for a
    /// member named twice in one object: both apply, in order).
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] only for a patch from
    /// [`Limits::parse_update_lazy`](crate::Limits::parse_update_lazy) whose
    /// text (the patch, or the rest of its message) turns out not to be JSON
    /// or not an update; the document is then unchanged. A patch from
    /// [`Limits::parse_update`](crate::Limits::parse_update) was checked
    /// whole and cannot fail.
    ///
    /// [`Document::apply`] calls it for a merge patch still in its text.
    pub(crate) fn merge_text(&mut self, patch: &MergeText) -> Result<(), Error> {
        if let Some((text, tape)) = patch.tape() {
            self.merge_tape(text, tape);
            return Ok(());
        }
        let mut merging = patch.merging();
        let read = self
            .merge_read(&mut merging, 0)
            // A patch that wrote nothing (`{}`, or objects that were already
            // there) is read; the rest of its update is still to check.
            .and_then(|()| merging.before_write(0, false));
        match read {
            Ok(()) => Ok(()),
            // Given up before any write: `serde_json` reads the text, and
            // either says what is wrong or gives the patch as a value.
            Err(GiveUp) if !merging.checked() => {
                self.merge_owned(patch.to_value()?);
                Ok(())
            }
            Err(GiveUp) => {
                unreachable!("the rest of a merge text was checked before it was written")
            }
        }
    }

    /// Merges the value the reader is at, within `open` objects of the patch.
    fn merge_read(&mut self, merging: &mut Merging<'_>, open: usize) -> Result<(), GiveUp> {
        match merging.reader.token()? {
            Token::Object => {
                let inner = merging.reader.nest(open)?;
                if !matches!(self, Self::Object(_)) {
                    // Replacing what is here is a write: check the rest first.
                    merging.before_write(inner, true)?;
                }
                let map = self.object_for_merge();
                let mut first = true;
                while let Some(key) = merging.reader.next_member(first)? {
                    first = false;
                    map.merge_member(&key, merging, inner)?;
                }
            }
            Token::Number(new) => {
                merging.before_write(open, false)?;
                match self {
                    Self::Number(number) => *number = new,
                    _ => *self = Self::Number(new),
                }
            }
            // A status text that changes at every update costs no allocation.
            Token::String(new) => {
                merging.before_write(open, false)?;
                match self {
                    Self::String(string) => string.set(&new),
                    _ => *self = Self::String(new.into()),
                }
            }
            token => {
                let new = Document::read(token, &mut merging.reader, open)?;
                merging.before_write(open, false)?;
                *self = new;
            }
        }
        Ok(())
    }

    /// The value the reader is at, whose first token is `token`, as it is
    /// (what an array of a patch holds: `null` members kept).
    fn read(token: Token<'_>, reader: &mut Reader<'_>, depth: usize) -> Result<Self, GiveUp> {
        Ok(match token {
            Token::Null => Self::Null,
            Token::Bool(value) => Self::Bool(value),
            Token::Number(number) => Self::Number(number),
            Token::String(text) => Self::String(text.into()),
            Token::Array => {
                let inner = reader.nest(depth)?;
                let mut items = Vec::new();
                while reader.next_item(items.is_empty())? {
                    let token = reader.token()?;
                    items.push(Document::read(token, reader, inner)?);
                }
                Self::Array(items)
            }
            Token::Object => {
                let inner = reader.nest(depth)?;
                let mut map = Map::new();
                let mut first = true;
                while let Some(key) = reader.next_member(first)? {
                    first = false;
                    let token = reader.token()?;
                    map.insert(key, Document::read(token, reader, inner)?);
                }
                map.shrink_to_fit();
                Self::Object(map)
            }
        })
    }

    /// The object an object patch merges into: this one, or a new empty one
    /// in place of whatever else was here.
    fn object_for_merge(&mut self) -> &mut Map {
        if !matches!(self, Self::Object(_)) {
            *self = Self::Object(Map::new());
        }
        match self {
            Self::Object(map) => map,
            _ => unreachable!("just made an object"),
        }
    }

    /// `*self = value`, reusing this string's or array's buffer when the new
    /// value is of the same kind: a status text that changes at every update
    /// then costs no allocation.
    fn assign(&mut self, value: &Value) {
        match (&mut *self, value) {
            (Self::Number(number), Value::Number(new)) => number.clone_from(new),
            (Self::String(string), Value::String(new)) => string.set(new),
            (Self::Array(items), Value::Array(new)) if items.len() == new.len() => {
                for (item, new) in items.iter_mut().zip(new) {
                    item.assign(new);
                }
            }
            _ => *self = Document::from(value),
        }
    }

    /// A new member from a patch: RFC 7396 merges an object patch into an
    /// empty object, so its `null` members, at any depth of objects, vanish.
    fn from_patch(value: &Value) -> Self {
        match value {
            Value::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                map.merge_fields(fields);
                Self::Object(map)
            }
            leaf => Self::from(leaf),
        }
    }

    /// [`Document::from_patch`], moving the value in.
    fn from_patch_owned(value: Value) -> Self {
        match value {
            Value::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                map.merge_fields_owned(fields);
                Self::Object(map)
            }
            leaf => Self::from(leaf),
        }
    }
}

impl Map {
    /// Merges one member of a patch's text, its key read and its value
    /// next, the object being `open` deep in the patch.
    fn merge_member(
        &mut self,
        key: &str,
        merging: &mut Merging<'_>,
        open: usize,
    ) -> Result<(), GiveUp> {
        if merging.reader.null() {
            merging.before_write(open, false)?;
            self.swap_remove(key);
            return Ok(());
        }
        match self.get_mut(key) {
            Some(slot) => slot.merge_read(merging, open),
            None => {
                // A new member: an object patch merged into nothing, so its
                // `null` members vanish.
                let new = merging.detached(|merging| {
                    let mut new = Document::Null;
                    new.merge_read(merging, open).map(|()| new)
                })?;
                merging.before_write(open, false)?;
                self.insert(key, new);
                Ok(())
            }
        }
    }

    fn merge_fields(&mut self, fields: &serde_json::Map<String, Value>) {
        for (key, value) in fields {
            if value.is_null() {
                self.swap_remove(key);
                continue;
            }
            match (self.get_mut(key), value) {
                (Some(slot), Value::Object(nested)) => slot.object_for_merge().merge_fields(nested),
                (Some(slot), leaf) => slot.assign(leaf),
                (None, value) => {
                    self.insert(key.as_str(), Document::from_patch(value));
                }
            }
        }
    }

    fn merge_fields_owned(&mut self, fields: serde_json::Map<String, Value>) {
        for (key, value) in fields {
            if value.is_null() {
                self.swap_remove(&key);
                continue;
            }
            match (self.get_mut(&key), value) {
                (Some(slot), Value::Object(nested)) => {
                    slot.object_for_merge().merge_fields_owned(nested);
                }
                (Some(slot), leaf) => *slot = Document::from(leaf),
                (None, value) => {
                    self.insert(key, Document::from_patch_owned(value));
                }
            }
        }
    }
}
