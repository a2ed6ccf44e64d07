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
