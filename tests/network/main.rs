//! Integration tests of the network between the crate's own server and its
//! clients: a proxy that cuts and stalls connections, and one that loses or
//! tears frames and events.
//!
//! One test binary, so the dependency tree is linked once, e.g. `cargo test
//! --all-features --test network torn_frames::`.

#[path = "../support/mod.rs"]
mod support;

#[cfg(all(feature = "server", feature = "ws", feature = "sse"))]
mod network_faults;
#[cfg(all(feature = "server", feature = "ws", feature = "sse"))]
mod torn_frames;
