//! Fields the SDK does not know, kept exactly: each value as the JSON text the server sent, in order, a repeated
//! name repeated. What `#[serde(flatten)]` into a map of values could not do: a number past `f64` (`1e400`), an
//! integer past 64 bits, `-0`, `1E2`, a lone surrogate in a string, a duplicate key: each came back changed, or
//! made a job the SDK can read unreadable.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::MapDeserializer;
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
}

/// Reads an object: every field's value taken as raw JSON text, the known ones handed to `known` (a derived
/// deserializer, which asks for the fields it knows), the others kept in the result's [`Unknown`]. Reads JSON
/// (serde_json) only: raw text is what keeps the unknown values exact.
pub(crate) fn read_object<'de, D, T, F>(deserializer: D, known: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: KeepsUnknown,
    F: FnOnce(Known<'_>) -> Result<T, serde_path_to_error::Error<serde_json::Error>>,
{
    let fields = deserializer.deserialize_map(Fields)?;
    let rest = RefCell::new(Unknown::new());
    let mut value = known(Known { fields: &fields, rest: &rest }).map_err(|error| de::Error::custom(at(error)))?;
    *value.unknown_mut() = rest.into_inner();
    Ok(value)
}

/// The words of a known field's failure, with where it was: `at \`metadata.totalItems\`: invalid type...`, a
/// path that an object around this one extends, and that a reader of the error (proto's) joins to its own.
fn at(error: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let mut inner = error.into_inner().to_string();
    // serde_json's position counts within the field's own text, not the body: it would mislead.
    if let Some(at) = inner.rfind(" at line ") {
        let position = &inner[at + " at line ".len()..];
        if position.split(" column ").all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            inner.truncate(at);
        }
    }
    // A failure inside a nested object already says where it was within that object.
    match inner.strip_prefix("at `").and_then(|rest| rest.split_once("`: ")) {
        Some((deeper, words)) => format!("at `{path}.{deeper}`: {words}"),
        None => format!("at `{path}`: {inner}"),
    }
}

/// Every field of an object, its value as raw JSON text.
struct Fields;

impl<'de> Visitor<'de> for Fields {
    type Value = Vec<(String, Box<RawValue>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(name) = map.next_key::<String>()? {
            fields.push((name, map.next_value::<Box<RawValue>>()?));
        }
        Ok(fields)
    }
}

/// The known fields, for a derived deserializer: it names the fields it knows; the rest go aside.
pub(crate) struct Known<'a> {
    fields: &'a [(String, Box<RawValue>)],
    rest: &'a RefCell<Unknown>,
}

impl<'de> Deserializer<'de> for Known<'de> {
    type Error = serde_json::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let (known, rest): (Vec<_>, Vec<_>) = self.fields.iter().partition(|(name, _)| names.contains(&name.as_str()));
        self.rest.borrow_mut().fields = rest.into_iter().cloned().collect();
        visitor.visit_map(MapDeserializer::new(known.into_iter().map(|(name, value)| (name.as_str(), &**value))))
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        // Only derived structs read through this; anything else sees every field as known.
        visitor.visit_map(MapDeserializer::new(self.fields.iter().map(|(name, value)| (name.as_str(), &**value))))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
        newtype_struct seq tuple tuple_struct map enum identifier ignored_any
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
        }

        impl serde::Serialize for $object {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$object>::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $object {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::unknown::read_object(deserializer, |known| {
                    let mut track = serde_path_to_error::Track::new();
                    match <$object>::deserialize(serde_path_to_error::Deserializer::new(known, &mut track)) {
                        Ok(value) => Ok(value),
                        Err(error) => Err(serde_path_to_error::Error::new(track.path(), error)),
                    }
                })
            }
        }
    };
}

pub(crate) use keeps_unknown;
