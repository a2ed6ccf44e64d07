//! Exit codes: what a script can tell from the status alone.

use std::process::ExitCode;

use sendkit_ureq::Error;

/// How a command ended, as its exit code says it. Ordered by how much a script must know about it: when jobs end
/// in different ways, the most pressing one is the command's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    NotCancellable,
    NotFound,
    WaitTimedOut,
    Failure,
    RateLimited,
    Unauthorized,
    Unknown,
    Usage,
    Interrupted,
}

impl Outcome {
    /// The outcome an error stands for.
    pub fn of(error: &Error) -> Self {
        if error.may_have_taken_effect() {
            return Self::Unknown;
        }
        match error {
            Error::NotCancellable { .. } => Self::NotCancellable,
            Error::NotFound { .. } => Self::NotFound,
            Error::Unauthorized { .. } => Self::Unauthorized,
            Error::Api { answer, .. } if answer.status.as_u16() == 403 => Self::Unauthorized,
            Error::RateLimited { .. } => Self::RateLimited,
            Error::WaitTimedOut { .. } => Self::WaitTimedOut,
            Error::InvalidInput(_) => Self::Usage,
            _ => Self::Failure,
        }
    }

    /// The code the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::NotCancellable => 3,
            Self::NotFound => 4,
            Self::Unauthorized => 5,
            Self::RateLimited => 6,
            Self::Unknown => 7,
            Self::WaitTimedOut => 8,
            Self::Interrupted => 130,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(outcome.code())
    }
}
