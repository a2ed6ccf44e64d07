//! The emulator's response body: whole, or shaped by a fault (stalled, truncated, endless).

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::fault::BodyShape;

/// A response body that can pause between its parts.
pub(crate) struct AnswerBody {
    parts: VecDeque<Part>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    /// `Some(n)` when the whole body is `n` bytes and will all be sent: hyper then writes `Content-Length`.
    exact: Option<u64>,
    /// Called once the last part is handed out, when the body is whole (not cut short by a fault).
    on_end: Option<Box<dyn FnOnce() + Send + Sync>>,
}

enum Part {
    Data(Bytes),
    Pause(Duration),
    Repeat { chunk: Bytes, left: u64 },
}

impl AnswerBody {
    pub(crate) fn whole(bytes: Bytes) -> Self {
        let exact = Some(bytes.len() as u64);
        Self { parts: VecDeque::from([Part::Data(bytes)]), pause: None, exact, on_end: None }
    }

    /// `bytes` sent as `shape` says.
    pub(crate) fn shaped(bytes: Bytes, shape: BodyShape) -> Self {
        match shape {
            BodyShape::Whole => Self::whole(bytes),
            BodyShape::Stall { after, pause } => {
                let after = after.min(bytes.len());
                let parts = [Part::Data(bytes.slice(..after)), Part::Pause(pause), Part::Data(bytes.slice(after..))];
                Self { parts: parts.into(), pause: None, exact: Some(bytes.len() as u64), on_end: None }
            }
            BodyShape::Truncate { sent } => {
                let sent = sent.min(bytes.len());
                let parts = VecDeque::from([Part::Data(bytes.slice(..sent))]);
                Self { parts, pause: None, exact: None, on_end: None }
            }
            BodyShape::Endless { limit } => {
                let chunk = if bytes.is_empty() { Bytes::from_static(&[b' '; 4096]) } else { bytes };
                let left = limit / chunk.len() as u64;
                Self { parts: VecDeque::from([Part::Repeat { chunk, left }]), pause: None, exact: None, on_end: None }
            }
        }
    }
}

impl AnswerBody {
    /// Calls `done` once the whole body has been handed out; a body that a fault cuts short never calls it.
    pub(crate) fn on_end(mut self, done: impl FnOnce() + Send + Sync + 'static, whole: bool) -> Self {
        if whole {
            self.on_end = Some(Box::new(done));
        }
        self
    }
}

impl Body for AnswerBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        loop {
            if let Some(pause) = &mut self.pause {
                match pause.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => self.pause = None,
                }
            }
            match self.parts.pop_front() {
                None => {
                    if let Some(done) = self.on_end.take() {
                        done();
                    }
                    return Poll::Ready(None);
                }
                Some(Part::Data(bytes)) if bytes.is_empty() => continue,
                Some(Part::Data(bytes)) => {
                    // hyper may not poll again once `is_end_stream` says so: the last part is the end.
                    if self.parts.is_empty() {
                        if let Some(done) = self.on_end.take() {
                            done();
                        }
                    }
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                Some(Part::Pause(duration)) => self.pause = Some(Box::pin(tokio::time::sleep(duration))),
                Some(Part::Repeat { left: 0, .. }) => continue,
                Some(Part::Repeat { chunk, left }) => {
                    self.parts.push_front(Part::Repeat { chunk: chunk.clone(), left: left - 1 });
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty() && self.pause.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.exact.map(SizeHint::with_exact).unwrap_or_default()
    }
}
