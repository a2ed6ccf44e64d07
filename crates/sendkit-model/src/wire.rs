//! A job as it is on the wire: each optional field absent, `null`, or a value, so that a job written back reads
//! as it came in.

use jiff::Timestamp;
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{Job, JobMetadata, JobStatus, JobType};

/// One optional field on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Field<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }

    fn split(self, null_bit: u8, nulls: &mut u8) -> Option<T> {
        match self {
            Self::Absent => None,
            Self::Null => {
                *nulls |= null_bit;
                None
            }
            Self::Value(value) => Some(value),
        }
    }

    fn join(value: Option<T>, null_bit: u8, nulls: u8) -> Self {
        match value {
            Some(value) => Self::Value(value),
            None if nulls & null_bit != 0 => Self::Null,
            None => Self::Absent,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Self::Value(value),
            None => Self::Null,
        })
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(value) => value.serialize(serializer),
            Self::Absent | Self::Null => serializer.serialize_none(),
        }
    }
}

/// Which optional fields of a [`Job`] came as `null`. Equal whatever it holds: two jobs with the same values are
/// the same job, however the server wrote an empty field.
#[derive(Clone, Copy, Default)]
pub(crate) struct Nulls(u8);

impl PartialEq for Nulls {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Nulls {}

const METADATA: u8 = 1;
const TOTAL_LEADS: u8 = 2;
const CREATED_AT: u8 = 4;
const UPDATED_AT: u8 = 8;
const STARTED_AT: u8 = 16;
const COMPLETED_AT: u8 = 32;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub(crate) struct JobWire {
    id: String,
    #[serde(rename = "type")]
    job_type: JobType,
    status: JobStatus,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    metadata: Field<JobMetadata>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    total_leads: Field<u64>,
    #[serde(default, skip_serializing_if = "Field::is_absent", with = "time")]
    created_at: Field<Timestamp>,
    #[serde(default, skip_serializing_if = "Field::is_absent", with = "time")]
    updated_at: Field<Timestamp>,
    #[serde(default, skip_serializing_if = "Field::is_absent", with = "time")]
    started_at: Field<Timestamp>,
    #[serde(default, skip_serializing_if = "Field::is_absent", with = "time")]
    completed_at: Field<Timestamp>,
    #[serde(flatten, skip_deserializing)]
    unknown: crate::Unknown,
}

crate::unknown::keeps_unknown!(JobWire);

impl From<JobWire> for Job {
    fn from(wire: JobWire) -> Self {
        let mut nulls = 0;
        let metadata = wire.metadata.split(METADATA, &mut nulls);
        let total_leads = wire.total_leads.split(TOTAL_LEADS, &mut nulls);
        let created_at = wire.created_at.split(CREATED_AT, &mut nulls);
        let updated_at = wire.updated_at.split(UPDATED_AT, &mut nulls);
        let started_at = wire.started_at.split(STARTED_AT, &mut nulls);
        let completed_at = wire.completed_at.split(COMPLETED_AT, &mut nulls);
        Job {
            id: wire.id,
            job_type: wire.job_type,
            status: wire.status,
            metadata,
            total_leads,
            created_at,
            updated_at,
            started_at,
            completed_at,
            unknown: wire.unknown,
            nulls: Nulls(nulls),
        }
    }
}

impl From<Job> for JobWire {
    fn from(job: Job) -> Self {
        let nulls = job.nulls.0;
        JobWire {
            id: job.id,
            job_type: job.job_type,
            status: job.status,
            metadata: Field::join(job.metadata, METADATA, nulls),
            total_leads: Field::join(job.total_leads, TOTAL_LEADS, nulls),
            created_at: Field::join(job.created_at, CREATED_AT, nulls),
            updated_at: Field::join(job.updated_at, UPDATED_AT, nulls),
            started_at: Field::join(job.started_at, STARTED_AT, nulls),
            completed_at: Field::join(job.completed_at, COMPLETED_AT, nulls),
            unknown: job.unknown,
        }
    }
}

/// Timestamps in the API's shape (see [`crate::timestamp`]), read in place without allocating.
mod time {
    use super::*;

    pub(super) fn serialize<S: Serializer>(value: &Field<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Field::Value(timestamp) => serializer.serialize_str(&crate::timestamp::format(timestamp)),
            Field::Absent | Field::Null => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Field<Timestamp>, D::Error> {
        deserializer.deserialize_option(FieldVisitor)
    }

    struct FieldVisitor;

    impl<'de> Visitor<'de> for FieldVisitor {
        type Value = Field<Timestamp>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 timestamp or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Field::Null)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Field::Null)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(TimestampVisitor).map(Field::Value)
        }
    }

    struct TimestampVisitor;

    impl Visitor<'_> for TimestampVisitor {
        type Value = Timestamp;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 timestamp")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
            text.parse::<Timestamp>().map_err(E::custom)
        }
    }
}
