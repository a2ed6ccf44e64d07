//! What makes a setting acceptable: shared by the config, the retry policy, the key and the wait policy, and
//! depending on none of them.

use std::time::Duration;

use http::HeaderValue;

use crate::error::InvalidInput;

/// The longest duration any setting takes: a day.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

pub(crate) fn setting(setting: &'static str, reason: String) -> InvalidInput {
    InvalidInput::Setting { setting, reason }
}

/// A duration setting must be at least a millisecond (the finest a transport's timer keeps) and at most
/// [`MAX_DURATION`].
pub(crate) fn check_duration(name: &'static str, value: Duration) -> Result<(), InvalidInput> {
    if value < Duration::from_millis(1) {
        return Err(setting(name, format!("{value:?} is shorter than the least allowed, one millisecond")));
    }
    if value > MAX_DURATION {
        return Err(setting(name, format!("{value:?} is longer than the most allowed, one day")));
    }
    Ok(())
}

/// A value that can be sent in a header: visible ASCII (and spaces inside, where `spaces`), not empty. The
/// reason says where the first bad character is.
pub(crate) fn header_text(text: &str, spaces: bool) -> Result<HeaderValue, String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| !(c.is_ascii_graphic() || (spaces && c == ' '))) {
        let what = match c {
            ' ' => "a space".to_owned(),
            c if c.is_control() => format!("a control character ({})", c.escape_default()),
            _ => "a character that is not ASCII".to_owned(),
        };
        return Err(format!("holds {what} at byte {at}: only visible ASCII can be sent in a header"));
    }
    HeaderValue::from_str(text).map_err(|_| "cannot be sent in a header".to_owned())
}

/// The port an authority (`[user@]host[:port]`) names, if it names one: `Err` with the reason when what follows
/// the host's colon is not a port from 1 to 65535. A port that is not one must never be taken for the default:
/// that would send the request, and the credentials with it, to another listener.
pub(crate) fn authority_port(authority: &str) -> Result<Option<u16>, &'static str> {
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, rest)| rest);
    // An IPv6 literal holds colons of its own: the port, if any, follows its closing bracket.
    let after_host = match host_and_port.strip_prefix('[') {
        Some(literal) => literal.split_once(']').map_or("", |(_, rest)| rest),
        None => host_and_port.find(':').map_or("", |at| &host_and_port[at..]),
    };
    match after_host.strip_prefix(':') {
        None | Some("") => Ok(None),
        // Digits only: `u16::from_str` would take a leading `+`.
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => match port.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Some(port)),
            _ => Err("the port is not a number from 1 to 65535"),
        },
        Some(_) => Err("the port is not a number from 1 to 65535"),
    }
}
