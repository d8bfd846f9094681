//! Comparisons of a [`Document`] with a `serde_json::Value`, numbers and strings.

use serde_json::Value;

use super::Document;

impl PartialEq<Value> for Document {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Self::Null, Value::Null) => true,
            (Self::Bool(a), Value::Bool(b)) => a == b,
            (Self::Number(a), Value::Number(b)) => a == b,
            (Self::String(a), Value::String(b)) => a == b,
            (Self::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().eq(b.iter()),
            (Self::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && b.iter()
                        .all(|(key, value)| a.get(key).is_some_and(|ours| ours == value))
            }
            _ => false,
        }
    }
}

impl PartialEq<Document> for Value {
    fn eq(&self, other: &Document) -> bool {
        other == self
    }
}

/// `document == 2`, `document == "text"`, as with a `serde_json::Value`.
macro_rules! eq_primitive {
    ($($ty:ty => $as:ident),* $(,)?) => {
        $(
            impl PartialEq<$ty> for Document {
                fn eq(&self, other: &$ty) -> bool {
                    self.$as().is_some_and(|value| value == *other)
                }
            }

            impl PartialEq<Document> for $ty {
                fn eq(&self, other: &Document) -> bool {
                    other == self
                }
            }
        )*
    };
}

eq_primitive! {
    i64 => as_i64,
    u64 => as_u64,
    f64 => as_f64,
    bool => as_bool,
}

impl PartialEq<i32> for Document {
    fn eq(&self, other: &i32) -> bool {
        self.as_i64() == Some(i64::from(*other))
    }
}

impl PartialEq<str> for Document {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Document {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Document {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}
