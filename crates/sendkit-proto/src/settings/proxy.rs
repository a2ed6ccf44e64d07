//! Which proxy a client goes through: decided here once, so both clients agree.
//!
//! Only an `https` base URL goes through a proxy, as a `CONNECT` tunnel, so the key stays inside TLS; a plain-http
//! base URL is always reached directly. From the environment: `HTTPS_PROXY`, then `ALL_PROXY` (either case), unless
//! `NO_PROXY` names the host. `HTTP_PROXY` is for plain-http URLs, which are never proxied.

use std::fmt;
use std::net::IpAddr;

use http::{HeaderValue, Uri};

use crate::error::InvalidInput;

/// Which proxy to use, set with [`ConfigBuilder::proxy`](crate::ConfigBuilder::proxy).
///
/// ```
/// use sendkit_proto::{Config, Proxy};
///
/// let config = Config::builder("sk_live_0123456789").proxy(Proxy::url("http://proxy.internal:3128")).build().unwrap();
/// assert_eq!(config.proxy().unwrap().authority(), "proxy.internal:3128");
///
/// // A plain-http base URL (loopback) never goes through a proxy: the key would cross to it readable.
/// let local = Config::builder("sk_live_0123456789")
///     .base_url("http://127.0.0.1:8080")
///     .proxy(Proxy::url("http://proxy.internal:3128"))
///     .build()
///     .unwrap();
/// assert!(local.proxy().is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proxy {
    /// `HTTPS_PROXY` / `ALL_PROXY` / `NO_PROXY`, upper or lower case, as read when the config is built.
    #[default]
    FromEnvironment,
    /// Connect directly, whatever the environment says.
    Off,
    /// This proxy, `http://[user:password@]host:port`.
    Url(String),
}

impl Proxy {
    /// [`Proxy::Url`] from anything string-like.
    pub fn url(url: impl Into<String>) -> Self {
        Self::Url(url.into())
    }

    /// The proxy for `base_url`, an https URL.
    pub(crate) fn resolve(&self, base_url: &str, env: Option<&ProxyEnv>) -> Result<Option<ProxyServer>, InvalidInput> {
        match self {
            Self::Off => Ok(None),
            Self::Url(url) => ProxyServer::parse(url, None).map(Some),
            Self::FromEnvironment => {
                let read;
                let env = match env {
                    Some(env) => env,
                    None => {
                        read = ProxyEnv::read(&|name: &str| std::env::var(name).ok());
                        &read
                    }
                };
                let uri = base_url.parse::<Uri>().ok();
                let host = uri.as_ref().and_then(|uri| uri.host().map(str::to_owned));
                let default = if uri.as_ref().and_then(|uri| uri.scheme_str()) == Some("http") { 80 } else { 443 };
                let port = uri.as_ref().map_or(default, |uri| uri.port_u16().unwrap_or(default));
                if host.as_deref().is_some_and(|host| env.bypasses(host, port)) {
                    return Ok(None);
                }
                match &env.proxy {
                    Some((name, url)) => ProxyServer::parse(url, Some(name)).map(Some),
                    None => Ok(None),
                }
            }
        }
    }
}

/// The proxy variables, as read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyEnv {
    /// The variable that names the proxy for https, and its value.
    proxy: Option<(&'static str, String)>,
    no_proxy: Option<String>,
}

impl ProxyEnv {
    pub(crate) fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&'static str]| {
            names
                .iter()
                .find_map(|&name| lookup(name).map(|v| (name, v.trim().to_owned())).filter(|(_, v)| !v.is_empty()))
        };
        Self {
            proxy: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: first(&["NO_PROXY", "no_proxy"]).map(|(_, v)| v),
        }
    }

    /// Whether `NO_PROXY` names `host` (reached on `port`), as curl and reqwest read it: `*` for every host; a
    /// host or a domain it is under (`example.com`, `.example.com` and `*.example.com` all cover
    /// `api.example.com`); an IP address, or a CIDR block of them (`10.0.0.0/8`, `fd00::/8`); any of these with
    /// `:port`, which then applies to that port alone. Case does not matter; entries are comma-separated.
    fn bypasses(&self, host: &str, port: u16) -> bool {
        // A fully qualified name's trailing dot names the same host, for the host and for each entry, as curl reads
        // them; and curl takes spaces between entries as it takes commas.
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
        let host_ip = host.parse::<IpAddr>().ok();
        let Some(list) = &self.no_proxy else { return false };
        list.split([',', ' ', '\t']).map(str::trim).filter(|entry| !entry.is_empty()).any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = split_port(entry);
            if entry_port.is_some_and(|wanted| wanted != port) {
                return false;
            }
            if let (Some(ip), Some((network, prefix))) = (host_ip, cidr(name)) {
                return in_block(ip, network, prefix);
            }
            let domain =
                name.trim_start_matches('*').trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
            !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
        })
    }
}

/// An entry's name and its port, if it names one: `host:443`, `[::1]:8080`, `10.0.0.0/8`; a bare IPv6 address
/// (more than one colon, no brackets) has none.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, after)) => (ip, after.strip_prefix(':').and_then(|port| port.parse().ok())),
            None => (rest, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (entry, None),
    }
}

/// An address block, `address/prefix`, or a single address as a block of one.
fn cidr(entry: &str) -> Option<(IpAddr, u32)> {
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
        None => (entry, None),
    };
    let address = address.parse::<IpAddr>().ok()?;
    let bits = if address.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(bits);
    (prefix <= bits).then_some((address, prefix))
}

/// Whether `ip` is in the block `network/prefix` (an IPv4 address mapped into IPv6 counts as IPv4).
fn in_block(ip: IpAddr, network: IpAddr, prefix: u32) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// How a proxy is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// `http://`: an HTTP `CONNECT` tunnel.
    Connect,
    /// `socks5://`: SOCKS5, the client resolving the API's host itself.
    Socks5,
    /// `socks5h://`: SOCKS5, the proxy resolving the API's host (the client's DNS is never asked).
    Socks5h,
}

/// A proxy to tunnel through: where it is, how it is spoken to, and its credentials if the URL had any.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyServer {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    authorization: Option<HeaderValue>,
}

impl ProxyServer {
    fn parse(url: &str, from: Option<&'static str>) -> Result<Self, InvalidInput> {
        // Leave the credentials out of any message.
        let shown = match url.rsplit_once('@') {
            Some((_, rest)) => format!("[credentials]@{rest}"),
            None => url.to_owned(),
        };
        let fail = |reason| InvalidInput::Proxy { url: shown.clone(), reason, from };
        let with_scheme = if url.contains("://") { url.to_owned() } else { format!("http://{url}") };
        // A `/`, `?` or `#` in the credentials ends the authority early: the password would be read as the host.
        let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
        if after_scheme.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(['/', '?', '#'])) {
            return Err(fail("its credentials hold '/', '?' or '#': percent-encode them (%2F, %3F, %23)"));
        }
        let uri: Uri = with_scheme.parse().map_err(|_| fail("not a URL"))?;
        let (kind, default_port) = match uri.scheme_str() {
            Some("http") => (ProxyKind::Connect, 80),
            Some("socks5") => (ProxyKind::Socks5, 1080),
            Some("socks5h") => (ProxyKind::Socks5h, 1080),
            _ => {
                return Err(fail(
                    "only http://, socks5:// and socks5h:// proxies are supported (the tunnel to the API is TLS \
                     either way)",
                ))
            }
        };
        let authority = uri.authority().ok_or_else(|| fail("no host"))?;
        let (userinfo, _) = authority.as_str().rsplit_once('@').unzip();
        let credentials = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (percent_decode(user), percent_decode(password))
        });
        let authorization = match &credentials {
            None => None,
            Some((user, password)) => {
                let mut value =
                    HeaderValue::from_str(&format!("Basic {}", base64(format!("{user}:{password}").as_bytes())))
                        .map_err(|_| fail("its credentials cannot be sent in a header"))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let host = authority.host().to_owned();
        if host.is_empty() {
            return Err(fail("no host"));
        }
        let port = crate::check::authority_port(authority.as_str()).map_err(fail)?.unwrap_or(default_port);
        Ok(Self { kind, host, port, credentials, authorization })
    }

    /// How the proxy is spoken to.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port (80 for `http://`, 1080 for SOCKS, when the URL named none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `http://host:port`, `socks5://host:port` or `socks5h://host:port`, without credentials.
    pub fn uri(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::Connect => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        };
        format!("{scheme}://{}", self.authority())
    }

    /// The user name and password from the proxy URL, decoded. These are the proxy's credentials, sent to the
    /// proxy alone; never the API key.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials.as_ref().map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// `Proxy-Authorization: Basic ...` for a `CONNECT` tunnel request, marked sensitive.
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }
}

impl fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyServer")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.credentials.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> ProxyEnv {
        ProxyEnv::read(&|name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    fn resolved(vars: &'static [(&'static str, &'static str)], base: &str) -> Option<String> {
        Proxy::FromEnvironment.resolve(base, Some(&env(vars))).unwrap().map(|p| p.authority())
    }

    #[test]
    fn environment_variables_in_either_case() {
        let base = "https://api.sendkit.ai";
        assert_eq!(resolved(&[("HTTPS_PROXY", "http://p:3128")], base).as_deref(), Some("p:3128"));
        assert_eq!(resolved(&[("https_proxy", "p:8080")], base).as_deref(), Some("p:8080"));
        assert_eq!(resolved(&[("all_proxy", "http://q")], base).as_deref(), Some("q:80"));
        assert_eq!(resolved(&[("HTTP_PROXY", "http://p:3128")], base), None, "HTTP_PROXY is for http URLs");
        assert_eq!(resolved(&[], base), None);
    }

    #[test]
    fn no_proxy_names_hosts_and_domains() {
        let with = |no: &'static str| -> &'static [(&'static str, &'static str)] {
            Box::leak(vec![("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no)].into_boxed_slice())
        };
        for no in ["*", "api.sendkit.ai", "sendkit.ai", ".sendkit.ai", "x.org, SENDKIT.AI:443"] {
            assert_eq!(resolved(with(no), "https://api.sendkit.ai"), None, "{no}");
        }
        for no in ["kit.ai", "other.example", "api.sendkit.ai.evil"] {
            assert!(resolved(with(no), "https://api.sendkit.ai").is_some(), "{no}");
        }
        assert_eq!(resolved(with("127.0.0.1"), "https://127.0.0.1:9"), None);
        assert_eq!(resolved(with("[::1]"), "https://[::1]:9"), None);
        // As curl: a trailing dot on the host or an entry, and entries separated by spaces.
        assert_eq!(resolved(with("sendkit.ai"), "https://api.sendkit.ai."), None);
        assert_eq!(resolved(with("sendkit.ai."), "https://api.sendkit.ai"), None);
        assert_eq!(resolved(with("foo api.sendkit.ai"), "https://api.sendkit.ai"), None);
        assert!(resolved(with("foo bar"), "https://api.sendkit.ai").is_some());
    }

    #[test]
    fn no_proxy_reads_cidr_blocks_wildcards_and_ports_as_curl_does() {
        let with = |no: &'static str| -> &'static [(&'static str, &'static str)] {
            Box::leak(vec![("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no)].into_boxed_slice())
        };
        let direct = |no: &'static str, url: &str| resolved(with(no), url).is_none();
        assert!(direct("10.0.0.0/8", "https://10.1.2.3"));
        assert!(!direct("10.0.0.0/8", "https://11.1.2.3"));
        assert!(direct("192.168.1.0/24", "https://192.168.1.200:8443"));
        assert!(!direct("192.168.1.0/24", "https://192.168.2.1"));
        assert!(direct("0.0.0.0/0", "https://8.8.8.8"));
        assert!(direct("fd00::/8", "https://[fd12:3456::1]"));
        assert!(!direct("fd00::/8", "https://[fe80::1]"));
        assert!(direct("::1", "https://[::1]:9"));
        assert!(direct("*.example.com", "https://api.example.com"));
        assert!(!direct("*.example.com", "https://example.org"));
        assert!(direct("api.example.com:8443", "https://api.example.com:8443"));
        assert!(!direct("api.example.com:8443", "https://api.example.com"), "the port is the entry's alone");
        assert!(direct("[::1]:9", "https://[::1]:9"));
        assert!(!direct("10.0.0.0/33", "https://10.0.0.1"), "a prefix too long matches nothing");
        assert!(!direct("example.com", "https://10.0.0.1"));
    }

    #[test]
    fn credentials_are_decoded_and_never_shown() {
        let proxy = ProxyServer::parse("http://us%40er:p%3Ass@p.internal:3128", None).unwrap();
        assert_eq!(proxy.credentials(), Some(("us@er", "p:ss")));
        assert_eq!(proxy.authorization().unwrap(), "Basic dXNAZXI6cDpzcw==");
        assert!(!format!("{proxy:?}").contains("p:ss"));
        let error = ProxyServer::parse("socks4://user:secret@p:1080", Some("ALL_PROXY")).unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains("(from ALL_PROXY)"), "{error}");
        let socks = ProxyServer::parse("socks5h://user:secret@p", Some("ALL_PROXY")).unwrap();
        assert_eq!((socks.kind(), socks.uri().as_str()), (ProxyKind::Socks5h, "socks5h://p:1080"));
        assert_eq!(socks.credentials(), Some(("user", "secret")));
        assert!(!format!("{socks:?}").contains("secret"));
    }

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
