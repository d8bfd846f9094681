//! Integration tests of the core: patches, documents, the wire form, the hub
//! and the resource, driven without a network and with no feature needed.
//!
//! One test binary, so the dependency tree is linked once; each module is one
//! area, e.g. `cargo test --test core hub::`.

#[path = "../support/mod.rs"]
mod support;

mod amplification;
mod backpressure;
mod connect;
mod diff;
mod document;
mod faults;
mod handoff;
mod hub;
mod json_patch;
mod merge_patch;
mod merge_text;
mod paged_snapshot;
mod recovery;
mod resource;
mod state_bound;
mod status;
mod tables;
mod typed_publish;
mod unknown_topic;
mod view_cost;
mod wire;
