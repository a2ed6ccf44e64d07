//! Test support, by idea: [`adapter`] (one interface over every client, and the macros that run a scenario through
//! each), [`in_memory`](mod@in_memory) (transports of a user's kind, for both seams), [`servers`] (servers other than the emulator).

pub mod adapter;
pub mod in_memory;
pub mod servers;

pub use adapter::*;
pub use in_memory::{Blocking, InMemory};
pub use servers::*;

/// The README's code, compiled and run as doctests so that it cannot drift from the API.
#[doc = include_str!("../../README.md")]
mod readme {}
