//! Deterministic simulation of the SDK, in the manner of FoundationDB's simulation testing and TigerBeetle's VOPR:
//! a seed draws a schedule (settings, jobs, an operation, a driver, and a fault for every request: resets before
//! and after the server acts, effects applied after the client gave up, 5xx and 429 in every form, unreadable
//! 2xx, answers slower than the timeout, jobs that finish on their own); the engine runs it over a transport whose
//! bytes, sleep and clock are simulated; and every outcome is checked against the in-memory API's ledger:
//!
//! - every job reported cancelled is cancelled in the truth, and the job returned is the one asked for;
//! - "did not take effect" means no request of that call was ever applied, late effects included;
//! - no enrich is applied twice, and one reported created was applied once;
//! - each job of a batch gets exactly one outcome;
//! - each call ends within its deadline in simulated time;
//! - nothing panics.
//!
//! A seed replays its schedule exactly: `cargo xtask sim --seed N` shows one.

mod rng;
mod schedule;
mod transport;
mod world;

pub use rng::Rng;
pub use schedule::{late_effect, run, run_in, Driver, Operation, Report};
pub use transport::Sim;
pub use world::{Fault, Sent, World};
