//! RFC 6902 JSON Patch through `Patch::Json`: the RFC's Appendix A examples
//! and the failures around them, and the all-or-nothing guarantee, on a
//! `serde_json::Value` and on a `Document`.

use crate::support::chain;
use live_resource::{Document, Error, Patch, Update};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support;

/// One case of `tests/data/rfc6902.json`: either `expected` or `error` is set.
#[derive(Debug, Deserialize)]
struct Vector {
    comment: String,
    doc: Value,
    patch: json_patch::Patch,
    expected: Option<Value>,
    /// Why the patch must fail.
    error: Option<String>,
}

fn rfc6902() -> Vec<Vector> {
    let vectors: Vec<Vector> = support::vectors("rfc6902.json");
    for vector in &vectors {
        assert!(
            vector.expected.is_some() != vector.error.is_some(),
            "{}: a vector needs exactly one of `expected` or `error`",
            vector.comment
        );
    }
    vectors
}

/// Applies `patch` to a copy of `doc` both ways, checks both agree, and
/// returns the outcome with the resulting document.
fn apply_both_ways(vector: &Vector) -> (Result<(), Error>, Value) {
    let patch = Patch::Json(vector.patch.clone());

    let mut borrowed = vector.doc.clone();
    let by_ref = patch.apply(&mut borrowed);

    let mut owned = vector.doc.clone();
    let by_value = patch.apply_owned(&mut owned);

    assert_eq!(
        borrowed, owned,
        "{}: apply and apply_owned disagree",
        vector.comment
    );
    assert_eq!(
        by_ref.is_ok(),
        by_value.is_ok(),
        "{}: apply gave {by_ref:?}, apply_owned gave {by_value:?}",
        vector.comment
    );

    // The state a LiveResource keeps, byte for byte, on success or failure.
    let mut document = Document::from(&vector.doc);
    let on_document = document.apply(&Patch::Json(vector.patch.clone()));
    assert_eq!(
        document, borrowed,
        "{}: Document and Value disagree",
        vector.comment
    );
    assert_eq!(
        on_document.is_ok(),
        by_ref.is_ok(),
        "{}: Document gave {on_document:?}, Value gave {by_ref:?}",
        vector.comment
    );
    if on_document.is_err() {
        assert_eq!(
            document.to_string(),
            Document::from(&vector.doc).to_string(),
            "{}: member order restored",
            vector.comment
        );
    }
    (by_ref, borrowed)
}

#[test]
fn successful_cases_give_the_expected_document() {
    let mut ran = 0;
    for vector in rfc6902() {
        let Some(expected) = &vector.expected else {
            continue;
        };
        let (outcome, doc) = apply_both_ways(&vector);
        if let Err(err) = outcome {
            panic!("{}: should apply, failed with {err}", vector.comment);
        }
        assert_eq!(&doc, expected, "{}", vector.comment);
        ran += 1;
    }
    assert!(ran >= 20, "only {ran} successful cases ran");
}

#[test]
fn failing_cases_are_apply_errors_and_leave_the_target_unchanged() {
    let mut ran = 0;
    for vector in rfc6902() {
        let Some(why) = &vector.error else {
            continue;
        };
        let (outcome, doc) = apply_both_ways(&vector);
        match outcome {
            Err(Error::Apply(_)) => {}
            Err(other) => panic!(
                "{} ({why}): expected Error::Apply, got {other:?}",
                vector.comment
            ),
            Ok(()) => panic!("{} ({why}): applied, gave {doc}", vector.comment),
        }
        assert_eq!(
            doc, vector.doc,
            "{} ({why}): target changed",
            vector.comment
        );
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} failing cases ran");
}

#[test]
fn the_rfc_appendix_is_covered() {
    // A.13 (a duplicate `op` member) is about JSON parsing, tested below.
    let comments: Vec<String> = rfc6902().into_iter().map(|v| v.comment).collect();
    for example in (1..=16).filter(|n| *n != 13) {
        let prefix = format!("A.{example} ");
        assert!(
            comments.iter().any(|c| c.starts_with(&prefix)),
            "Appendix A.{example} is missing from the data file"
        );
    }
}

#[test]
fn apply_error_says_which_operation_failed() {
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/a", "value": 1},
        {"op": "test", "path": "/a", "value": 2},
    ]))
    .unwrap();
    let mut doc = json!({});
    let err = Patch::Json(ops).apply(&mut doc).unwrap_err();
    let Error::Apply(cause) = &err else {
        panic!("expected Error::Apply, got {err:?}");
    };
    assert_eq!(cause.operation(), 1);
    assert_eq!(
        cause.kind(),
        live_resource::patch::ApplyErrorKind::TestFailed
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the json-patch error is the source"
    );
    assert_eq!(err.to_string(), "patch does not apply");
    let message = chain(&err);
    assert!(
        message.starts_with("patch does not apply: operation 1"),
        "{message}"
    );
    assert_eq!(doc, json!({}));
}

#[test]
fn a_failing_patch_does_not_disturb_a_large_state() {
    // The undo must restore every element, not just the ones the patch named.
    let rows: Vec<Value> = (0..1000).map(|n| json!({"id": n, "v": n * 2})).collect();
    let before = json!({"rows": rows, "meta": {"count": 1000}});
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "remove", "path": "/rows/0"},
        {"op": "move", "from": "/rows/10", "path": "/rows/500"},
        {"op": "copy", "from": "/rows/3", "path": "/rows/-"},
        {"op": "replace", "path": "/meta/count", "value": 999},
        {"op": "test", "path": "/meta/count", "value": 1000},
    ]))
    .unwrap();
    for owned in [false, true] {
        let mut state = before.clone();
        let patch = Patch::Json(ops.clone());
        let result = if owned {
            patch.apply_owned(&mut state)
        } else {
            patch.apply(&mut state)
        };
        assert!(matches!(result, Err(Error::Apply(_))), "owned: {owned}");
        assert_eq!(state, before, "owned: {owned}");
    }
}

#[test]
fn a_duplicate_op_member_is_malformed() {
    // RFC 6902 A.13: `{"op":"add", ..., "op":"remove"}` is not a valid patch;
    // the wire form refuses it rather than guessing which `op` was meant.
    let text = br#"{"seq":1,"patch":[{"op":"add","path":"/baz","value":"qux","op":"remove"}]}"#;
    let err = Update::from_slice(text).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err:?}");
    assert!(chain(&err).contains("duplicate field `op`"), "{err}");
}
