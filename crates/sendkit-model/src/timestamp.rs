//! Timestamps as the API writes them: RFC 3339 in UTC with milliseconds (`2025-03-19T10:00:00.000Z`).
//!
//! jiff's own serde form drops a zero fraction (`...T10:00:00Z`); this module keeps the API's shape so that a job
//! written back out reads like the one that came in. Parsing accepts any RFC 3339 instant, with or without a
//! fraction, in any offset.

use jiff::Timestamp;
use serde::{Deserializer, Serializer};

/// Formats `timestamp` the way the API does.
pub fn format(timestamp: &Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Serde for `Option<Timestamp>`: `null` or absent is `None`.
pub(crate) mod option {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(timestamp) => serializer.serialize_str(&format(timestamp)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Timestamp>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    /// Visitors rather than `Option<Cow<str>>`, whose serde impl always allocates: parsing reads the text in place.
    struct OptionVisitor;

    impl<'de> serde::de::Visitor<'de> for OptionVisitor {
        type Value = Option<Timestamp>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 timestamp or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(TimestampVisitor).map(Some)
        }
    }

    struct TimestampVisitor;

    impl serde::de::Visitor<'_> for TimestampVisitor {
        type Value = Timestamp;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 timestamp")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
            text.parse::<Timestamp>().map_err(E::custom)
        }
    }
}
