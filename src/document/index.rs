//! `doc["key"]` and `doc[0]`, which give `Null` where nothing is, as a
//! `serde_json::Value` does.

use std::ops;

use super::Document;

/// Where nothing is found, indexing gives this, as `serde_json::Value` does.
static NULL: Document = Document::Null;

impl ops::Index<&str> for Document {
    type Output = Document;

    /// The member `key`, or `Null` when this is not an object or has no such member.
    fn index(&self, key: &str) -> &Document {
        self.get(key).unwrap_or(&NULL)
    }
}

impl ops::Index<&String> for Document {
    type Output = Document;

    /// The member `key`, or `Null`, as with a `&str`.
    fn index(&self, key: &String) -> &Document {
        &self[key.as_str()]
    }
}

impl ops::Index<usize> for Document {
    type Output = Document;

    /// The item at `index`, or `Null` when this is not an array or is shorter.
    fn index(&self, index: usize) -> &Document {
        self.as_array()
            .and_then(|items| items.get(index))
            .unwrap_or(&NULL)
    }
}
