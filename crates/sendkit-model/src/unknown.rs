//! Fields the SDK does not know, kept exactly: each value as the JSON text the server sent, in order, a repeated
//! name repeated. What `#[serde(flatten)]` into a map of values could not do: a number past `f64` (`1e400`), an
//! integer past 64 bits, `-0`, `1E2`, a lone surrogate in a string, a duplicate key: each came back changed, or
//! made a job the SDK can read unreadable.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;

/// Fields of an API object that this version of the SDK does not know, kept as the API sent them (each value's JSON
/// text, exactly) and written back the same way: so that a new field (an `error` text,
/// `metadata.refundedCredits`) reaches whoever prints the object, and never stops the SDK from reading it.
///
/// ```
/// use sendkit_model::Job;
///
/// let text = r#"{"id":"job_1","type":"email_verification","status":"failed","error":"quota","big":18446744073709551617}"#;
/// let job: Job = serde_json::from_str(text).unwrap();
/// assert_eq!(job.unknown.get("big").unwrap().get(), "18446744073709551617");
/// assert_eq!(job.unknown.get_as::<String>("error").unwrap().unwrap(), "quota");
/// assert_eq!(serde_json::to_string(&job).unwrap(), text);
/// ```
#[derive(Clone, Default)]
pub struct Unknown {
    fields: Vec<(String, Box<RawValue>)>,
}

impl Unknown {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// How many there are, a repeated name counted each time.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// The value of the first field named `name`, as the JSON text the server sent.
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| &**value)
    }

    /// The value of the first field named `name`, read as `T` (a `serde_json::Value`, a number, a string).
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<Result<T, serde_json::Error>> {
        self.get(name).map(|raw| serde_json::from_str(raw.get()))
    }

    /// Each field's name and JSON text, in the order they came.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.fields.iter().map(|(name, value)| (name.as_str(), &**value))
    }

    /// Adds a field whose value is the JSON text `json` (checked to be JSON), after those there are.
    pub fn insert(&mut self, name: impl Into<String>, json: &str) -> Result<(), serde_json::Error> {
        let value = RawValue::from_string(json.to_owned())?;
        self.fields.push((name.into(), value));
        Ok(())
    }
}

impl PartialEq for Unknown {
    /// The same names with the same JSON texts, in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.fields.len() == other.fields.len()
            && self.fields.iter().zip(&other.fields).all(|((a, x), (b, y))| a == b && x.get() == y.get())
    }
}

impl Eq for Unknown {}

impl fmt::Debug for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.fields.iter().map(|(name, value)| (name, value.get()))).finish()
    }
}

impl Serialize for Unknown {
    /// As a map: flattened into the object that holds it, each value written as its JSON text.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in &self.fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// An API object that keeps the fields it does not know.
pub(crate) trait KeepsUnknown: Sized {
    /// Where they go.
    fn unknown_mut(&mut self) -> &mut Unknown;

    /// The derived deserializer (`remote = "Self"`), which asks for the fields it knows.
    fn deserialize_known<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// Reads an object in one pass: the fields the derived deserializer names go to it as they come, typed in place;
/// every other field's value is kept as raw JSON text in the result's [`Unknown`]. Nothing is read twice, and a
/// known field that fails says where, as any serde error does. Raw text needs serde_json.
pub(crate) fn read_object<'de, D: Deserializer<'de>, T: KeepsUnknown>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_map(Object(std::marker::PhantomData))
}

struct Object<T>(std::marker::PhantomData<fn() -> T>);

impl<'de, T: KeepsUnknown> Visitor<'de> for Object<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut rest = Unknown::new();
        let mut value = T::deserialize_known(Known { map: &mut map, rest: &mut rest })?;
        *value.unknown_mut() = rest;
        Ok(value)
    }
}

/// The object's fields, for the derived deserializer: it names the fields it knows, and sees only those.
struct Known<'a, A> {
    map: &'a mut A,
    rest: &'a mut Unknown,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Known<'_, A> {
    type Error = A::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(Filtered { map: self.map, names, rest: self.rest })
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        // Only derived structs read through this; anything else sees every field as unknown.
        visitor.visit_map(Filtered { map: self.map, names: &[], rest: self.rest })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
        newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// The real map, showing the derived deserializer only the fields it named; the others' values set aside raw.
struct Filtered<'a, A> {
    map: &'a mut A,
    names: &'static [&'static str],
    rest: &'a mut Unknown,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Filtered<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        while let Some(name) = self.map.next_key_seed(Name)? {
            if self.names.contains(&name.as_ref()) {
                let name = match name {
                    Cow::Borrowed(name) => seed.deserialize(de::value::BorrowedStrDeserializer::new(name))?,
                    Cow::Owned(name) => seed.deserialize(de::value::StringDeserializer::new(name))?,
                };
                return Ok(Some(name));
            }
            let value: Box<RawValue> = self.map.next_value()?;
            self.rest.fields.push((name.into_owned(), value));
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// A field's name, borrowed from the input where it can be.
struct Name;

impl<'de> de::DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(name))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(name.to_owned()))
    }

    fn visit_string<E: de::Error>(self, name: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(name))
    }
}

/// The trait impls of an object whose derives are `remote = "Self"` and whose `unknown` field is
/// `#[serde(flatten, skip_deserializing)]`: written as derived, read through [`read_object`].
macro_rules! keeps_unknown {
    ($object:ty) => {
        impl $crate::unknown::KeepsUnknown for $object {
            fn unknown_mut(&mut self) -> &mut $crate::Unknown {
                &mut self.unknown
            }

            fn deserialize_known<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <$object>::deserialize(deserializer)
            }
        }

        impl serde::Serialize for $object {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$object>::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $object {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::unknown::read_object(deserializer)
            }
        }
    };
}

pub(crate) use keeps_unknown;
