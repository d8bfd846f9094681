//! Helpers shared by the integration tests: each test binary (`core`,
//! `clients`, `server`, `network`) declares this module once, as
//! `#[path = "../support/mod.rs"] mod support;`, and its test modules use
//! `crate::support::...`.
//!
//! Each binary uses a part of the helpers, and under fewer features a smaller
//! part; hence the `#[allow(dead_code)]` on the modules.

#[allow(dead_code)]
pub(crate) mod arbitrary;
#[cfg(feature = "server")]
#[allow(dead_code)]
pub(crate) mod fake_server;
#[allow(dead_code)]
pub(crate) mod follower;
#[allow(dead_code)]
pub(crate) mod scripted;
#[cfg(feature = "server")]
#[allow(dead_code)]
pub(crate) mod served;
#[allow(dead_code)]
pub(crate) mod splice;

use std::path::PathBuf;

use serde::de::DeserializeOwned;

/// Reads the spec vectors in `tests/data/{name}`.
///
/// Panics with the path and the cause when the file is missing or does not
/// parse: a broken data file is a broken test, not a skipped one.
#[allow(dead_code)] // Not every test crate reads spec vectors.
pub(crate) fn vectors<T: DeserializeOwned>(name: &str) -> Vec<T> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    let vectors: Vec<T> = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("parsing {}: {err}", path.display()));
    assert!(!vectors.is_empty(), "{} holds no vectors", path.display());
    vectors
}
