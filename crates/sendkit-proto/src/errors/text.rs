//! How the parts of a message are written: server text escaped, durations as a person says them, the optional
//! parts left out when absent. Shared by every error's message.

use std::fmt;
use std::time::Duration;

use sendkit_model::ErrorCode;

/// Server and user text with control characters escaped, so that a message cannot rewrite the terminal.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// `before`, the value and `after` when there is a value; nothing when there is none: the optional parts of a
/// message.
pub(crate) struct Optional<T>(pub(crate) &'static str, pub(crate) Option<T>, pub(crate) &'static str);

impl<T: fmt::Display> fmt::Display for Optional<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.1 {
            Some(value) => write!(f, "{}{value}{}", self.0, self.2),
            None => Ok(()),
        }
    }
}

/// Text shown quoted and escaped, as `Debug` writes a string.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A job ID as written in messages: bare when it is plain, quoted and escaped otherwise.
pub(crate) struct JobIdText<'a>(pub(crate) &'a str);

impl fmt::Display for JobIdText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty() && self.0.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

pub(crate) struct CodeOr<'a>(pub(crate) &'a Option<ErrorCode>, pub(crate) &'static str);

impl fmt::Display for CodeOr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, "{code}"),
            None => f.write_str(self.1),
        }
    }
}

pub(crate) struct SnippetText<'a>(pub(crate) &'a str);

impl fmt::Display for SnippetText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(", empty body")
        } else {
            write!(f, ", body starts {:?}", self.0)
        }
    }
}

pub(crate) struct Attempts(pub(crate) u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }
    }
}

/// A duration as a person reads it: `250ms`, `1.5s`, `90s`.
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis < 1000 {
            return write!(f, "{millis}ms");
        }
        // In tenths of a second, rounded: a wait of 29.998 s reads `30s`, not `30.0s`.
        let tenths = (millis + 50) / 100;
        match tenths % 10 {
            0 => write!(f, "{}s", tenths / 10),
            tenth => write!(f, "{}.{tenth}s", tenths / 10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_rewrite_the_terminal() {
        assert_eq!(Escaped("a\nb\u{1b}[2Jc \"d\"").to_string(), "a\\nb\\u{1b}[2Jc \"d\"");
        assert_eq!(JobIdText("job_1").to_string(), "job_1");
        assert_eq!(JobIdText("a b").to_string(), "\"a b\"");
        assert_eq!(JobIdText("").to_string(), "\"\"");
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(HumanDuration(Duration::from_millis(250)).to_string(), "250ms");
        assert_eq!(HumanDuration(Duration::from_secs(90)).to_string(), "90s");
        assert_eq!(HumanDuration(Duration::from_millis(1500)).to_string(), "1.5s");
        assert_eq!(HumanDuration(Duration::from_millis(29_998)).to_string(), "30s");
        assert_eq!(HumanDuration(Duration::from_millis(1_049)).to_string(), "1s");
        assert_eq!(HumanDuration(Duration::from_millis(1_950)).to_string(), "2s");
        assert_eq!(HumanDuration(Duration::from_millis(12_345)).to_string(), "12.3s");
    }
}
