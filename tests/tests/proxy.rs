//! Proxies, the same through both clients: an https base URL goes through a `CONNECT` tunnel, so the key stays
//! inside TLS; a plain-http base URL never goes through a proxy. Against a real CONNECT proxy on loopback.

use sendkit_mock::pki_types::CertificateDer;
use sendkit_mock::MockServer;
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{Config, Delivery, Error, Proxy, TransportErrorKind};
use sendkit_tests::ConnectProxy;

const KEY: &str = "sk_live_proxy_S3CRET_4242";

/// An HTTPS emulator for `localhost` with job_1 pending, and its certificate (trusted by nothing else).
fn tls_emulator() -> (MockServer, CertificateDer<'static>) {
    let (server, cert) = sendkit_tests::tls_emulator(KEY);
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    (server, cert)
}

/// Cancels job_1 through each client, trusting `root`.
fn cancel_through_both(config: &Config, root: &CertificateDer<'static>) -> [JobStatus; 2] {
    use sendkit_ureq::ureq::tls::{Certificate, RootCerts, TlsConfig};
    let tls =
        TlsConfig::builder().root_certs(RootCerts::from([Certificate::from_der(root.as_ref()).to_owned()])).build();
    let agent = sendkit_ureq::ureq::Agent::config_builder().tls_config(tls).build().new_agent();
    let ureq = sendkit_ureq::Client::with_agent(config.clone(), agent).get_job("job_1").unwrap();
    let mut roots = sendkit_hyper::rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let hyper = runtime.block_on(sendkit_hyper::Client::with_roots(config.clone(), roots).get_job("job_1")).unwrap();
    [ureq.status, hyper.status]
}

#[test]
fn https_goes_through_the_tunnel_and_the_key_stays_inside_tls() {
    let (server, root) = tls_emulator();
    let proxy = ConnectProxy::start();
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::url(proxy.url())).build().unwrap();
    assert_eq!(cancel_through_both(&config, &root), [JobStatus::Pending, JobStatus::Pending]);
    let seen = proxy.seen();
    let port = server.addr().port();
    assert_eq!(seen.heads.len(), 2, "one tunnel per client: {:?}", seen.heads);
    for head in &seen.heads {
        assert!(head.starts_with(&format!("CONNECT localhost:{port} HTTP/1.1\r\n")), "{head}");
        assert!(!head.contains(KEY), "the key is never in the tunnel request");
    }
    assert!(!seen.relayed.is_empty(), "the requests went through the proxy");
    let relayed = String::from_utf8_lossy(&seen.relayed);
    assert!(!relayed.contains(KEY) && !relayed.contains("/v1/enrichment"), "the proxy saw only TLS");
}

#[test]
fn plain_http_never_goes_through_a_proxy() {
    let server = MockServer::builder().api_key(KEY).start().unwrap();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    let proxy = ConnectProxy::start();
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::url(proxy.url())).build().unwrap();
    assert!(config.proxy().is_none());
    let agent = sendkit_ureq::ureq::Agent::config_builder().build().new_agent();
    assert_eq!(sendkit_ureq::Client::with_agent(config.clone(), agent).get_job("job_1").unwrap().id, "job_1");
    assert_eq!(sendkit_ureq::Client::new(config.clone()).get_job("job_1").unwrap().id, "job_1");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(runtime.block_on(sendkit_hyper::Client::new(config).get_job("job_1")).unwrap().id, "job_1");
    assert!(proxy.seen().heads.is_empty(), "{:?}", proxy.seen().heads);
    assert_eq!(server.ledger().requests, 3);
}

#[test]
fn a_proxy_that_refuses_is_a_connect_error_that_was_never_sent() {
    let (server, root) = tls_emulator();
    // A proxy that answers 502 to every tunnel: point it at a port nothing listens on by naming a bad proxy port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = Config::builder(KEY)
        .base_url(server.base_url())
        .proxy(Proxy::url(format!("http://{closed}")))
        .retry(sendkit_proto::RetryPolicy::none())
        .build()
        .unwrap();
    for error in cancel_errors_through_both(config, &root) {
        assert!(!error.may_have_taken_effect(), "{error}");
        assert!(error.to_string().contains("the request was never sent"), "{error}");
    }
    assert_eq!(server.ledger().requests, 0);
}

#[test]
fn a_proxy_that_does_not_resolve_is_named_never_sent_and_its_credentials_never_shown() {
    let (server, root) = tls_emulator();
    let config = Config::builder(KEY)
        .base_url(server.base_url())
        .proxy(Proxy::url("http://user:pr0xy_s3cret@nosuchproxy.invalid:3128"))
        .retry(sendkit_proto::RetryPolicy::none())
        .build()
        .unwrap();
    let [hyper, ureq] = cancel_errors_through_both(config, &root);
    let port = server.addr().port();
    for error in [hyper, ureq] {
        let Error::Transport { source, .. } = &error else { panic!("{error}") };
        assert_eq!((source.kind(), source.delivery()), (TransportErrorKind::Resolve, Delivery::NotSent), "{error}");
        let text = format!("{error} {error:?} {error:#?}");
        assert!(!text.contains("pr0xy_s3cret") && !text.contains("user:"), "{text}");
        assert!(
            error.to_string().contains(&format!("(localhost:{port} via proxy nosuchproxy.invalid:3128, 1 attempt in ")),
            "{error}"
        );
        assert!(error.to_string().ends_with("; the request was never sent)"), "{error}");
    }
    assert_eq!(server.ledger().requests, 0);
}

/// An HTTPS emulator whose certificate covers `localhost` and `127.0.0.1`, so that it can be reached by name (the
/// proxy resolving it, socks5h) and by address (the client resolving it, socks5).
fn tls_emulator_by_name_and_address() -> (MockServer, CertificateDer<'static>) {
    use sendkit_mock::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let server = MockServer::builder().api_key(KEY).tls(vec![cert.clone()], key).unwrap().start().unwrap();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    (server, cert)
}

#[test]
fn socks5_and_socks5h_carry_both_clients_and_see_only_tls() {
    let (server, root) = tls_emulator_by_name_and_address();
    let port = server.addr().port();
    let credentials = Some(("proxyuser", "pr0xy_pass"));
    for (scheme, base_url, target) in [
        // socks5: the client resolves the host and hands the proxy an address.
        ("socks5", format!("https://127.0.0.1:{port}"), format!("127.0.0.1:{port}")),
        // socks5h: the proxy is handed the name and resolves it.
        ("socks5h", format!("https://localhost:{port}"), format!("localhost:{port}")),
    ] {
        let proxy = sendkit_tests::Socks5Proxy::start(credentials);
        let config =
            Config::builder(KEY).base_url(&base_url).proxy(Proxy::url(proxy.url(scheme, credentials))).build().unwrap();
        assert!(!format!("{config:?}").contains("pr0xy_pass"), "proxy credentials are never shown");
        assert_eq!(cancel_through_both(&config, &root), [JobStatus::Pending, JobStatus::Pending], "{scheme}");
        let seen = proxy.seen();
        assert_eq!(seen.heads, [target.clone(), target.clone()], "{scheme}: one connection per client");
        let relayed = String::from_utf8_lossy(&seen.relayed);
        assert!(!relayed.contains(KEY) && !relayed.contains("/v1/enrichment"), "{scheme}: the proxy saw only TLS");
    }
}

#[test]
fn socks5_with_wrong_credentials_is_never_sent_through_both_clients() {
    let (server, root) = tls_emulator_by_name_and_address();
    let proxy = sendkit_tests::Socks5Proxy::start(Some(("proxyuser", "right")));
    let config = Config::builder(KEY)
        .base_url(format!("https://localhost:{}", server.addr().port()))
        .proxy(Proxy::url(proxy.url("socks5h", Some(("proxyuser", "wrong")))))
        .retry(sendkit_proto::RetryPolicy::none())
        .build()
        .unwrap();
    let [hyper, ureq] = cancel_errors_through_both(config, &root);
    for error in [hyper, ureq] {
        assert!(!error.may_have_taken_effect(), "{error}");
        assert!(error.to_string().contains("the request was never sent"), "{error}");
        assert!(!format!("{error} {error:?}").contains("wrong"), "{error}");
    }
    assert_eq!(server.ledger().requests, 0);
}

/// Cancels job_1 through each client (the observed ones: `with_roots`), trusting `root`; both must fail.
fn cancel_errors_through_both(config: Config, root: &CertificateDer<'static>) -> [Error; 2] {
    let mut roots = sendkit_hyper::rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let hyper = runtime.block_on(sendkit_hyper::Client::with_roots(config.clone(), roots).cancel_job("job_1"));
    let ureq_root = sendkit_ureq::ureq::tls::Certificate::from_der(root.as_ref()).to_owned();
    let ureq = sendkit_ureq::Client::with_roots(config, [ureq_root]).cancel_job("job_1");
    [hyper.expect_err("hyper's cancel fails"), ureq.expect_err("ureq's cancel fails")]
}

/// A proxy that answers every CONNECT with 407: the credentials are refused, which no retry fixes. One CONNECT,
/// an error that says so, never sent. Through both clients.
#[test]
fn a_proxy_refusing_the_credentials_is_not_asked_again() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let connects = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&connects);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            // The whole head, then the refusal; the connection stays open until the client closes it.
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.read_to_end(&mut head);
        }
    });
    let config = sendkit_proto::Config::builder("sk_live_0123456789")
        .proxy(sendkit_proto::Proxy::url(format!("http://user:wrong@{address}")))
        .build()
        .unwrap();
    for connect in [sendkit_tests::ureq as sendkit_tests::Connect, sendkit_tests::hyper] {
        let before = connects.load(Ordering::SeqCst);
        let error = connect(config.clone()).get_job("job_1").unwrap_err();
        let said = error.to_string();
        assert!(
            matches!(&error, sendkit_proto::Error::Transport { source, .. } if source.kind() == sendkit_proto::TransportErrorKind::ProxyAuth),
            "{said}"
        );
        assert!(said.contains("407") && said.contains("1 attempt") && said.contains("never sent"), "{said}");
        assert!(!said.contains("wrong"), "the password is never shown: {said}");
        assert_eq!(connects.load(Ordering::SeqCst) - before, 1, "asked once: {said}");
    }
}
