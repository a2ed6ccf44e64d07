use std::net::IpAddr;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request};

use crate::error::InvalidInput;
use crate::retry::RetryPolicy;
use crate::secret::ApiKey;

/// The API's production base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.sendkit.ai";
/// The `User-Agent` every request carries: the SDK's name and version.
pub const USER_AGENT_VALUE: &str = concat!("sendkit-rust/", env!("CARGO_PKG_VERSION"));
/// How long an adapter waits for a connection, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt (connect, send, whole answer) may take, by default.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body an adapter reads, by default: 1 MiB.
pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;

/// The environment variable holding the API key.
pub const ENV_API_KEY: &str = "SENDKIT_API_KEY";
/// The environment variable holding the base URL (optional).
pub const ENV_BASE_URL: &str = "SENDKIT_BASE_URL";
/// The environment variable holding the workspace ID (optional).
pub const ENV_WORKSPACE_ID: &str = "SENDKIT_WORKSPACE_ID";

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_WORKSPACE_ID: HeaderName = HeaderName::from_static("x-workspace-id");

/// Which headers carry the key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthStyle {
    /// `X-Api-Key: <key>` and `Authorization: Bearer <key>`, as the API's cancel page sends them.
    #[default]
    Both,
    /// `X-Api-Key: <key>` only.
    ApiKeyHeader,
    /// `Authorization: Bearer <key>` only.
    Bearer,
}

/// Everything a call needs to know that is not the call itself: where to send it, how to authenticate, how long
/// to wait and how often to retry. Built with [`Config::builder`] or [`Config::from_env`]; checked once, when built.
///
/// ```
/// use std::time::Duration;
/// use sendkit_proto::{AuthStyle, Config, RetryPolicy};
///
/// let config = Config::builder("sk_live_0123456789")
///     .base_url("http://127.0.0.1:8080") // plain http is fine on loopback
///     .workspace_id("ws_42")
///     .auth_style(AuthStyle::ApiKeyHeader)
///     .retry(RetryPolicy::default().max_attempts(5))
///     .attempt_timeout(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// assert_eq!(config.base_url(), "http://127.0.0.1:8080");
///
/// // The key must not cross a network in clear.
/// assert!(Config::builder("sk_live_0123456789").base_url("http://api.example.com").build().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    base_url: String,
    key: ApiKey,
    workspace_id: Option<HeaderValue>,
    auth_style: AuthStyle,
    retry: RetryPolicy,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    body_limit: u64,
}

impl Config {
    /// A builder for a client authenticated by `api_key`, with every other setting at its default.
    pub fn builder(api_key: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder {
            api_key: api_key.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            insecure_http: false,
            workspace_id: None,
            auth_style: AuthStyle::default(),
            retry: RetryPolicy::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// A builder from `SENDKIT_API_KEY` (required), `SENDKIT_BASE_URL` and `SENDKIT_WORKSPACE_ID` (optional).
    pub fn from_env() -> Result<ConfigBuilder, InvalidInput> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup`: for tests, or settings kept elsewhere.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ConfigBuilder, InvalidInput> {
        let key = lookup(ENV_API_KEY).ok_or(InvalidInput::MissingEnv(ENV_API_KEY))?;
        let mut builder = Self::builder(key);
        if let Some(base_url) = lookup(ENV_BASE_URL).filter(|v| !v.is_empty()) {
            builder = builder.base_url(base_url);
        }
        if let Some(workspace_id) = lookup(ENV_WORKSPACE_ID).filter(|v| !v.is_empty()) {
            builder = builder.workspace_id(workspace_id);
        }
        Ok(builder)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API key.
    pub fn api_key(&self) -> &ApiKey {
        &self.key
    }

    /// Which headers carry the key.
    pub fn auth_style(&self) -> AuthStyle {
        self.auth_style
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// How long an adapter waits for a connection.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long one attempt may take in all, from connecting to the last byte of the answer.
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// The largest response body an adapter reads, in bytes.
    pub fn body_limit(&self) -> u64 {
        self.body_limit
    }

    /// A request to `path` (which starts with `/`, and whose segments the caller has encoded) with every header the
    /// API needs: auth as configured, `Accept`, `User-Agent`, and `X-Workspace-Id` when set. With `Some(body)` it is
    /// a JSON request (`Content-Type: application/json`), even when the body is empty, as the API's cancel page
    /// sends it. This is what the built-in operations use; an [`Operation`](crate::Operation) of your own for a
    /// call the SDK does not cover yet can use it too, with [`parse_response`](crate::parse_response):
    ///
    /// ```
    /// use sendkit_proto::http::{Method, Request, Response};
    /// use sendkit_proto::{Config, Error, Idempotency, Operation};
    ///
    /// /// `GET /v1/enrichment/jobs`: a call this SDK does not have, as a user would add it.
    /// struct ListJobs;
    ///
    /// impl Operation for ListJobs {
    ///     type Output = serde_json::Value;
    ///     fn name(&self) -> &'static str { "list_jobs" }
    ///     fn idempotency(&self) -> Idempotency { Idempotency::Idempotent }
    ///     fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
    ///         Ok(config.request(Method::GET, "/v1/enrichment/jobs", None)?)
    ///     }
    ///     fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Self::Output, Error> {
    ///         sendkit_proto::parse_response(response)
    ///     }
    /// }
    ///
    /// let config = Config::builder("sk_live_0123456789").build().unwrap();
    /// let request = ListJobs.build_request(&config).unwrap();
    /// assert_eq!(request.uri(), "https://api.sendkit.ai/v1/enrichment/jobs");
    /// assert!(request.headers()["x-api-key"].is_sensitive());
    /// ```
    pub fn request(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Request<Vec<u8>>, InvalidInput> {
        let json = body.is_some();
        let body = body.unwrap_or_default();
        let mut uri = String::with_capacity(self.base_url.len() + path.len());
        uri.push_str(&self.base_url);
        uri.push_str(path);
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri
            .parse()
            .map_err(|_| InvalidInput::BaseUrl { url: self.base_url.clone(), reason: "no valid request URI" })?;
        let headers = request.headers_mut();
        if json {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if matches!(self.auth_style, AuthStyle::Both | AuthStyle::ApiKeyHeader) {
            headers.insert(X_API_KEY, self.key.x_api_key_header().clone());
        }
        if matches!(self.auth_style, AuthStyle::Both | AuthStyle::Bearer) {
            headers.insert(AUTHORIZATION, self.key.bearer_header().clone());
        }
        if let Some(workspace_id) = &self.workspace_id {
            headers.insert(X_WORKSPACE_ID, workspace_id.clone());
        }
        Ok(request)
    }
}

/// Builds a [`Config`]. Setters never fail; [`ConfigBuilder::build`] checks everything at once.
#[derive(Clone)]
#[must_use]
pub struct ConfigBuilder {
    api_key: String,
    base_url: String,
    insecure_http: bool,
    workspace_id: Option<String>,
    auth_style: AuthStyle,
    retry: RetryPolicy,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    body_limit: u64,
}

impl std::fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("api_key", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("insecure_http", &self.insecure_http)
            .field("workspace_id", &self.workspace_id)
            .field("auth_style", &self.auth_style)
            .field("retry", &self.retry)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl ConfigBuilder {
    /// Where the API is (default `https://api.sendkit.ai`). `https` always; plain `http` only to a loopback host
    /// (`localhost`, `127.0.0.0/8`, `[::1]`) unless [`ConfigBuilder::danger_allow_insecure_http`] is set.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Allows plain `http://` to any host, which sends the key across the network in clear. For test networks only.
    pub fn danger_allow_insecure_http(mut self) -> Self {
        self.insecure_http = true;
        self
    }

    /// Sends `X-Workspace-Id` on every request: needed with a platform key (`sk_user_...`).
    pub fn workspace_id(mut self, workspace_id: impl Into<String>) -> Self {
        self.workspace_id = Some(workspace_id.into());
        self
    }

    /// Which headers carry the key (default both).
    pub fn auth_style(mut self, auth_style: AuthStyle) -> Self {
        self.auth_style = auth_style;
        self
    }

    /// How calls are retried (default [`RetryPolicy::default`]; [`RetryPolicy::none`] turns retries off).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take in all (default 30 s). Each retry gets the same again.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The largest response body to read, in bytes (default 1 MiB). A larger one is a
    /// [`BodyTooLarge`](crate::Error::BodyTooLarge) error, read no further than the limit.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Checks the settings and builds the config.
    pub fn build(self) -> Result<Config, InvalidInput> {
        let key = ApiKey::new(self.api_key)?;
        let base_url = check_base_url(&self.base_url, self.insecure_http)?;
        let workspace_id = match self.workspace_id {
            None => None,
            Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()) => {
                Some(HeaderValue::from_str(&id).map_err(|_| InvalidInput::WorkspaceId)?)
            }
            Some(_) => return Err(InvalidInput::WorkspaceId),
        };
        Ok(Config {
            base_url,
            key,
            workspace_id,
            auth_style: self.auth_style,
            retry: self.retry,
            connect_timeout: self.connect_timeout,
            attempt_timeout: self.attempt_timeout,
            body_limit: self.body_limit,
        })
    }
}

fn check_base_url(url: &str, insecure_http: bool) -> Result<String, InvalidInput> {
    let fail = |reason| InvalidInput::BaseUrl { url: url.to_owned(), reason };
    let uri: http::Uri = url.parse().map_err(|_| fail("not a URL"))?;
    let authority = uri.authority().ok_or_else(|| fail("no host"))?;
    if authority.as_str().contains('@') {
        return Err(fail("credentials in the URL are not allowed: configure the API key instead"));
    }
    if uri.query().is_some() {
        return Err(fail("a query string is not allowed"));
    }
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if insecure_http || is_loopback(authority.host()) => {}
        Some("http") => {
            return Err(fail("plain http would send the key in clear: use https, a loopback host, or opt in"));
        }
        _ => return Err(fail("the scheme must be https or http")),
    }
    let path = uri.path().trim_end_matches('/');
    Ok(format!("{}://{}{}", uri.scheme_str().unwrap_or("https"), authority, path))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let ok = |url: &str| check_base_url(url, false).unwrap();
        assert_eq!(ok("https://api.sendkit.ai/"), "https://api.sendkit.ai");
        assert_eq!(ok("https://proxy.example.com/sendkit/"), "https://proxy.example.com/sendkit");
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://127.9.9.9"), "http://127.9.9.9");
        assert_eq!(ok("http://localhost:1"), "http://localhost:1");
        assert_eq!(ok("http://[::1]:99"), "http://[::1]:99");
        for bad in [
            "http://api.sendkit.ai",
            "http://10.0.0.1",
            "ftp://x",
            "api.sendkit.ai",
            "",
            "https://u:p@x.com",
            "https://x.com/?a=1",
            "http://localhost.evil.com",
        ] {
            assert!(check_base_url(bad, false).is_err(), "{bad}");
        }
        assert_eq!(check_base_url("http://api.internal", true).unwrap(), "http://api.internal");
    }

    #[test]
    fn env_lookup() {
        let vars = |name: &str| match name {
            ENV_API_KEY => Some("sk_user_abc".to_owned()),
            ENV_BASE_URL => Some("http://localhost:9".to_owned()),
            ENV_WORKSPACE_ID => Some("ws_1".to_owned()),
            _ => None,
        };
        let config = Config::from_lookup(vars).unwrap().build().unwrap();
        assert_eq!(config.base_url(), "http://localhost:9");
        assert_eq!(config.workspace_id.as_ref().unwrap(), "ws_1");
        assert!(matches!(Config::from_lookup(|_| None), Err(InvalidInput::MissingEnv(ENV_API_KEY))));
    }

    #[test]
    fn bad_keys_and_workspace_ids_are_refused() {
        for key in ["", "sk_live_\r\n", "sk live", "sk_\u{7f}", "sk_é"] {
            assert!(matches!(Config::builder(key).build(), Err(InvalidInput::ApiKey(_))), "{key:?}");
        }
        for id in ["", "ws\n1", "ws 1"] {
            let built = Config::builder("sk_1").workspace_id(id).build();
            assert!(matches!(built, Err(InvalidInput::WorkspaceId)), "{id:?}");
        }
    }
}
