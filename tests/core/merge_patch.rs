//! RFC 7396 JSON Merge Patch: every example of the RFC, through each way the
//! crate applies a merge patch, and against the `json-patch` crate's `merge`.

use live_resource::{Document, Patch};
use serde::Deserialize;
use serde_json::Value;

use crate::support;

/// One row of `tests/data/rfc7396.json`.
#[derive(Debug, Deserialize)]
struct Vector {
    comment: String,
    target: Value,
    patch: Value,
    result: Value,
}

fn rfc7396() -> Vec<Vector> {
    let vectors: Vec<Vector> = support::vectors("rfc7396.json");
    // Section 1, section 3 and the 15 rows of Appendix A.
    assert_eq!(
        vectors.len(),
        17,
        "a vector went missing from the data file"
    );
    vectors
}

#[test]
fn merge_gives_the_rfc_result() {
    for vector in rfc7396() {
        let mut target = vector.target.clone();
        live_resource::patch::merge(&mut target, &vector.patch);
        assert_eq!(target, vector.result, "{}", vector.comment);
    }
}

#[test]
fn document_merge_gives_the_rfc_result() {
    for vector in rfc7396() {
        let mut document = Document::from(&vector.target);
        document.merge(&vector.patch);
        assert_eq!(document, vector.result, "{}", vector.comment);
        let mut owned = Document::from(&vector.target);
        owned.merge_owned(vector.patch.clone());
        assert_eq!(owned, vector.result, "{}", vector.comment);
    }
}

#[test]
fn merge_owned_gives_the_rfc_result() {
    for vector in rfc7396() {
        let mut target = vector.target.clone();
        live_resource::patch::merge_owned(&mut target, vector.patch.clone());
        assert_eq!(target, vector.result, "{}", vector.comment);
    }
}

#[test]
fn patch_merge_apply_gives_the_rfc_result() {
    for vector in rfc7396() {
        let patch = Patch::Merge(vector.patch.clone().into());

        let mut target = vector.target.clone();
        patch.apply(&mut target).unwrap_or_else(|err| {
            panic!("{}: a merge patch cannot fail, got {err}", vector.comment)
        });
        assert_eq!(target, vector.result, "apply: {}", vector.comment);

        let mut target = vector.target.clone();
        patch.apply_owned(&mut target).unwrap_or_else(|err| {
            panic!("{}: a merge patch cannot fail, got {err}", vector.comment)
        });
        assert_eq!(target, vector.result, "apply_owned: {}", vector.comment);
    }
}

#[test]
fn agrees_with_the_json_patch_crate() {
    for vector in rfc7396() {
        let mut theirs = vector.target.clone();
        json_patch::merge(&mut theirs, &vector.patch);
        assert_eq!(
            theirs, vector.result,
            "json_patch::merge: {}",
            vector.comment
        );

        let mut ours = vector.target.clone();
        live_resource::patch::merge(&mut ours, &vector.patch);
        assert_eq!(ours, theirs, "{}", vector.comment);
    }
}

#[test]
fn applying_the_same_patch_twice_changes_nothing_more() {
    // RFC 7396 patches are idempotent: a duplicate delivery is harmless even
    // before `seq` dedup drops it.
    for vector in rfc7396() {
        let mut target = vector.target.clone();
        live_resource::patch::merge(&mut target, &vector.patch);
        live_resource::patch::merge(&mut target, &vector.patch);
        assert_eq!(target, vector.result, "{}", vector.comment);
    }
}
