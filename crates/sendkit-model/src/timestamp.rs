//! Timestamps as the API writes them: RFC 3339 in UTC with milliseconds (`2025-03-19T10:00:00.000Z`).
//!
//! jiff's own serde form drops a zero fraction (`...T10:00:00Z`); this module keeps the API's shape so that a job
//! written back out reads like the one that came in. Parsing accepts any RFC 3339 instant, with or without a
//! fraction, in any offset.

use jiff::Timestamp;

/// Formats `timestamp` the way the API does.
pub fn format(timestamp: &Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
