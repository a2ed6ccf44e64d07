//! Building requests: the one place that joins the base URL and a path and adds the API's headers.

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri};

use crate::config::{AuthStyle, Config};
use crate::error::InvalidInput;

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
