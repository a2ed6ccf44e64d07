//! Named profiles in a config file: settings a person keeps for each account or environment, below the flags and
//! the environment variables in precedence.
//!
//! ```toml
//! default_profile = "staging"        # used when neither --profile nor SENDKIT_PROFILE names one
//!
//! [profiles.staging]
//! base_url = "https://staging.sendkit.example"
//! workspace = "ws_42"
//! api_key_file = "/home/me/.sendkit/staging.key"   # or api_key = "sk_..." in a file only you can read
//! attempt_timeout = "10s"
//! deadline = "1m"
//! concurrency = 16
//! max_rate = 12.5                    # this account's share of its key's limit, in requests a second
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The file: profiles by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One profile's settings; each one unset falls through to the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub base_url: Option<String>,
    pub workspace: Option<String>,
    pub api_key: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub attempt_timeout: Option<String>,
    pub deadline: Option<String>,
    pub concurrency: Option<u16>,
    /// Requests a second, as `--max-rate` takes them: TOML's integers and floats alike.
    pub max_rate: Option<f64>,
}

/// The profile in force, and where it came from.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    /// `NAME in PATH`, for messages and `sendkit config`; `None` when no profile is in force.
    pub source: Option<String>,
    pub profile: Profile,
}

/// Where the file is: `SENDKIT_CONFIG`, else the platform's config directory (`$XDG_CONFIG_HOME`, `%APPDATA%`, or
/// `~/.config`), `sendkit/config.toml` in it.
pub fn path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SENDKIT_CONFIG").filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("sendkit").join("config.toml"))
}

/// The profile `wanted` names (`--profile`, else `SENDKIT_PROFILE`), else the file's default one, else none. A
/// file that cannot be read as profiles, a profile that is not there, or a key in a file others can read is an
/// error that says what to do.
pub fn choose(wanted: Option<&str>) -> Result<Chosen, String> {
    let wanted = wanted.map(str::to_owned).or_else(|| std::env::var("SENDKIT_PROFILE").ok().filter(|p| !p.is_empty()));
    let Some(path) = path() else { return Ok(Chosen::default()) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // A file named outright that is not there is a mistake to say, not a default to fall back on.
        Err(err)
            if err.kind() == std::io::ErrorKind::NotFound
                && std::env::var_os("SENDKIT_CONFIG").is_some_and(|p| !p.is_empty()) =>
        {
            return Err(format!("SENDKIT_CONFIG names {}, which does not exist", path.display()));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return match wanted {
                Some(name) => {
                    Err(format!("profile {name:?} asked for, but there is no profiles file at {}", path.display()))
                }
                None => Ok(Chosen::default()),
            };
        }
        Err(err) => return Err(format!("{}: cannot read it: {err}", path.display())),
    };
    let file: File = toml::from_str(&text).map_err(|err| format!("{}: {}", path.display(), err.message()))?;
    let Some(name) = wanted
        .or(file.default_profile.clone())
        .or_else(|| file.profiles.contains_key("default").then(|| "default".to_owned()))
    else {
        return Ok(Chosen::default());
    };
    let Some(profile) = file.profiles.get(&name).cloned() else {
        let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
        return Err(format!("no profile {name:?} in {} (it has: {})", path.display(), known.join(", ")));
    };
    // Any profile's key, not only the chosen one's: a file others can read gives every key in it away.
    if file.profiles.values().any(|profile| profile.api_key.is_some()) && readable_by_others(&path) {
        return Err(format!(
            "{} holds an API key and other users can read it: run `chmod 600 {}`, or keep the key in api_key_file",
            path.display(),
            path.display()
        ));
    }
    Ok(Chosen { source: Some(format!("profile {name} in {}", path.display())), profile })
}

#[cfg(unix)]
pub(crate) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
pub(crate) fn readable_by_others(_: &Path) -> bool {
    false
}

impl Profile {
    /// The key, from `api_key` or the file `api_key_file` names (trimmed).
    pub fn key(&self) -> Result<Option<String>, String> {
        if let Some(key) = &self.api_key {
            return Ok(Some(key.trim().to_owned()));
        }
        match &self.api_key_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|text| Some(text.trim().to_owned()))
                .map_err(|err| format!("api_key_file {}: cannot read it: {err}", path.display())),
            None => Ok(None),
        }
    }

    /// The profile's `max_rate`, checked as the flag is: a number of requests a second, or zero for no limit.
    pub fn max_rate(&self) -> Result<Option<f64>, String> {
        self.max_rate
            .map(|rate| {
                crate::args::per_second_or_zero(&rate.to_string()).map_err(|reason| format!("max_rate: {reason}"))
            })
            .transpose()
    }

    /// A duration setting of the profile, read as the flags read one.
    pub fn duration(&self, name: &str, value: Option<&String>) -> Result<Option<Duration>, String> {
        value.map(|text| crate::args::duration_or_zero(text).map_err(|reason| format!("{name}: {reason}"))).transpose()
    }
}
