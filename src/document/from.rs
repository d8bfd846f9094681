//! Conversions between a [`Document`] and a `serde_json::Value`.

use serde_json::Value;

use super::{Document, Map};

impl From<Value> for Document {
    /// Moves a `Value` in, reusing its strings.
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(bool) => Self::Bool(bool),
            Value::Number(number) => Self::Number(number),
            Value::String(string) => Self::String(string.into()),
            Value::Array(items) => Self::Array(items.into_iter().map(Self::from).collect()),
            Value::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, value) in members {
                    map.insert(key, Self::from(value));
                }
                Self::Object(map)
            }
        }
    }
}

impl From<&Value> for Document {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(bool) => Self::Bool(*bool),
            Value::Number(number) => Self::Number(number.clone()),
            Value::String(string) => Self::String(string.as_str().into()),
            Value::Array(items) => Self::Array(items.iter().map(Self::from).collect()),
            Value::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, value) in members {
                    map.insert(key.as_str(), Self::from(value));
                }
                Self::Object(map)
            }
        }
    }
}

impl From<Document> for Value {
    fn from(document: Document) -> Self {
        match document {
            Document::Null => Value::Null,
            Document::Bool(bool) => Value::Bool(bool),
            Document::Number(number) => Value::Number(number),
            Document::String(string) => Value::String(string.into_string()),
            Document::Array(items) => Value::Array(items.into_iter().map(Value::from).collect()),
            Document::Object(map) => Value::Object(
                map.into_entries()
                    .map(|(key, value)| (key, Value::from(value)))
                    .collect(),
            ),
        }
    }
}
