//! A [`Document`] written as JSON: `Serialize`, `Display` and `Debug`.

use std::fmt;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use super::Document;

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(bool) => serializer.serialize_bool(*bool),
            Self::Number(number) => number.serialize(serializer),
            Self::String(string) => serializer.serialize_str(string),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(map) => map.serialize(serializer),
        }
    }
}

impl fmt::Display for Document {
    /// Compact JSON text, or indented with `{:#}`.
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let doc = Document::from(json!({"a": [1]}));
    /// assert_eq!(doc.to_string(), r#"{"a":[1]}"#);
    /// assert_eq!(format!("{doc:#}"), "{\n  \"a\": [\n    1\n  ]\n}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = f.alternate();
        let mut out = Utf8Writer(f);
        let written = match pretty {
            true => serde_json::to_writer_pretty(&mut out, self),
            false => serde_json::to_writer(&mut out, self),
        };
        written.map_err(|_| fmt::Error)
    }
}

/// Lets serde_json write JSON text straight into a `Formatter`, without
/// building a `String` of a state that may be large.
struct Utf8Writer<'a, 'f>(&'a mut fmt::Formatter<'f>);

impl std::io::Write for Utf8Writer<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        // serde_json writes whole characters at a time.
        let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
        self.0.write_str(text).map_err(std::io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Bool(bool) => write!(f, "Bool({bool})"),
            Self::Number(number) => write!(f, "Number({number})"),
            Self::String(string) => write!(f, "String({string:?})"),
            Self::Array(items) => {
                f.write_str("Array ")?;
                f.debug_list().entries(items).finish()
            }
            Self::Object(map) => {
                f.write_str("Object ")?;
                map.fmt(f)
            }
        }
    }
}
