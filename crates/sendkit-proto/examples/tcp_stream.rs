//! The sans-IO core on its own: cancel a job over a plain `std::net::TcpStream`, with no HTTP library at all.
//! `Call` decides; these few lines only write bytes and read them back.
//!
//! ```text
//! cargo run -p sendkit-proto --example tcp_stream
//! ```
//! It starts the emulator for itself, so it needs nothing else.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Instant, SystemTime};

use sendkit_mock::MockServer;
use sendkit_proto::http::{Request, Response};
use sendkit_proto::model::{Job, JobStatus, JobType};
use sendkit_proto::{Call, CancelJob, Config, Delivery, Flow, Now, Step, TransportError, TransportErrorKind};

/// HTTP/1.1 by hand, enough for the emulator: one request per connection, `Content-Length` framing.
fn send(request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, TransportError> {
    let io = |err: std::io::Error| {
        TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent).with_source(err)
    };
    let authority = request.uri().authority().map(|a| a.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(&authority)
        .map_err(|err| TransportError::new(TransportErrorKind::Connect, Delivery::NotSent).with_source(err))?;
    let mut head =
        format!("{} {} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n", request.method(), request.uri().path());
    for (name, value) in request.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or_default()));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", request.body().len()));
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(request.body())).map_err(io)?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(io)?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut response = Response::builder().status(status);
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(io)?;
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        }
        response = response.header(name.trim(), value.trim());
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).map_err(io)?;
    response
        .body(body)
        .map_err(|err| TransportError::new(TransportErrorKind::Protocol, Delivery::MaybeSent).with_source(err))
}

fn main() {
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    let config = Config::builder(server.api_key()).base_url(server.base_url()).build().expect("valid settings");

    let mut call = Call::new(CancelJob::new("job_1"), &config);
    let now = || Now::new(Instant::now(), SystemTime::now());
    let mut step = call.next(now());
    let result = loop {
        step = match step {
            Step::Send(attempt) => call.receive(send(attempt.request), now()),
            Step::Sleep(pause) => {
                std::thread::sleep(pause);
                call.next(now())
            }
            Step::Done(result) => break result,
        };
    };
    match result {
        Ok(job) => println!("{} is {} (over a bare TcpStream, {} attempt)", job.id, job.status, call.attempts()),
        Err(error) => eprintln!("{error}"),
    }
}
