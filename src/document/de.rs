//! A [`Document`] in and out of serde: built straight from JSON text, and
//! read by `T::deserialize(&document)` without copying it.
//!
//! Decoding follows `serde_json::Value`'s rules (the tests compare the two):
//! structs from objects (or arrays, by position), enums from a string or a
//! one-member object, map keys that are numbers or booleans read from their
//! text as JSON, `RawValue`s as the JSON text of the value.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};
use serde::{Deserialize, Deserializer, forward_to_deserialize_any};
use serde_json::{Error, Number};

use super::{Document, Map};

/// The key under which serde_json passes a number through a map when its
/// `arbitrary_precision` feature is on.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The name under which serde_json asks for a `RawValue`.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Document, E> {
        Ok(Document::Null)
    }

    fn visit_none<E>(self) -> Result<Document, E> {
        Ok(Document::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Document, D::Error> {
        Document::deserialize(deserializer)
    }

    fn visit_bool<E>(self, bool: bool) -> Result<Document, E> {
        Ok(Document::Bool(bool))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Document, E> {
        Ok(Document::Number(number.into()))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Document, E> {
        Ok(Document::Number(number.into()))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Document, E> {
        // As `serde_json::Value` does: a float JSON cannot write is `null`.
        Ok(Number::from_f64(number).map_or(Document::Null, Document::Number))
    }

    fn visit_str<E>(self, string: &str) -> Result<Document, E> {
        Ok(Document::String(string.into()))
    }

    fn visit_string<E>(self, string: String) -> Result<Document, E> {
        Ok(Document::String(string.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Document, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Document::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Document, A::Error> {
        let mut map = Map::with_capacity(members.size_hint().unwrap_or(0).min(4096));
        while let Some(key) = members.next_key::<String>()? {
            // With serde_json's `arbitrary_precision` feature on (any crate in
            // the build may turn it on), a number reaches us as a map of this
            // one key and the number's text.
            if map.is_empty() && key == NUMBER_TOKEN {
                let text: String = members.next_value()?;
                let number = text.parse().map_err(de::Error::custom)?;
                return Ok(Document::Number(number));
            }
            let value = members.next_value()?;
            map.insert(key, value);
        }
        map.shrink_to_fit();
        Ok(Document::Object(map))
    }
}

/// Number methods: a number gives itself to the visitor as the type it is
/// (the visitor converts or refuses); anything else is the wrong type.
macro_rules! numbers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                match self {
                    Document::Number(number) => number.deserialize_any(visitor),
                    _ => Err(self.invalid_type(&visitor)),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for &'de Document {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::Null => visitor.visit_unit(),
            Document::Bool(bool) => visitor.visit_bool(*bool),
            Document::Number(number) => number.deserialize_any(visitor),
            Document::String(string) => visitor.visit_borrowed_str(string),
            Document::Array(items) => visit_items(items, visitor),
            Document::Object(map) => visit_members(map, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::Bool(bool) => visitor.visit_bool(*bool),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::String(string) => visitor.visit_borrowed_str(string),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    /// Bytes are a string's UTF-8, or an array of numbers.
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::String(string) => visitor.visit_borrowed_str(string),
            Document::Array(items) => visit_items(items, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == RAW_VALUE_TOKEN {
            // serde_json's `RawValue` asks for the JSON text of the value.
            return visitor.visit_map(RawText(Some(self.to_string())));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::Array(items) => visit_items(items, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Document::Object(map) => visit_members(map, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    /// A struct is an object, or an array of its fields in order.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Document::Array(items) => visit_items(items, visitor),
            _ => self.deserialize_map(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Document::String(variant) => visitor.visit_enum(Variant {
                name: variant,
                content: None,
            }),
            Document::Object(map) if map.len() == 1 => {
                let (name, content) = map.iter().next().expect("one member");
                visitor.visit_enum(Variant {
                    name,
                    content: Some(content),
                })
            }
            Document::Object(_) => Err(de::Error::invalid_value(
                Unexpected::Map,
                &"a map with a single key",
            )),
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"string or map",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

impl<'de> IntoDeserializer<'de, Error> for &'de Document {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl Document {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Document::Null => Unexpected::Unit,
            Document::Bool(bool) => Unexpected::Bool(*bool),
            Document::Number(number) => match (number.as_u64(), number.as_i64()) {
                (Some(unsigned), _) => Unexpected::Unsigned(unsigned),
                (None, Some(signed)) => Unexpected::Signed(signed),
                (None, None) => Unexpected::Float(number.as_f64().unwrap_or(f64::NAN)),
            },
            Document::String(string) => Unexpected::Str(string),
            Document::Array(_) => Unexpected::Seq,
            Document::Object(_) => Unexpected::Map,
        }
    }

    fn invalid_type(&self, expected: &dyn de::Expected) -> Error {
        de::Error::invalid_type(self.unexpected(), expected)
    }
}

/// Visits an array's items, and refuses a visitor that leaves some unread
/// (a tuple of two from an array of three).
fn visit_items<'de, V: Visitor<'de>>(
    items: &'de [Document],
    visitor: V,
) -> Result<V::Value, Error> {
    let mut seq = Items {
        items: items.iter(),
    };
    let value = visitor.visit_seq(&mut seq)?;
    match seq.items.len() {
        0 => Ok(value),
        _ => Err(de::Error::invalid_length(
            items.len(),
            &"fewer elements in array",
        )),
    }
}

/// Visits an object's members, and refuses a visitor that leaves some unread.
fn visit_members<'de, V: Visitor<'de>>(map: &'de Map, visitor: V) -> Result<V::Value, Error> {
    let mut members = Members {
        members: map.entries(),
        value: None,
    };
    let value = visitor.visit_map(&mut members)?;
    match members.members.len() {
        0 => Ok(value),
        _ => Err(de::Error::invalid_length(
            map.len(),
            &"fewer elements in map",
        )),
    }
}

struct Items<'de> {
    items: std::slice::Iter<'de, Document>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.items
            .next()
            .map(|item| seed.deserialize(item))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Members<'de> {
    members: super::map::Entries<'de>,
    /// The value of the key just read.
    value: Option<&'de Document>,
}

impl<'de> MapAccess<'de> for Members<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.members.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(Key(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

/// An object key. JSON keys are strings, but a `HashMap<u32, _>` or a map
/// keyed by `bool` reads its keys from their text, as with `serde_json`.
struct Key<'de>(&'de str);

/// Key methods for numbers: the key must be a JSON number and nothing else
/// (no sign but `-`, no spaces, no `NaN`), as serde_json reads map keys.
macro_rules! numeric_keys {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                let text = self.0;
                let starts_well = matches!(text.as_bytes().first(), Some(b'0'..=b'9' | b'-'));
                if !starts_well || text.bytes().any(|byte| byte.is_ascii_whitespace()) {
                    return Err(de::Error::invalid_type(Unexpected::Str(text), &visitor));
                }
                let mut parser = serde_json::Deserializer::from_str(text);
                let number = parser.$method(visitor)?;
                parser.end()?;
                Ok(number)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Key<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.0)
    }

    numeric_keys! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            other => Err(de::Error::invalid_type(Unexpected::Str(other), &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(Variant {
            name: self.0,
            content: None,
        })
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct
        map struct identifier ignored_any
    }
}

/// What serde_json's `RawValue` reads: one member, under its token, whose
/// value is the JSON text.
struct RawText(Option<String>);

impl<'de> MapAccess<'de> for RawText {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.0.is_none() {
            return Ok(None);
        }
        seed.deserialize(BorrowedStrDeserializer::<Error>::new(RAW_VALUE_TOKEN))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let text = self
            .0
            .take()
            .ok_or_else(|| de::Error::custom("value is missing"))?;
        seed.deserialize(text.into_deserializer())
    }
}

/// An enum read from a document: the variant's name, and its content unless
/// it is a unit variant written as a bare string.
struct Variant<'de> {
    name: &'de str,
    content: Option<&'de Document>,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let name = seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.name))?;
        Ok((name, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.content {
            None | Some(Document::Null) => Ok(()),
            Some(other) => Err(other.invalid_type(&"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.content {
            Some(content) => seed.deserialize(content),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.content {
            Some(Document::Array(items)) => visit_items(items, visitor),
            Some(other) => Err(other.invalid_type(&"tuple variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.content {
            Some(Document::Object(map)) => visit_members(map, visitor),
            Some(other) => Err(other.invalid_type(&"struct variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}
