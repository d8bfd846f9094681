//! [`Document::read_ahead`]: the lines a change to a record is about to
//! read, asked for before it reads them.

use std::hint::black_box;

use super::{Document, Map, Str};

impl Document {
    /// Reads this value's own lines and, when it is a small object (a
    /// record), its members' lines and the text of those that are strings
    /// not kept in place, throwing what it reads away.
    ///
    /// At a million rows each of those lines misses the cache. Read as a
    /// change needs them (the merge, then the decode that copies a
    /// record's long id), each waits for the one before; read here, as
    /// soon as the member that holds the value is found, they are waited
    /// for together. A hint: nothing changes, and it costs a few
    /// instructions a member.
    pub(crate) fn read_ahead(&self) {
        let seen = match self {
            Self::String(text) => read_text(text),
            Self::Object(map) => map.read_members_ahead(),
            Self::Array(items) => u8::from(items.first().is_some_and(Document::is_null)),
            Self::Null | Self::Bool(_) | Self::Number(_) => 0,
        };
        black_box(seen);
    }
}

/// Reads the first and last bytes of `text` when it is allocated (the one
/// or two lines its text takes), and folds them into a byte.
#[inline]
fn read_text(text: &Str) -> u8 {
    if !text.is_allocated() {
        return 0;
    }
    let bytes = text.as_bytes();
    bytes
        .first()
        .zip(bytes.last())
        .map_or(0, |(first, last)| first ^ last)
}

impl Map {
    /// Reads a small object's members, folding what it reads into a byte
    /// (so that each read is made, and only the byte is kept). A large
    /// object is left alone: it is a table, not a record, and has too
    /// many.
    fn read_members_ahead(&self) -> u8 {
        self.few_members()
            .iter()
            .fold(0, |seen, (_, value)| match value {
                Document::String(text) => seen ^ read_text(text),
                other => seen ^ u8::from(other.is_null()),
            })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::Document;

    /// Every kind of value reads ahead, and is the same after.
    #[test]
    fn reading_ahead_changes_nothing() {
        let values = [
            json!(null),
            json!(true),
            json!(1.5),
            json!("short"),
            json!("a string too long to be kept in place, allocated"),
            json!([]),
            json!([1, "two", {"three": 3}]),
            json!({}),
            json!({"id": "6f1c2d9e-0a4b-4c3d-8e5f-7a6b5c4d3e2f", "n": 1, "deep": {"x": [1]}}),
            json!(
                (0..20)
                    .map(|i| (i.to_string(), json!(i)))
                    .collect::<serde_json::Map<_, _>>()
            ),
        ];
        for value in values {
            let doc = Document::from(value.clone());
            doc.read_ahead();
            assert_eq!(doc, value);
        }
    }
}
