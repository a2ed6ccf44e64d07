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
    relay(client, upstream, seen);
}

/// Relays bytes both ways until both sides close, recording every byte.
fn relay(client: std::net::TcpStream, upstream: std::net::TcpStream, seen: &std::sync::Mutex<ProxySeen>) {
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

/// A SOCKS5 proxy on loopback (RFC 1928, with RFC 1929 user/password when given): it records each CONNECT's
/// target and every byte it relays, so a test can show what a SOCKS proxy sees.
pub struct Socks5Proxy {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<ProxySeen>>,
}

impl Socks5Proxy {
    /// Listens on a free loopback port; with `credentials`, asks for them (and refuses others).
    pub fn start(credentials: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("a bound listener");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(ProxySeen::default()));
        let recording = std::sync::Arc::clone(&seen);
        let credentials = credentials.map(|(user, password)| (user.to_owned(), password.to_owned()));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, credentials) = (std::sync::Arc::clone(&recording), credentials.clone());
                std::thread::spawn(move || socks5(stream, &seen, credentials.as_ref()));
            }
        });
        Self { addr, seen }
    }

    /// `socks5://127.0.0.1:<port>`, or with `socks5h` and credentials as given.
    pub fn url(&self, scheme: &str, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("{scheme}://{user}:{password}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        }
    }

    /// What the proxy saw so far: `heads` holds each CONNECT's target as `host:port` (a name, or an address).
    pub fn seen(&self) -> ProxySeen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn socks5(mut client: std::net::TcpStream, seen: &std::sync::Mutex<ProxySeen>, credentials: Option<&(String, String)>) {
    let read = |n: usize, client: &mut std::net::TcpStream| -> Option<Vec<u8>> {
        let mut buffer = vec![0u8; n];
        client.read_exact(&mut buffer).ok()?;
        Some(buffer)
    };
    // Greeting: version 5, the methods offered.
    let Some(head) = read(2, &mut client) else { return };
    let Some(methods) = read(usize::from(head[1]), &mut client) else { return };
    let wanted = if credentials.is_some() { 2 } else { 0 };
    if head[0] != 5 || !methods.contains(&wanted) {
        let _ = client.write_all(&[5, 0xff]);
        return;
    }
    if client.write_all(&[5, wanted]).is_err() {
        return;
    }
    if let Some((user, password)) = credentials {
        let Some(version_and_length) = read(2, &mut client) else { return };
        let Some(given_user) = read(usize::from(version_and_length[1]), &mut client) else { return };
        let Some(length) = read(1, &mut client) else { return };
        let Some(given_password) = read(usize::from(length[0]), &mut client) else { return };
        let ok = given_user == user.as_bytes() && given_password == password.as_bytes();
        if client.write_all(&[1, if ok { 0 } else { 1 }]).is_err() || !ok {
            return;
        }
    }
    // The request: version, CONNECT, reserved, the address type and address, the port.
    let Some(request) = read(4, &mut client) else { return };
    let host = match request[3] {
        1 => read(4, &mut client).map(|ip| std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
        3 => read(1, &mut client)
            .and_then(|length| read(usize::from(length[0]), &mut client))
            .map(|name| String::from_utf8_lossy(&name).into_owned()),
        4 => read(16, &mut client).map(|ip| {
            let octets: [u8; 16] = ip.try_into().unwrap_or([0; 16]);
            format!("[{}]", std::net::Ipv6Addr::from(octets))
        }),
        _ => None,
    };
    let (Some(host), Some(port)) = (host, read(2, &mut client)) else { return };
    let port = u16::from_be_bytes([port[0], port[1]]);
    let target = format!("{host}:{port}");
    seen.lock().unwrap_or_else(|p| p.into_inner()).heads.push(target.clone());
    // Every address the name has, until one answers: a proxy resolving `localhost` may get ::1 first.
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&target)
        .ok()
        .and_then(|mut addrs| addrs.find_map(|addr| std::net::TcpStream::connect(addr).ok()));
    let Some(upstream) = upstream else {
        let _ = client.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]);
        return;
    };
    if client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).is_err() {
        return;
    }
    relay(client, upstream, seen);
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
