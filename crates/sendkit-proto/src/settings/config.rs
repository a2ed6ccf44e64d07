//! The settings of a client, checked once when built.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri};

use crate::check::{check_duration, header_text, setting};
use crate::error::InvalidInput;
use crate::observe::{Observer, Observing};
use crate::pace::Pacer;
use crate::proxy::{Proxy, ProxyEnv, ProxyServer};
use crate::retry::RetryPolicy;
use crate::secret::{ApiKey, KeyKind};
use crate::trust::ClientIdentity;

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
/// to wait and how often to retry. Built with [`Config::builder`] or [`Config::from_env`]; checked once, when built:
/// every setting is either honoured or refused there with an error that names it.
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
///     .deadline(Some(Duration::from_secs(20)))
///     .application("my-service/1.0")
///     .build()
///     .unwrap();
/// assert_eq!(config.base_url(), "http://127.0.0.1:8080");
/// assert_eq!(config.user_agent(), concat!("my-service/1.0 sendkit-rust/", env!("CARGO_PKG_VERSION")));
///
/// // The key must not cross a network in clear.
/// let error = Config::builder("sk_live_0123456789").base_url("http://api.example.com").build().unwrap_err();
/// assert!(error.to_string().contains("danger_allow_insecure_http"));
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    base_url: String,
    /// Where the base URL's authority starts and ends (its path begins), found once so that building a request
    /// need not.
    authority: (usize, usize),
    origin: String,
    key: ApiKey,
    workspace_id: Option<HeaderValue>,
    auth_style: AuthStyle,
    retry: RetryPolicy,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    deadline: Option<Duration>,
    body_limit: u64,
    user_agent: HeaderValue,
    proxy: Option<ProxyServer>,
    /// Shared by the clones of this config: the server's rate limit is the key's, whatever client sends.
    pacer: Option<Arc<Pacer>>,
    observer: Option<Observing>,
    /// Certificates to trust instead of the client's default roots, as DER.
    trust: Option<Arc<[Vec<u8>]>>,
    identity: Option<ClientIdentity>,
}

impl Config {
    /// The API's production base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.sendkit.ai";
    /// How long connecting may take, by default.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long one attempt (connect, send, whole answer) may take, by default.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
    /// How long a whole call (every attempt, every wait between them) may take, by default.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
    /// The largest response body read, by default: 1 MiB.
    pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;
    /// The lowest [`ConfigBuilder::max_rate`]: one request an hour.
    pub const MIN_MAX_RATE: f64 = 1.0 / 3600.0;
    /// The longest any duration setting may be: one day. Longer ones are refused rather than overflowing.
    pub const MAX_DURATION: Duration = crate::check::MAX_DURATION;
    /// The SDK's part of the `User-Agent`: its name and version.
    pub const USER_AGENT: &'static str = concat!("sendkit-rust/", env!("CARGO_PKG_VERSION"));

    /// The environment variable holding the API key (surrounding whitespace is trimmed).
    pub const ENV_API_KEY: &'static str = "SENDKIT_API_KEY";
    /// The environment variable holding the base URL (optional).
    pub const ENV_BASE_URL: &'static str = "SENDKIT_BASE_URL";
    /// The environment variable holding the workspace ID (optional).
    pub const ENV_WORKSPACE_ID: &'static str = "SENDKIT_WORKSPACE_ID";
    /// Set to `1` to allow a plain-http base URL to a host that is not loopback (an emulator in a container
    /// network): the key then crosses that network in clear.
    pub const ENV_DANGER_ALLOW_INSECURE_HTTP: &'static str = "SENDKIT_DANGER_ALLOW_INSECURE_HTTP";

    /// A builder for a client authenticated by `api_key`, with every other setting at its default.
    pub fn builder(api_key: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder {
            api_key: api_key.into(),
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            insecure_http: false,
            workspace_id: None,
            auth_style: AuthStyle::default(),
            retry: RetryPolicy::default(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            attempt_timeout: Self::DEFAULT_ATTEMPT_TIMEOUT,
            deadline: Some(Self::DEFAULT_DEADLINE),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            application: None,
            proxy: Proxy::FromEnvironment,
            proxy_env: None,
            from_env: Sources::default(),
            pacing: true,
            max_rate: None,
            observer: None,
            trust_pem: None,
            identity_pem: None,
        }
    }

    /// A builder from `SENDKIT_API_KEY` (required), `SENDKIT_BASE_URL`, `SENDKIT_WORKSPACE_ID` and
    /// `SENDKIT_DANGER_ALLOW_INSECURE_HTTP` (optional: `1`/`true`/`yes`/`on`, or `0`/`false`/`no`/`off`; another
    /// value is refused). Surrounding whitespace is trimmed from each value (a key
    /// read from a file often ends in a newline); an empty value counts as unset, except for the key, where it
    /// is an error that names the variable.
    pub fn from_env() -> Result<ConfigBuilder, InvalidInput> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables (the proxy variables too) through `lookup`: for tests, or
    /// settings kept elsewhere.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ConfigBuilder, InvalidInput> {
        let read = |name: &str| lookup(name).map(|value| value.trim().to_owned());
        let key = read(Self::ENV_API_KEY).ok_or(InvalidInput::MissingEnv(Self::ENV_API_KEY))?;
        let mut builder = Self::builder(key);
        builder.from_env.api_key = true;
        if let Some(base_url) = read(Self::ENV_BASE_URL).filter(|v| !v.is_empty()) {
            builder = builder.base_url(base_url);
            builder.from_env.base_url = true;
        }
        if let Some(workspace_id) = read(Self::ENV_WORKSPACE_ID).filter(|v| !v.is_empty()) {
            builder = builder.workspace_id(workspace_id);
            builder.from_env.workspace_id = true;
        }
        // A switch read as people write one; anything else is refused, never silently read as off.
        match read(Self::ENV_DANGER_ALLOW_INSECURE_HTTP).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("" | "0" | "false" | "no" | "off") => {}
            Some("1" | "true" | "yes" | "on") => builder = builder.danger_allow_insecure_http(),
            Some(_) => {
                return Err(InvalidInput::Setting {
                    setting: Self::ENV_DANGER_ALLOW_INSECURE_HTTP,
                    reason: "is not a switch: set it to 1, true, yes or on (or 0, false, no, off)".to_owned(),
                })
            }
        }
        builder.proxy_env = Some(ProxyEnv::read(&lookup));
        Ok(builder)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The base URL's authority (`host[:port]`, as written) and its path (empty, or starting with `/`).
    pub(crate) fn base_authority_and_path(&self) -> (&str, &str) {
        let (start, end) = self.authority;
        (&self.base_url[start..end], &self.base_url[end..])
    }

    /// The base URL's origin as `host:port`, as errors name it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The API key.
    pub fn api_key(&self) -> &ApiKey {
        &self.key
    }

    /// The workspace ID sent as `X-Workspace-Id`, if any.
    pub fn workspace_id(&self) -> Option<&str> {
        self.workspace_id.as_ref().and_then(|id| id.to_str().ok())
    }

    /// Which headers carry the key.
    pub fn auth_style(&self) -> AuthStyle {
        self.auth_style
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// How long connecting may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long one attempt may take in all, from connecting to the last byte of the answer.
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// How long a whole call may take, retries and waits included; `None` for no limit.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The largest response body read, in bytes.
    pub fn body_limit(&self) -> u64 {
        self.body_limit
    }

    /// The `User-Agent` every request carries: the application's part, if set, then `sendkit-rust/VERSION`.
    pub fn user_agent(&self) -> &str {
        self.user_agent.to_str().unwrap_or(Self::USER_AGENT)
    }

    pub(crate) fn user_agent_header(&self) -> &HeaderValue {
        &self.user_agent
    }

    pub(crate) fn workspace_header(&self) -> Option<&HeaderValue> {
        self.workspace_id.as_ref()
    }

    /// What the config holds that must never be shown: the API key, and the proxy's credentials as given and as
    /// sent. Server text is scrubbed of them before any error carries it.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> + Clone {
        let proxy = self.proxy();
        let credentials = proxy.and_then(|proxy| proxy.credentials()).map(|(_, password)| password);
        let authorization = proxy
            .and_then(|proxy| proxy.authorization())
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim_start_matches("Basic "));
        std::iter::once(self.key.expose_secret()).chain(credentials).chain(authorization)
    }

    /// The proxy that requests go through: `None` for a direct connection (always, for a plain-http base URL).
    pub fn proxy(&self) -> Option<&ProxyServer> {
        self.proxy.as_ref()
    }

    /// The pacer every call made with this config (and its clones) shares, unless pacing was turned off (and no
    /// [`ConfigBuilder::max_rate`] set).
    pub fn pacer(&self) -> Option<&Pacer> {
        self.pacer.as_deref()
    }

    /// The most requests a second the calls of this config send together, when set with
    /// [`ConfigBuilder::max_rate`].
    pub fn max_rate(&self) -> Option<f64> {
        self.pacer.as_deref().and_then(Pacer::ceiling)
    }

    /// The same config with `settings` in force: for some calls of a client over its same transport and pool.
    /// Each setting is checked as [`ConfigBuilder::build`] checks it. The pacer and the observer stay shared.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sendkit_proto::{CallSettings, Config, RetryPolicy};
    ///
    /// let config = Config::builder("sk_live_0123456789").build().unwrap();
    /// let urgent = config
    ///     .with_settings(&CallSettings::new().deadline(Some(Duration::from_secs(2))).retry(RetryPolicy::none()))
    ///     .unwrap();
    /// assert_eq!(urgent.deadline(), Some(Duration::from_secs(2)));
    /// assert_eq!(config.deadline(), Some(Config::DEFAULT_DEADLINE), "the original is unchanged");
    /// ```
    pub fn with_settings(&self, settings: &CallSettings) -> Result<Config, InvalidInput> {
        let mut config = self.clone();
        if let Some(timeout) = settings.connect_timeout {
            config.connect_timeout = timeout;
        }
        if let Some(timeout) = settings.attempt_timeout {
            config.attempt_timeout = timeout;
        }
        if let Some(deadline) = settings.deadline {
            config.deadline = deadline;
        }
        if let Some(retry) = &settings.retry {
            config.retry = retry.clone();
        }
        check_timing(config.connect_timeout, config.attempt_timeout, config.deadline, &config.retry)?;
        Ok(config)
    }

    /// The certificates (DER) both clients trust instead of their default roots, when set with
    /// [`ConfigBuilder::trust_pem`].
    pub fn trust(&self) -> Option<&[Vec<u8>]> {
        self.trust.as_deref()
    }

    /// The certificate chain and key both clients present to a server that asks (mutual TLS), when set with
    /// [`ConfigBuilder::client_identity_pem`].
    pub fn client_identity(&self) -> Option<&ClientIdentity> {
        self.identity.as_ref()
    }

    /// The observer every attempt is reported to, if one was set.
    pub fn observer(&self) -> Option<&dyn Observer> {
        self.observer.as_ref().map(|observing| &*observing.0)
    }
}

/// Settings for some calls of a client — a deadline, timeouts, a retry policy — over the client's own transport
/// and connection pool: what the clients' `with_settings` and [`Config::with_settings`] take. A setting left unset
/// keeps the client's.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CallSettings {
    deadline: Option<Option<Duration>>,
    attempt_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

impl CallSettings {
    /// No setting changed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most a whole call may take (`None`: no deadline).
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The most one attempt may take.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The most connecting may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How the calls are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }
}

/// Which settings came from environment variables, so that an error can name the variable.
#[derive(Debug, Clone, Copy, Default)]
struct Sources {
    api_key: bool,
    base_url: bool,
    workspace_id: bool,
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
    deadline: Option<Duration>,
    body_limit: u64,
    application: Option<String>,
    proxy: Proxy,
    proxy_env: Option<ProxyEnv>,
    from_env: Sources,
    pacing: bool,
    max_rate: Option<f64>,
    observer: Option<Observing>,
    trust_pem: Option<Vec<u8>>,
    identity_pem: Option<Vec<u8>>,
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
            .field("deadline", &self.deadline)
            .field("body_limit", &self.body_limit)
            .field("application", &self.application)
            .field("proxy", &self.proxy)
            .field("pacing", &self.pacing)
            .field("max_rate", &self.max_rate)
            .finish()
    }
}

impl ConfigBuilder {
    /// Where the API is (default `https://api.sendkit.ai`), without `/v1`: the API's paths start with it. `https`
    /// always; plain `http` only to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`) unless
    /// [`ConfigBuilder::danger_allow_insecure_http`] is set.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self.from_env.base_url = false;
        self
    }

    /// Whether the calls made with this config pace themselves together after a 429 (default on): see [`Pacer`].
    /// Off, each call retries on its own.
    pub fn pacing(mut self, on: bool) -> Self {
        self.pacing = on;
        self
    }

    /// Sends no more than `per_second` requests a second, counting every call made with this config (and its
    /// clones), whatever the server says: a share of a key's limit known beforehand, as when several processes
    /// split it, so that they meet it without refusals. With pacing on, the pacer still slows down below it after a
    /// 429; with pacing off, requests are only spaced to it. Refused by `build()` unless it is a number of at least
    /// one request an hour ([`Config::MIN_MAX_RATE`]).
    ///
    /// ```
    /// use sendkit_proto::Config;
    ///
    /// // Four processes sharing a key limited to 10 requests a second.
    /// let config = Config::builder("sk_live_0123456789").max_rate(2.5).build().unwrap();
    /// assert_eq!(config.max_rate(), Some(2.5));
    /// assert!(Config::builder("sk_live_0123456789").max_rate(0.0).build().is_err());
    /// ```
    pub fn max_rate(mut self, per_second: f64) -> Self {
        self.max_rate = Some(per_second);
        self
    }

    /// Trusts the certificates of this PEM text (a private CA, a corporate TLS-inspection root, a staging
    /// gateway's) instead of the client's default roots: the same setting for both clients. Refused by `build()`
    /// when it holds no certificate.
    pub fn trust_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.trust_pem = Some(pem.into());
        self
    }

    /// Presents this certificate chain and private key (PEM, one text or two put together: `CERTIFICATE`
    /// blocks, leaf first, and one `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block) to a server that
    /// asks who the client is (mutual TLS), through either client. The key is never shown.
    pub fn client_identity_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.identity_pem = Some(pem.into());
        self
    }

    /// Reports every attempt of every call made with this config to `observer`: for logs and metrics (see
    /// [`Observer`]).
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Some(Observing(Arc::new(observer)));
        self
    }

    /// Allows plain `http://` to any host, which sends the key across the network in clear. For test networks
    /// only (an emulator in a container network); `SENDKIT_DANGER_ALLOW_INSECURE_HTTP=1` does the same.
    pub fn danger_allow_insecure_http(mut self) -> Self {
        self.insecure_http = true;
        self
    }

    /// Sends `X-Workspace-Id` on every request: needed with a platform key (`sk_user_...`).
    pub fn workspace_id(mut self, workspace_id: impl Into<String>) -> Self {
        self.workspace_id = Some(workspace_id.into());
        self.from_env.workspace_id = false;
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

    /// How long connecting may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take in all (default 30 s). Each retry gets the same again, within the deadline.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// How long a whole call may take, every attempt and every wait between them included (default 60 s);
    /// `None` for no limit. Attempts and waits are shortened to fit.
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The largest response body to read, in bytes (default 1 MiB). A larger one is a
    /// [`BodyTooLarge`](crate::Error::BodyTooLarge) error, read no further than the limit.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Names your application in the `User-Agent`, before sendkit's own part: `my-service/1.0` gives
    /// `my-service/1.0 sendkit-rust/0.1.0`.
    pub fn application(mut self, product: impl Into<String>) -> Self {
        self.application = Some(product.into());
        self
    }

    /// Which proxy to use (default [`Proxy::FromEnvironment`]). A plain-http base URL never goes through one.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// Checks the settings and builds the config.
    pub fn build(self) -> Result<Config, InvalidInput> {
        let key_from = self.from_env.api_key.then_some(Config::ENV_API_KEY);
        let key = ApiKey::new(self.api_key).map_err(|error| match error {
            InvalidInput::ApiKey { reason, .. } => InvalidInput::ApiKey { reason, from: key_from },
            other => other,
        })?;
        let base_from = self.from_env.base_url.then_some(Config::ENV_BASE_URL);
        let (base_url, origin) = check_base_url(&self.base_url, self.insecure_http, base_from)?;
        let workspace_from = self.from_env.workspace_id.then_some(Config::ENV_WORKSPACE_ID);
        let workspace_id = match self.workspace_id {
            None if key.kind() == KeyKind::Platform => {
                return Err(InvalidInput::WorkspaceId {
                    reason: format!(
                        "is missing: a platform key (sk_user_...) must name its workspace: set {} (in code, \
                         .workspace_id(..))",
                        Config::ENV_WORKSPACE_ID
                    ),
                    from: None,
                })
            }
            None => None,
            Some(id) => Some(
                header_text(&id, false).map_err(|reason| InvalidInput::WorkspaceId { reason, from: workspace_from })?,
            ),
        };
        check_timing(self.connect_timeout, self.attempt_timeout, self.deadline, &self.retry)?;
        if self.body_limit == 0 {
            return Err(setting("body_limit", "must be at least 1 byte".to_owned()));
        }
        if let Some(rate) = self.max_rate.filter(|rate| !(rate.is_finite() && *rate >= Config::MIN_MAX_RATE)) {
            return Err(setting("max_rate", format!("is {rate} a second: it must be at least one request an hour")));
        }
        let user_agent = match &self.application {
            None => HeaderValue::from_static(Config::USER_AGENT),
            Some(product) => header_text(&format!("{} {}", product.trim(), Config::USER_AGENT), true)
                .map_err(|reason| setting("application", reason))?,
        };
        let proxy = match base_url.starts_with("https://") {
            true => self.proxy.resolve(&base_url, self.proxy_env.as_ref())?,
            // The key would cross to the proxy readable: a plain-http base URL is always reached directly.
            false => None,
        };
        let authority_start = base_url.find("://").map_or(0, |at| at + 3);
        let path_start = base_url[authority_start..].find('/').map_or(base_url.len(), |at| authority_start + at);
        Ok(Config {
            base_url,
            authority: (authority_start, path_start),
            origin,
            key,
            workspace_id,
            auth_style: self.auth_style,
            retry: self.retry,
            connect_timeout: self.connect_timeout,
            attempt_timeout: self.attempt_timeout,
            deadline: self.deadline,
            body_limit: self.body_limit,
            user_agent,
            proxy,
            pacer: match self.max_rate {
                Some(rate) => Some(Arc::new(Pacer::with_ceiling(rate, self.pacing))),
                None => self.pacing.then(|| Arc::new(Pacer::default())),
            },
            observer: self.observer,
            trust: match &self.trust_pem {
                Some(pem) => Some(crate::trust::certificates(pem, "trust_pem")?.into()),
                None => None,
            },
            identity: self.identity_pem.as_deref().map(crate::trust::identity).transpose()?,
        })
    }
}

/// The timing settings, checked as one: what `build()` and `with_settings()` both refuse, in the same order.
fn check_timing(
    connect: Duration,
    attempt: Duration,
    deadline: Option<Duration>,
    retry: &RetryPolicy,
) -> Result<(), InvalidInput> {
    check_duration("connect_timeout", connect)?;
    check_duration("attempt_timeout", attempt)?;
    if let Some(deadline) = deadline {
        check_duration("deadline", deadline)?;
    }
    retry.check()
}

/// Checks the base URL; returns it without a trailing slash, and its origin as `host:port`.
fn check_base_url(
    url: &str,
    insecure_http: bool,
    from: Option<&'static str>,
) -> Result<(String, String), InvalidInput> {
    let fail = |reason| InvalidInput::BaseUrl { url: without_credentials(url), reason, from };
    let uri: http::Uri = url.parse().map_err(|_| fail("not a URL"))?;
    let authority = uri.authority().ok_or_else(|| fail("no host: write it as https://host[:port]"))?;
    if authority.as_str().contains('@') {
        return Err(fail(
            "credentials in the URL are not allowed: give the API key as the key (SENDKIT_API_KEY) instead",
        ));
    }
    if uri.query().is_some() {
        return Err(fail("a query string is not allowed"));
    }
    let port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") if insecure_http || is_loopback(authority.host()) => 80,
        Some("http") => {
            return Err(fail(
                "plain http would send the key in clear: use https, a loopback host, or opt in with \
                 SENDKIT_DANGER_ALLOW_INSECURE_HTTP=1 (in code, .danger_allow_insecure_http())",
            ));
        }
        _ => return Err(fail("the scheme must be https or http")),
    };
    let path = uri.path().trim_end_matches('/');
    if path.ends_with("/v1") {
        return Err(fail("leave out /v1: the API's paths already start with it (https://api.sendkit.ai)"));
    }
    let port = crate::check::authority_port(authority.as_str()).map_err(fail)?.unwrap_or(port);
    let origin = format!("{}:{}", authority.host(), port);
    Ok((format!("{}://{}{}", uri.scheme_str().unwrap_or("https"), authority, path), origin))
}

/// The URL as an error may show it: anything between the scheme and an `@` in the authority is a credential.
fn without_credentials(url: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |at| start + at);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_owned(),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

// Building requests: the one place that joins the base URL and a path and adds the API's headers.

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_WORKSPACE_ID: HeaderName = HeaderName::from_static("x-workspace-id");
/// Checked when compiled, not on every request.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Config {
    /// A request to `path` on the base URL, with every header the API needs: auth as configured, `Accept`,
    /// `User-Agent`, and `X-Workspace-Id` when set. `path` starts with `/` and its segments are already encoded;
    /// the request is refused unless it stays on the base URL's origin, so no path can send the key elsewhere.
    /// With `Some(body)` it is a JSON request (`Content-Type: application/json`), even when the body is empty, as
    /// the API's cancel page sends it.
    ///
    /// This is what the built-in operations use; an [`Operation`](crate::Operation) of your own for a call the SDK
    /// does not cover yet can use it too, with [`parse_response`](crate::parse_response):
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
    ///     fn idempotency(&self) -> Idempotency { Idempotency::Safe }
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
    ///
    /// // A path that would change the host is refused.
    /// assert!(config.request(Method::GET, "@evil.example/x", None).is_err());
    /// ```
    pub fn request(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Request<Vec<u8>>, InvalidInput> {
        let fail = |reason| InvalidInput::Path { path: path.to_owned(), reason };
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(fail("must start with a single /"));
        }
        let json = body.is_some();
        let mut uri = String::with_capacity(self.base_url().len() + path.len());
        uri.push_str(self.base_url());
        uri.push_str(path);
        let uri: Uri = uri.parse().map_err(|_| fail("is not a valid URI path (encode its segments)"))?;
        // Belt and braces: the joined URI must name the base URL's authority, under its path.
        let (authority, base_path) = self.base_authority_and_path();
        if uri.authority().map(|a| a.as_str()) != Some(authority) || !uri.path().starts_with(base_path) {
            return Err(fail("would leave the base URL's origin"));
        }
        let mut request = Request::new(body.unwrap_or_default());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        if json {
            headers.insert(CONTENT_TYPE, JSON);
        }
        headers.insert(ACCEPT, JSON);
        headers.insert(USER_AGENT, self.user_agent_header().clone());
        if matches!(self.auth_style(), AuthStyle::Both | AuthStyle::ApiKeyHeader) {
            headers.insert(X_API_KEY, self.api_key().x_api_key_header().clone());
        }
        if matches!(self.auth_style(), AuthStyle::Both | AuthStyle::Bearer) {
            headers.insert(AUTHORIZATION, self.api_key().bearer_header().clone());
        }
        if let Some(workspace_id) = self.workspace_header() {
            headers.insert(X_WORKSPACE_ID, workspace_id.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let ok = |url: &str| check_base_url(url, false, None).unwrap();
        assert_eq!(ok("https://api.sendkit.ai/"), ("https://api.sendkit.ai".into(), "api.sendkit.ai:443".into()));
        assert_eq!(ok("https://proxy.example.com/sendkit/").0, "https://proxy.example.com/sendkit");
        assert_eq!(ok("http://127.0.0.1:8080"), ("http://127.0.0.1:8080".into(), "127.0.0.1:8080".into()));
        assert_eq!(ok("http://127.9.9.9").1, "127.9.9.9:80");
        assert_eq!(ok("http://localhost:1").0, "http://localhost:1");
        assert_eq!(ok("http://[::1]:99").1, "[::1]:99");
        for bad in [
            "http://api.sendkit.ai",
            "http://10.0.0.1",
            "ftp://x",
            "api.sendkit.ai",
            "",
            "https://u:p@x.com",
            "https://x.com/?a=1",
            "http://localhost.evil.com",
            "https://api.sendkit.ai/v1",
            "https://api.sendkit.ai/v1/",
        ] {
            assert!(check_base_url(bad, false, None).is_err(), "{bad}");
        }
        assert_eq!(check_base_url("http://api.internal", true, None).unwrap().0, "http://api.internal");
    }

    #[test]
    fn the_insecure_switch_reads_as_people_write_it_and_refuses_the_rest() {
        let with = |value: &'static str| {
            Config::from_lookup(move |name| match name {
                Config::ENV_API_KEY => Some("sk_live_abc".to_owned()),
                Config::ENV_BASE_URL => Some("http://api.internal".to_owned()),
                Config::ENV_DANGER_ALLOW_INSECURE_HTTP => Some(value.to_owned()),
                _ => None,
            })
        };
        for on in ["1", "true", "YES", "on"] {
            assert!(with(on).unwrap().build().is_ok(), "{on}");
        }
        for off in ["0", "false", "no", "Off", ""] {
            assert!(with(off).unwrap().build().is_err(), "{off}: plain http to a remote host stays refused");
        }
        let refused = with("yep").unwrap_err().to_string();
        assert!(
            refused.contains("SENDKIT_DANGER_ALLOW_INSECURE_HTTP") && refused.contains("not a switch"),
            "{refused}"
        );
    }

    #[test]
    fn credentials_in_a_base_url_are_refused_unseen_and_the_source_is_named_truly() {
        let vars = |name: &str| match name {
            Config::ENV_API_KEY => Some("sk_live_abc".to_owned()),
            Config::ENV_BASE_URL => Some("https://user:sk_live_secret@api.example.com/x".to_owned()),
            _ => None,
        };
        let refused = Config::from_lookup(vars).unwrap().build().unwrap_err().to_string();
        assert!(!refused.contains("sk_live_secret") && !refused.contains("user:"), "{refused}");
        assert!(refused.contains("https://***@api.example.com/x") && refused.contains("SENDKIT_BASE_URL"), "{refused}");
        // Set in code after the lookup: the variable is no longer where it came from.
        let in_code = Config::from_lookup(vars).unwrap().base_url("http://api.sendkit.ai").build().unwrap_err();
        assert!(!in_code.to_string().contains("SENDKIT_BASE_URL"), "{in_code}");
    }

    #[test]
    fn env_lookup_trims_and_names_the_variable() {
        let vars = |name: &str| match name {
            Config::ENV_API_KEY => Some("sk_user_abc\n".to_owned()),
            Config::ENV_BASE_URL => Some(" http://localhost:9 ".to_owned()),
            Config::ENV_WORKSPACE_ID => Some("ws_1".to_owned()),
            _ => None,
        };
        let config = Config::from_lookup(vars).unwrap().build().unwrap();
        assert_eq!(config.base_url(), "http://localhost:9");
        assert_eq!(config.api_key().expose_secret(), "sk_user_abc");
        assert_eq!(config.workspace_id(), Some("ws_1"));
        assert!(matches!(Config::from_lookup(|_| None), Err(InvalidInput::MissingEnv(Config::ENV_API_KEY))));
        let empty = Config::from_lookup(|name| (name == Config::ENV_API_KEY).then(String::new)).unwrap().build();
        assert_eq!(empty.unwrap_err().to_string(), "API key (from SENDKIT_API_KEY) is empty");
    }

    #[test]
    fn bad_keys_and_workspace_ids_say_where() {
        let error = Config::builder("sk_live_\u{7f}x").build().unwrap_err();
        assert_eq!(
            error.to_string(),
            "API key holds a control character (\\u{7f}) at byte 8: only visible ASCII can be sent in a header"
        );
        for key in ["", "sk_live_\r\n", "sk live", "sk_é"] {
            assert!(matches!(Config::builder(key).build(), Err(InvalidInput::ApiKey { .. })), "{key:?}");
        }
        let error = Config::builder("sk_1").workspace_id("ws 1").build().unwrap_err();
        assert_eq!(
            error.to_string(),
            "workspace ID holds a space at byte 2: only visible ASCII can be sent in a header"
        );
        for id in ["", "ws\n1"] {
            let built = Config::builder("sk_1").workspace_id(id).build();
            assert!(matches!(built, Err(InvalidInput::WorkspaceId { .. })), "{id:?}");
        }
        let error = Config::builder("sk_user_1").build().unwrap_err();
        assert!(error.to_string().contains("a platform key (sk_user_...) must name its workspace"), "{error}");
    }

    #[test]
    fn every_duration_is_honoured_or_refused() {
        let build = |builder: ConfigBuilder| builder.build().map(|_| ()).map_err(|e| e.to_string());
        let base = || Config::builder("sk_1");
        assert_eq!(
            build(base().attempt_timeout(Duration::ZERO)).unwrap_err(),
            "attempt_timeout: 0ns is shorter than the least allowed, one millisecond"
        );
        assert!(build(base().attempt_timeout(Duration::from_nanos(999_999))).is_err());
        assert!(build(base().attempt_timeout(Duration::from_millis(1))).is_ok());
        assert!(build(base().connect_timeout(Duration::MAX)).unwrap_err().contains("longer than the most allowed"));
        assert!(build(base().deadline(Some(Duration::MAX))).is_err());
        assert!(build(base().deadline(None)).is_ok());
        assert!(build(base().retry(RetryPolicy::default().max_attempts(0))).is_err());
        assert!(build(base().retry(RetryPolicy::default().backoff(Duration::MAX, Duration::MAX))).is_err());
        assert!(build(base().body_limit(0)).is_err());
        assert!(build(base().application("my\u{1}app")).unwrap_err().contains("control character"));
    }

    #[test]
    fn a_max_rate_is_a_number_of_at_least_one_an_hour_and_gives_a_pacer_even_with_pacing_off() {
        let build = |builder: ConfigBuilder| builder.build().map_err(|e| e.to_string());
        let base = || Config::builder("sk_1");
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, Config::MIN_MAX_RATE / 2.0] {
            let error = build(base().max_rate(rate)).unwrap_err();
            assert!(error.starts_with("max_rate: is ") && error.ends_with("at least one request an hour"), "{error}");
        }
        let slow = build(base().max_rate(Config::MIN_MAX_RATE)).unwrap();
        assert_eq!(slow.max_rate(), Some(Config::MIN_MAX_RATE));
        assert!(build(base()).unwrap().max_rate().is_none());
        assert!(build(base().pacing(false)).unwrap().pacer().is_none());
        let capped = build(base().pacing(false).max_rate(5.0)).unwrap();
        let pacer = capped.pacer().expect("a pacer for the ceiling");
        let start = std::time::Instant::now();
        assert_eq!(pacer.reserve(start), Duration::ZERO);
        assert_eq!(pacer.reserve(start), Duration::from_millis(200));
    }
}
