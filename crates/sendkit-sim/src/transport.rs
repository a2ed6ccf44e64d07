//! The seam in simulated time: a transport whose bytes, sleep and clock are the world's, for both drivers, and
//! the executor that runs the async driver deterministically on one thread.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sendkit_proto::http::Response;
use sendkit_proto::{AsyncTransport, Attempt, Now, Transport, TransportError};

use crate::world::World;

/// The world, shared by the transport and the executor.
#[derive(Clone)]
pub struct Sim(Arc<Mutex<World>>);

impl Sim {
    /// A simulation of `world`.
    pub fn new(world: World) -> Self {
        Self(Arc::new(Mutex::new(world)))
    }

    /// The world, to read or change.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `future` to its end in simulated time: polls it, then carries out the next event due, until it is
    /// ready. One thread, one order: the same seed gives the same run.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
            // Every future of the engine waits on the world's clock: with nothing due, none could ever wake.
            assert!(self.world().step(), "deadlock: the engine waits and nothing is due");
        }
    }
}

impl Transport for Sim {
    fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError> {
        let mut world = self.world();
        let (at, pending) = world.send(attempt);
        world.advance_to(at);
        drop(world);
        pending.take()
    }

    fn now(&self) -> Now {
        let mut world = self.world();
        world.ask();
        world.now()
    }

    fn sleep(&self, duration: Duration) {
        let mut world = self.world();
        world.ask();
        let at = world.elapsed() + duration;
        world.advance_to(at);
    }
}

#[async_trait::async_trait]
impl AsyncTransport for Sim {
    async fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError> {
        let (at, pending) = self.world().send(attempt);
        self.until(at).await;
        pending.take()
    }

    async fn sleep(&self, duration: Duration) {
        let at = {
            let mut world = self.world();
            world.ask();
            world.elapsed() + duration
        };
        self.until(at).await;
    }

    fn now(&self) -> Now {
        let mut world = self.world();
        world.ask();
        world.now()
    }
}

impl Sim {
    /// A future ready once the world's clock reaches `at`.
    fn until(&self, at: Duration) -> impl Future<Output = ()> + Send + '_ {
        let mut registered = false;
        std::future::poll_fn(move |context| {
            let mut world = self.world();
            if world.elapsed() >= at {
                return Poll::Ready(());
            }
            if !registered {
                world.wake_at(at, Some(context.waker().clone()));
                registered = true;
            }
            Poll::Pending
        })
    }
}
