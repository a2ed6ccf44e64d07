//! Servers the tests talk to besides the emulator: one that records a request's bytes, one whose connections never
//! complete, a CONNECT proxy that records what it sees, and the emulator over TLS with a certificate made here.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use sendkit_mock::MockServer;

/// A loopback address whose connections never complete: a listener whose accept queue is full, so that the
/// kernel drops every further SYN, as a firewall that drops packets does. Kept open while this lives.
pub struct BlackHole {
    addr: std::net::SocketAddr,
    _listener: socket2::Socket,
    _queued: Vec<std::net::TcpStream>,
}

impl BlackHole {
    /// Listens with the smallest accept queue and fills it.
    pub fn start() -> Self {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
        listener.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("a loopback port");
        listener.listen(0).expect("listening");
        let addr = listener.local_addr().expect("a bound socket").as_socket().expect("an IP address");
        let mut queued = Vec::new();
        // The queue takes one or two connections; the first that does not complete shows it is full.
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => queued.push(stream),
                Err(_) => break,
            }
        }
        Self { addr, _listener: listener, _queued: queued }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A one-shot server that records the first request's bytes (head and body) and answers `answer`.
pub struct Capture {
    listener: TcpListener,
}

impl Capture {
    /// Listens on a free loopback port.
    pub fn start() -> Self {
        Self { listener: TcpListener::bind("127.0.0.1:0").expect("a loopback port") }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.listener.local_addr().expect("a bound listener"))
    }

    /// Serves one request on a thread; join it for the bytes the client sent.
    pub fn serve_once(self, answer: String) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let (mut stream, _) = self.listener.accept().expect("the client connects");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a socket option");
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let n = stream.read(&mut buffer).expect("the client sends");
                received.extend_from_slice(&buffer[..n]);
                if n == 0 || request_complete(&received) {
                    break;
                }
            }
            stream.write_all(answer.as_bytes()).expect("the client reads");
            String::from_utf8_lossy(&received).into_owned()
        })
    }
}

impl Capture {
    /// Sends `raw` bytes to `addr` and returns everything the server answered before closing: for requests the
    /// SDK would never send.
    pub fn send_raw(addr: std::net::SocketAddr, raw: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).expect("the server listens");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a socket option");
        stream.write_all(raw.as_bytes()).expect("the server reads");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// Whether `received` holds a whole request: the head and as many body bytes as `content-length` says.
fn request_complete(received: &[u8]) -> bool {
    let text = String::from_utf8_lossy(received);
    let Some(head_end) = text.find("\r\n\r\n") else { return false };
    let length = text[..head_end]
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    received.len() >= head_end + 4 + length
}

/// An HTTP `CONNECT` proxy on loopback: it records each tunnel request's head and every byte it relays, so a test
/// can show what a proxy sees.
pub struct ConnectProxy {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<ProxySeen>>,
}

/// What a [`ConnectProxy`] saw.
#[derive(Debug, Default, Clone)]
pub struct ProxySeen {
    /// The head of each request made to the proxy (`CONNECT host:port HTTP/1.1` and its headers).
    pub heads: Vec<String>,
    /// Every byte relayed, both ways.
    pub relayed: Vec<u8>,
}

impl ConnectProxy {
    /// Listens on a free loopback port; serves tunnels on threads until the test process ends.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("a bound listener");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(ProxySeen::default()));
        let recording = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = std::sync::Arc::clone(&recording);
                std::thread::spawn(move || tunnel(stream, &seen));
            }
        });
        Self { addr, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the proxy saw so far.
    pub fn seen(&self) -> ProxySeen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn tunnel(mut client: std::net::TcpStream, seen: &std::sync::Mutex<ProxySeen>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.strip_prefix("CONNECT ").and_then(|rest| rest.split_whitespace().next()).map(str::to_owned);
    seen.lock().unwrap_or_else(|p| p.into_inner()).heads.push(head);
    let Some(upstream) = target.and_then(|target| std::net::TcpStream::connect(target).ok()) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_err() {
        return;
    }
    let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream, seen: &std::sync::Mutex<ProxySeen>| {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
            seen.lock().unwrap_or_else(|p| p.into_inner()).relayed.extend_from_slice(&buffer[..n]);
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    };
    let (client_read, upstream_read) = match (client.try_clone(), upstream.try_clone()) {
        (Ok(c), Ok(u)) => (c, u),
        _ => return,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| pipe(client_read, upstream, seen));
        pipe(upstream_read, client, seen);
    });
}

/// An HTTPS emulator accepting `key`, whose certificate, for `localhost`, is made here and trusted by nothing but
/// the certificate returned.
pub fn tls_emulator(key: &str) -> (MockServer, sendkit_mock::pki_types::CertificateDer<'static>) {
    use sendkit_mock::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let cert = certified.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let server = MockServer::builder()
        .api_key(key)
        .tls(vec![cert.clone()], private)
        .expect("a valid certificate")
        .start()
        .expect("the emulator listens");
    (server, cert)
}
