//! Golden requests: every method, URI, header and body byte the operations put on the wire.

use sendkit_model::{EnrichRequest, EnrichmentType};
use sendkit_proto::{AuthStyle, CancelJob, Config, Enrich, Error, GetJob, InvalidInput, Operation};

const USER_AGENT_VALUE: &str = Config::USER_AGENT;

const KEY: &str = "sk_live_golden_0123456789";

fn config() -> Config {
    Config::builder(KEY).build().unwrap()
}

fn headers(request: &http::Request<Vec<u8>>) -> Vec<(String, String)> {
    request.headers().iter().map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned())).collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn cancel_is_what_the_seed_sends() {
    let request = CancelJob::new("example_string").build_request(&config()).unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri(), "https://api.sendkit.ai/v1/enrichment/jobs/example_string/cancel");
    assert_eq!(
        headers(&request),
        pairs(&[
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("user-agent", USER_AGENT_VALUE),
            ("x-api-key", KEY),
            ("authorization", &format!("Bearer {KEY}")),
        ])
    );
    assert!(request.body().is_empty());
    assert!(USER_AGENT_VALUE.starts_with("sendkit-rust/0."));
}

#[test]
fn get_has_no_content_type() {
    let request = GetJob::new("bulk_email_verification_1710000000000_abc1234").build_request(&config()).unwrap();
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(
        request.uri(),
        "https://api.sendkit.ai/v1/enrichment/jobs/bulk_email_verification_1710000000000_abc1234"
    );
    assert_eq!(
        headers(&request),
        pairs(&[
            ("accept", "application/json"),
            ("user-agent", USER_AGENT_VALUE),
            ("x-api-key", KEY),
            ("authorization", &format!("Bearer {KEY}")),
        ])
    );
    assert!(request.body().is_empty());
}

#[test]
fn enrich_sends_its_body_as_json() {
    let body = EnrichRequest::new(
        ["507f1f77bcf86cd799439011", "507f1f77bcf86cd799439012"],
        [EnrichmentType::Email, EnrichmentType::PhoneEnrichment],
    );
    let request = Enrich::new(body).build_request(&config()).unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri(), "https://api.sendkit.ai/v1/enrichment/enrich");
    assert_eq!(request.headers()["content-type"], "application/json");
    assert_eq!(
        std::str::from_utf8(request.body()).unwrap(),
        r#"{"leadIds":["507f1f77bcf86cd799439011","507f1f77bcf86cd799439012"],"enrichmentTypes":["email","phoneEnrichment"]}"#
    );
}

#[test]
fn enrich_refuses_what_the_api_would() {
    let cases = [
        EnrichRequest::new(Vec::<String>::new(), [EnrichmentType::Email]),
        EnrichRequest::new(["507f1f77bcf86cd799439011"], []),
        EnrichRequest::new(["507f1f77bcf86cd79943901"], [EnrichmentType::Email]),
        EnrichRequest::new(["507f1f77bcf86cd79943901z"], [EnrichmentType::Email]),
    ];
    for body in cases {
        let result = Enrich::new(body.clone()).build_request(&config());
        assert!(matches!(result, Err(Error::InvalidInput(InvalidInput::EnrichRequest(_)))), "{body:?}");
    }
}

#[test]
fn job_ids_are_one_opaque_segment() {
    let cases = [
        ("a/b?c#d", "/v1/enrichment/jobs/a%2Fb%3Fc%23d/cancel"),
        ("...", "/v1/enrichment/jobs/.../cancel"),
        ("job 1%", "/v1/enrichment/jobs/job%201%25/cancel"),
        ("ünï", "/v1/enrichment/jobs/%C3%BCn%C3%AF/cancel"),
    ];
    for (id, path) in cases {
        let request = CancelJob::new(id).build_request(&config()).unwrap();
        assert_eq!(request.uri().path(), path);
        assert_eq!(request.uri().query(), None);
    }
}

#[test]
fn empty_and_dot_job_ids_are_refused_before_any_io() {
    for id in ["", ".", ".."] {
        for result in [CancelJob::new(id).build_request(&config()), GetJob::new(id).build_request(&config())] {
            assert!(matches!(result, Err(Error::InvalidInput(InvalidInput::JobId { .. }))), "{id:?}");
        }
    }
    let error = CancelJob::new("..").build_request(&config()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid input: job ID .. is a dot segment, which proxies and URL libraries may read as a path step"
    );
}

#[test]
fn config_request_stays_on_the_base_urls_origin() {
    let config = Config::builder(KEY).base_url("https://gateway.example.com/sendkit").build().unwrap();
    for path in ["@evil.example/x", "evil.example/x", "//evil.example/x", "", "/a b"] {
        let refused = config.request(http::Method::GET, path, None);
        assert!(matches!(refused, Err(InvalidInput::Path { .. })), "{path:?}");
    }
    let request = config.request(http::Method::GET, "/v1/enrichment/jobs?limit=1", None).unwrap();
    assert_eq!(request.uri(), "https://gateway.example.com/sendkit/v1/enrichment/jobs?limit=1");
}

#[test]
fn the_user_agent_names_the_application_first() {
    let config = Config::builder(KEY).application("my-service/1.0").build().unwrap();
    let request = GetJob::new("j").build_request(&config).unwrap();
    assert_eq!(request.headers()["user-agent"], format!("my-service/1.0 {USER_AGENT_VALUE}").as_str());
}

#[test]
fn auth_styles_and_workspace() {
    let only = |style| {
        let config = Config::builder(KEY).auth_style(style).workspace_id("ws_7").build().unwrap();
        let request = CancelJob::new("j").build_request(&config).unwrap();
        let names: Vec<&str> = request.headers().keys().map(|k| k.as_str()).collect();
        (
            names.contains(&"x-api-key"),
            names.contains(&"authorization"),
            request.headers()["x-workspace-id"].to_str().unwrap().to_owned(),
        )
    };
    assert_eq!(only(AuthStyle::Both), (true, true, "ws_7".to_owned()));
    assert_eq!(only(AuthStyle::ApiKeyHeader), (true, false, "ws_7".to_owned()));
    assert_eq!(only(AuthStyle::Bearer), (false, true, "ws_7".to_owned()));
}

#[test]
fn base_url_with_a_path_prefix() {
    let config = Config::builder(KEY).base_url("https://gateway.example.com/sendkit/").build().unwrap();
    let request = GetJob::new("j").build_request(&config).unwrap();
    assert_eq!(request.uri(), "https://gateway.example.com/sendkit/v1/enrichment/jobs/j");
}

#[test]
fn the_key_is_sensitive_and_redacted() {
    let config = config();
    let request = CancelJob::new("j").build_request(&config).unwrap();
    assert!(request.headers()["x-api-key"].is_sensitive());
    assert!(request.headers()["authorization"].is_sensitive());
    let debug = format!("{request:?} {config:?} {:?} {:?}", config.api_key(), Config::builder(KEY));
    assert!(!debug.contains(KEY), "{debug}");
    assert!(!debug.contains("golden"), "{debug}");
    assert_eq!(config.api_key().expose_secret(), KEY);
}

/// A port that is not a port must be refused, never replaced by the default: that would send the key (or the
/// proxy's credentials) to another listener.
#[test]
fn a_port_that_is_not_a_port_is_refused_in_the_base_url_and_the_proxy() {
    let base = |url: &str| sendkit_proto::Config::builder("sk_live_0123456789").base_url(url).build();
    for url in ["http://127.0.0.1:99999", "http://127.0.0.1:abc", "https://api.sendkit.ai:0", "http://[::1]:+80"] {
        let error = base(url).expect_err(url).to_string();
        assert!(error.contains("the port is not a number from 1 to 65535"), "{url}: {error}");
    }
    assert_eq!(base("http://127.0.0.1:8080").unwrap().origin(), "127.0.0.1:8080");
    assert_eq!(base("http://[::1]:8080").unwrap().origin(), "[::1]:8080");
    assert_eq!(base("https://api.sendkit.ai").unwrap().origin(), "api.sendkit.ai:443");

    let proxy =
        |url: &str| sendkit_proto::Config::builder("sk_live_0123456789").proxy(sendkit_proto::Proxy::url(url)).build();
    let error = proxy("http://127.0.0.1:99999").unwrap_err().to_string();
    assert!(error.contains("the port is not a number"), "{error}");
    for password in ["pa/ss", "pa#ss", "pa?ss"] {
        let error = proxy(&format!("http://user:{password}@proxy.internal:3128")).unwrap_err().to_string();
        assert!(error.contains("percent-encode"), "{error}");
        assert!(!error.contains(password), "the password is never shown: {error}");
    }
    let config = proxy("http://user:pa%2Fss@proxy.internal:3128").unwrap();
    let server = config.proxy().unwrap();
    assert_eq!((server.host(), server.port()), ("proxy.internal", 3128));
    assert_eq!(server.credentials(), Some(("user", "pa/ss")));
}
