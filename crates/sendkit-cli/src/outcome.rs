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
    Usage,
    Unknown,
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

    /// The outcome's name in `--json` lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "done",
            Self::Failure => "failed",
            Self::Usage => "invalid_input",
            Self::NotCancellable => "not_cancellable",
            Self::NotFound => "not_found",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::Unknown => "may_have_taken_effect",
            Self::WaitTimedOut => "wait_timed_out",
            Self::Interrupted => "interrupted",
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Outcome; 10] = [
        Outcome::Success,
        Outcome::NotCancellable,
        Outcome::NotFound,
        Outcome::WaitTimedOut,
        Outcome::Failure,
        Outcome::RateLimited,
        Outcome::Unauthorized,
        Outcome::Usage,
        Outcome::Unknown,
        Outcome::Interrupted,
    ];

    /// The precedence `--help` states, read from the help text itself.
    fn documented() -> Vec<u8> {
        let help = crate::args::EXIT_CODES;
        let line = help.lines().skip_while(|line| !line.starts_with("When jobs fail")).nth(1).unwrap();
        line.trim_end_matches('.').split(", ").map(|code| code.parse().unwrap()).collect()
    }

    #[test]
    fn every_pair_ends_with_the_code_help_puts_first() {
        let order = documented();
        assert_eq!(order.len(), ALL.len() - 1, "every code but 0 is ranked: {order:?}");
        let rank = |outcome: Outcome| order.iter().position(|code| *code == outcome.code()).unwrap_or(order.len());
        for a in ALL {
            for b in ALL {
                let expected = if rank(a) <= rank(b) { a } else { b };
                assert_eq!(a.max(b), expected, "{a:?} with {b:?}");
            }
        }
    }
}
