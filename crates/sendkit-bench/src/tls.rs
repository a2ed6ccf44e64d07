//! `sendkit-bench --tls`: HTTP/1.1 against HTTP/2 over TLS, through sendkit-hyper, against the emulator serving
//! both. The same client code; only the protocol the connector offers differs.

use std::sync::Arc;
use std::time::Duration;

use sendkit_mock::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sendkit_mock::MockServer;
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{Config, Proxy, RetryPolicy};

use crate::{concurrent, median, micros, percentile, runtime, shuffle, Round, KEY, SLICES};

struct Contender {
    name: String,
    runtime: tokio::runtime::Runtime,
    client: sendkit_hyper::Client,
    concurrency: usize,
}

impl Contender {
    fn run(&self, ids: Vec<String>) -> Round {
        let client = self.client.clone();
        concurrent(&self.runtime, ids, self.concurrency, move |id| {
            let client = client.clone();
            async move { assert_eq!(client.cancel_job(&id).await.expect("cancel").status, JobStatus::Cancelled) }
        })
    }
}

fn tls_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring's protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

pub fn run(rounds: usize, ops: usize) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let emulator = MockServer::builder()
        .api_key(KEY)
        .worker_threads(2)
        .tls(vec![cert.clone()], key)
        .expect("a certificate the emulator takes")
        .start()
        .expect("the emulator starts");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("the root");
    let config = Config::builder(KEY)
        .base_url(emulator.base_url())
        .retry(RetryPolicy::none())
        .proxy(Proxy::Off)
        .build()
        .expect("bench settings");
    let mut contenders = Vec::new();
    for concurrency in [1, 16, 64] {
        contenders.push(Contender {
            name: format!("HTTP/2 c={concurrency}"),
            runtime: runtime(),
            client: sendkit_hyper::Client::with_roots(config.clone(), roots.clone()),
            concurrency,
        });
        let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(roots.clone()))
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        contenders.push(Contender {
            name: format!("HTTP/1.1 c={concurrency}"),
            runtime: runtime(),
            client: sendkit_hyper::Client::with_client(config.clone(), http),
            concurrency,
        });
    }
    let jobs = |n: usize, serial: &mut u64| -> Vec<String> {
        let ids: Vec<String> = (*serial..*serial + n as u64).map(|i| format!("tls_job_{i}")).collect();
        *serial += n as u64;
        for id in &ids {
            emulator.insert_job(Job::new(id.clone(), JobType::EmailVerification, JobStatus::Pending));
        }
        ids
    };
    let mut serial = 0;
    let connections = || emulator.ledger().connections;
    // Warm-up: each client's pool is set up (for HTTP/2, one call first, so the protocol is known).
    let mut opened = vec![0u64; contenders.len()];
    for (index, contender) in contenders.iter().enumerate() {
        let before = connections();
        contender.run(jobs(1, &mut serial));
        contender.run(jobs(64, &mut serial));
        opened[index] += connections() - before;
    }
    let mut rates: Vec<Vec<f64>> = contenders.iter().map(|_| Vec::new()).collect();
    let mut latencies: Vec<Vec<Duration>> = contenders.iter().map(|_| Vec::new()).collect();
    let mut order: Vec<usize> = (0..contenders.len()).collect();
    for round in 0..rounds {
        let mut spent = vec![Duration::ZERO; contenders.len()];
        for slice in 0..SLICES {
            shuffle(&mut order, (round * SLICES + slice) as u64);
            for &index in &order {
                let per_slice = (ops / SLICES).max(1);
                let before = connections();
                let figures = contenders[index].run(jobs(per_slice, &mut serial));
                opened[index] += connections() - before;
                spent[index] += Duration::from_secs_f64(per_slice as f64 / figures.ops_per_sec);
                latencies[index].extend(figures.latencies);
            }
        }
        for index in 0..contenders.len() {
            rates[index].push((ops / SLICES).max(1) as f64 * SLICES as f64 / spent[index].as_secs_f64());
        }
    }
    println!("sendkit-hyper over TLS against the emulator: {rounds} rounds, {ops} cancels per round each, interleaved");
    println!("| protocol, concurrency | ops/s (median) | p50 | p99 | connections opened (warm-up included) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (index, contender) in contenders.iter().enumerate() {
        let lat = &mut latencies[index];
        let (p50, p99) = (percentile(lat, 0.50), percentile(lat, 0.99));
        println!(
            "| {} | {:.0} | {} | {} | {} |",
            contender.name,
            median(&mut rates[index]),
            micros(p50),
            micros(p99),
            opened[index]
        );
    }
}
