//! The bound on what a JSON Patch does to a state (`Limits::check_write`,
//! so `patch::effect::check_json_ops`), as a hub checks it before it
//! applies a published patch to its `Value` and a replica before it applies
//! an update to its `Document`.
//!
//! Input: a byte that picks the depth bound, one that picks the size bound,
//! then a state's JSON, `0xff`, and the operations' JSON.
//!
//! Checks: never a panic; the check and applying give the same answers on a
//! `Value` and a `Document`; a refused patch leaves the state as it was;
//! and a patch that passes keeps the promise the check makes: every value
//! it writes sits within `max_depth` (the state nests no deeper than it
//! did or than the bound), and it grows the state's JSON by no more than
//! its own text plus `max_message_bytes` (what `copy` may duplicate).
#![no_main]

use libfuzzer_sys::fuzz_target;
use live_resource::json_patch::PatchOperation;
use live_resource::{Document, Limits, Patch, fuzzing};
use live_resource_fuzz::{depth, same, split, states};

fuzz_target!(|data: &[u8]| {
    let [depth_byte, size_byte, data @ ..] = data else {
        return;
    };
    let (state, Some(ops)) = split(data) else {
        return;
    };
    let Ok(ops) = serde_json::from_slice::<Vec<PatchOperation>>(ops) else {
        return;
    };
    let limits = Limits::default()
        .max_depth(usize::from(depth_byte % 16) + 1)
        .max_message_bytes(usize::from(*size_byte) * 4);
    let patch_len = serde_json::to_string(&ops).unwrap().len();
    let patch = Patch::Json(live_resource::json_patch::Patch(ops));
    for state in states(Some(state)) {
        let document = Document::from(state.clone());
        let on_value = fuzzing::check_write_value(&limits, &state, &patch);
        let on_document = fuzzing::check_write_document(&limits, &document, &patch);
        assert_eq!(
            on_value.as_ref().map_err(ToString::to_string),
            on_document.as_ref().map_err(ToString::to_string),
        );
        let Ok(growth) = on_value else {
            continue;
        };
        let mut value = state.clone();
        let applied = patch.apply(&mut value);
        let mut replica = document.clone();
        let applied_replica = replica.apply(&patch);
        assert_eq!(
            applied.is_ok(),
            applied_replica.is_ok(),
            "{applied:?} {applied_replica:?}"
        );
        if applied.is_err() {
            assert_eq!(value, state, "a failed patch changed the Value");
            assert!(replica == document, "a failed patch changed the Document");
            continue;
        }
        assert!(
            same(&value, &replica.to_value()),
            "Value {value}, Document {replica:?}"
        );

        let (before, after) = (depth(&state), depth(&value));
        assert!(
            after <= before.max(limits.max_depth),
            "nests {after} deep, from {before}, past the bound {}",
            limits.max_depth
        );
        let size = |value: &serde_json::Value| serde_json::to_string(value).unwrap().len();
        let (before, after) = (size(&state), size(&value));
        assert!(
            after <= before + patch_len + limits.max_message_bytes,
            "grew from {before} to {after} bytes with a patch of {patch_len} and a bound of {}",
            limits.max_message_bytes
        );
        // What `Limits::max_state_bytes` counts on: the growth the check
        // gives is never less than the real one.
        assert!(
            after <= before + growth,
            "grew from {before} to {after} bytes, past the {growth} the check allowed"
        );
    }
});
