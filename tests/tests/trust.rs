//! Trust the same way on both clients: a private CA's certificate (PEM) through one config setting, and a client
//! identity for mutual TLS through another, against the emulator over TLS with a CA this test makes.

use sendkit_mock::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sendkit_mock::MockServer;
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{Config, Proxy};

const KEY: &str = "sk_live_trust_0123";

/// A CA, a server certificate for `localhost` and a client certificate, both issued by the CA.
struct Pki {
    ca_pem: String,
    server_chain: Vec<sendkit_mock::pki_types::CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
    ca_der: sendkit_mock::pki_types::CertificateDer<'static>,
    client_pem: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client =
        CertificateParams::new(vec!["client.example".to_owned()]).unwrap().signed_by(&client_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        server_chain: vec![server.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        client_pem: format!("{}{}", client.pem(), client_key.serialize_pem()),
    }
}

fn get_through_both(config: &Config) -> [Result<JobStatus, String>; 2] {
    let ureq =
        sendkit_ureq::Client::new(config.clone()).get_job("job_1").map(|job| job.status).map_err(|e| e.to_string());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let hyper = runtime
        .block_on(sendkit_hyper::Client::new(config.clone()).get_job("job_1"))
        .map(|job| job.status)
        .map_err(|e| e.to_string());
    [ureq, hyper]
}

#[test]
fn a_private_ca_is_trusted_through_one_setting_on_both_clients() {
    let pki = pki();
    let server = MockServer::builder()
        .api_key(KEY)
        .tls(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap()
        .start()
        .unwrap();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    let base = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::Off);
    let trusted = base.clone().trust_pem(pki.ca_pem.clone()).build().unwrap();
    assert_eq!(get_through_both(&trusted), [Ok(JobStatus::Pending), Ok(JobStatus::Pending)]);
    // Without it, the default roots do not know the CA, on both.
    for said in get_through_both(&base.build().unwrap()) {
        let said = said.unwrap_err();
        assert!(said.contains("TLS handshake failed") && said.contains("UnknownIssuer"), "{said}");
    }
}

#[test]
fn a_client_identity_answers_a_server_that_asks_on_both_clients() {
    let pki = pki();
    let server = MockServer::builder()
        .api_key(KEY)
        .tls_with_client_auth(pki.server_chain.clone(), pki.server_key.clone_key(), pki.ca_der.clone())
        .unwrap()
        .start()
        .unwrap();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    let base = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::Off).trust_pem(pki.ca_pem.clone());
    let with_identity = base.clone().client_identity_pem(pki.client_pem.clone()).build().unwrap();
    assert!(!format!("{with_identity:?}").contains("PRIVATE KEY"), "the key is never shown");
    assert_eq!(get_through_both(&with_identity), [Ok(JobStatus::Pending), Ok(JobStatus::Pending)]);
    // Without an identity the server refuses, whichever client asks.
    for said in get_through_both(&base.build().unwrap()) {
        assert!(said.is_err(), "{said:?}");
    }
    // A PEM with no key is refused before any call.
    let refused = Config::builder(KEY).client_identity_pem(pki.ca_pem.clone()).build().unwrap_err().to_string();
    assert!(refused.contains("client_identity_pem") && refused.contains("no private key"), "{refused}");
}

/// `der` with its version field (`[0] INTEGER 2`) taken out of the to-be-signed part: an X.509 v1 certificate's
/// shape, as `openssl x509 -req` makes without extensions. Both lengths are in the two-byte long form.
fn as_version_1(der: &[u8]) -> Vec<u8> {
    const VERSION_3: [u8; 5] = [0xa0, 0x03, 0x02, 0x01, 0x02];
    assert_eq!((der[1], der[5], &der[8..13]), (0x82, 0x82, &VERSION_3[..]), "rcgen's layout");
    let mut v1 = der.to_vec();
    v1.drain(8..13);
    for at in [2, 6] {
        let length = u16::from_be_bytes([v1[at], v1[at + 1]]) - 5;
        v1[at..at + 2].copy_from_slice(&length.to_be_bytes());
    }
    v1
}

fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in der.chunks(3) {
        let bytes = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for i in 0..4 {
            text.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    let lines: Vec<&str> = text.as_bytes().chunks(64).map(|line| std::str::from_utf8(line).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// An identity that `build()` accepts but rustls refuses: a typed TLS error naming the setting on both clients,
/// before anything is sent, never a panic (ureq's own TLS set-up panics on it), and the trusted roots kept (hyper
/// used to fall back to empty roots and blame the server's certificate).
#[test]
fn an_identity_rustls_refuses_is_a_clear_error_on_both_clients_and_keeps_the_roots() {
    use rcgen::{CertificateParams, KeyPair};
    let pki = pki();
    let server = MockServer::builder()
        .api_key(KEY)
        .tls(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap()
        .start()
        .unwrap();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["client.example".to_owned()]).unwrap().self_signed(&key).unwrap();
    let other_key = KeyPair::generate().unwrap();
    let identities = [
        ("a key that does not match the certificate", format!("{}{}", cert.pem(), other_key.serialize_pem())),
        (
            "a version 1 certificate",
            format!("{}{}", pem("CERTIFICATE", &as_version_1(cert.der())), key.serialize_pem()),
        ),
        ("garbage in the key block", format!("{}{}", cert.pem(), pem("PRIVATE KEY", b"not a key at all, only bytes"))),
    ];
    for (what, identity) in identities {
        let config = Config::builder(KEY)
            .base_url(server.base_url())
            .proxy(Proxy::Off)
            .trust_pem(pki.ca_pem.clone())
            .client_identity_pem(identity);
        let config = match config.build() {
            Ok(config) => config,
            // Refused before any client exists is as good, if it names the setting.
            Err(error) => {
                assert!(error.to_string().contains("client_identity_pem"), "{what}: {error}");
                eprintln!("{what}: refused by build()");
                continue;
            }
        };
        let requests = server.ledger().requests;
        for said in get_through_both(&config) {
            let said = said.expect_err(what);
            assert!(
                said.contains("TLS handshake failed: the client identity (client_identity_pem) cannot be used"),
                "{what}: {said}"
            );
            assert!(!said.contains("UnknownIssuer"), "{what}: the roots are kept: {said}");
        }
        assert_eq!(server.ledger().requests, requests, "{what}: nothing is sent");
    }
}
