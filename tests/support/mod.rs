//! Helpers shared by the integration tests.

// Each test crate uses a part of these.
#[allow(dead_code)]
pub(crate) mod arbitrary;

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
