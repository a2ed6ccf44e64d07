use std::fmt;

use http::HeaderValue;

use crate::error::InvalidInput;

/// A SendKit API key: `sk_user_...` (platform) or any other `sk_...` (workspace).
///
/// Its `Debug` is redacted and it has no `Display`, so it cannot end up in a log by accident; the value comes out
/// only through [`ApiKey::expose_secret`]. The header values built from it are marked sensitive, which keeps them
/// out of `http`'s `Debug` output and out of HTTP/2 header compression tables.
///
/// ```
/// use sendkit_proto::{ApiKey, KeyKind};
///
/// let key = ApiKey::new("sk_live_0123456789").unwrap();
/// assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
/// assert_eq!(key.kind(), KeyKind::Workspace);
/// assert!(ApiKey::new("sk_live\r\nX-Evil: 1").is_err());
/// ```
#[derive(Clone)]
pub struct ApiKey {
    key: String,
    x_api_key: HeaderValue,
    bearer: HeaderValue,
}

/// Which kind of key an [`ApiKey`] is, told by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// `sk_user_...`: acts across workspaces, and must name one with `X-Workspace-Id`.
    Platform,
    /// Any other key: bound to one workspace.
    Workspace,
}

impl ApiKey {
    /// Checks that `key` can be sent in an HTTP header: not empty, visible ASCII only (no spaces, CR, LF or
    /// other control characters).
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidInput> {
        let key = key.into();
        let invalid = |reason: String| InvalidInput::ApiKey { reason, from: None };
        let x_api_key = sensitive(crate::check::header_text(&key, false).map_err(invalid)?);
        let bearer = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| invalid("cannot be sent".into()))?;
        let bearer = sensitive(bearer);
        Ok(Self { key, x_api_key, bearer })
    }

    /// The key itself. Named so that every place that reads it stands out in review.
    pub fn expose_secret(&self) -> &str {
        &self.key
    }

    /// Platform or workspace, told by the `sk_user_` prefix. Prefixes are not otherwise validated: the API's own
    /// docs show keys such as `sk_live_...`.
    pub fn kind(&self) -> KeyKind {
        if self.key.starts_with("sk_user_") {
            KeyKind::Platform
        } else {
            KeyKind::Workspace
        }
    }

    pub(crate) fn x_api_key_header(&self) -> &HeaderValue {
        &self.x_api_key
    }

    pub(crate) fn bearer_header(&self) -> &HeaderValue {
        &self.bearer
    }
}

fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for ApiKey {}
