//! Transports of the kind a user would write, plugged into each client's seam: the suites run through them as
//! they run through ureq and hyper.

use std::time::Duration;

use sendkit_proto::http;
use sendkit_proto::{AsyncTransport, Attempt, Delivery, TransportError, TransportErrorKind};

/// An async transport made blocking.
pub struct Blocking {
    transport: InMemory,
    runtime: tokio::runtime::Runtime,
}

impl Blocking {
    /// [`InMemory`], each send run on `runtime`.
    pub fn new(transport: InMemory, runtime: tokio::runtime::Runtime) -> Self {
        Self { transport, runtime }
    }
}

impl sendkit_proto::Transport for Blocking {
    fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.runtime.block_on(AsyncTransport::send(&self.transport, attempt))
    }
}

/// A transport with no socket: HTTP/1.1 over an in-memory pipe to the emulator ([`sendkit_mock::connect_in_memory`]),
/// on hyper's bare connection API, keeping one connection open between requests. About what a user plugging in
/// a client of their own writes: send within the limits, report the facts of a failure.
#[derive(Default)]
pub struct InMemory {
    idle: std::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>>>,
}

impl InMemory {
    async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
        limit: u64,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        use http_body_util::BodyExt;
        let not_sent = |kind| TransportError::new(kind, Delivery::NotSent);
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).take();
        let reusable = match idle {
            Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
            None => None,
        };
        let mut sender = match reusable {
            Some(sender) => sender,
            None => {
                let addr = request
                    .uri()
                    .authority()
                    .and_then(|a| a.as_str().parse().ok())
                    .ok_or_else(|| not_sent(TransportErrorKind::Resolve))?;
                let pipe =
                    sendkit_mock::connect_in_memory(addr).ok_or_else(|| not_sent(TransportErrorKind::Connect))?;
                let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(pipe))
                    .await
                    .map_err(|err| not_sent(TransportErrorKind::Connect).with_source(err))?;
                tokio::spawn(connection);
                sender
            }
        };
        let lost = |err: hyper::Error| {
            let kind = if err.is_parse() { TransportErrorKind::Protocol } else { TransportErrorKind::ConnectionLost };
            TransportError::new(kind, Delivery::MaybeSent).with_source(err)
        };
        let response = sender
            .send_request(request.map(|body| http_body_util::Full::new(bytes::Bytes::from(body))))
            .await
            .map_err(lost)?;
        let (parts, body) = response.into_parts();
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        let bytes = match http_body_util::Limited::new(body, cap).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return Err(TransportError::new(TransportErrorKind::BodyTooLarge, Delivery::MaybeSent)
                    .with_status(parts.status));
            }
            Err(err) => {
                let kind = TransportErrorKind::ConnectionLost;
                return Err(TransportError::new(kind, Delivery::MaybeSent).with_status(parts.status).with_source(err));
            }
        };
        *self.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    }
}

#[async_trait::async_trait]
impl AsyncTransport for InMemory {
    async fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
        match tokio::time::timeout(attempt.timeout, self.exchange(attempt.request, attempt.body_limit)).await {
            Ok(outcome) => outcome,
            Err(elapsed) => {
                Err(TransportError::new(TransportErrorKind::Timeout, Delivery::MaybeSent).with_source(elapsed))
            }
        }
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}
