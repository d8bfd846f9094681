//! Updates read from wire text, strictly (`Limits::parse_update`,
//! `Update::from_slice`) and lazily (`Limits::parse_update_lazy`), then
//! applied to a `Document` (`apply`, `apply_owned`, so `merge_text`).
//!
//! Input: a byte that picks the bounds, then the update's text, or a
//! state's JSON, `0xff`, and the update's text.
//!
//! Checks: never a panic; both readers check size and depth alike; a
//! refused update leaves the document exactly as it was; the strict and
//! lazy readings apply alike; and where `serde_json` reads the text as an
//! update (no member named twice), they do what it and `patch::merge` say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use live_resource::Update;
use live_resource_fuzz::{Meaning, apply, limits, meaning, out_of_bounds, same, split, states};

fuzz_target!(|data: &[u8]| {
    let Some((&byte, data)) = data.split_first() else {
        return;
    };
    let limits = limits(byte);
    let (state, text) = match split(data) {
        (state, Some(text)) => (Some(state), text),
        (text, None) => (None, text),
    };
    let states = states(state);
    let meaning = meaning(text);

    let strict = limits.parse_update(text);
    let _ = Update::from_slice(text);
    let lazy = std::str::from_utf8(text).map(|text| limits.parse_update_lazy(text));
    if let Ok(lazy) = &lazy {
        let bounded = |read: &Result<Update, _>| read.as_ref().err().is_some_and(out_of_bounds);
        assert_eq!(bounded(&strict), bounded(lazy), "{strict:?} {lazy:?}");
    }
    match &strict {
        Err(error) if out_of_bounds(error) => return,
        Err(error) => assert!(
            matches!(meaning, Meaning::Invalid | Meaning::Unknown),
            "refused ({error}) what serde_json reads as {meaning:?}"
        ),
        Ok(update) => {
            assert!(
                !matches!(meaning, Meaning::Invalid),
                "read what is not an update: {update:?}"
            );
            serde_json::to_string(update).expect("a checked update serializes");
        }
    }
    for state in &states {
        let strictly = strict
            .as_ref()
            .ok()
            .map(|update| apply(update, &meaning, state));
        let lazily = match &lazy {
            Ok(Ok(update)) => Some(apply(update, &meaning, state)),
            _ => None,
        };
        let lazily = lazily.flatten();
        match strictly {
            // Refused whole: refused lazily too, when read or when applied.
            None => assert!(lazily.is_none(), "only the lazy reading applied"),
            Some(strictly) if lazy.is_ok() => match (strictly, lazily) {
                (Some(a), Some(b)) => assert!(same(&a, &b), "strict {a}, lazy {b}"),
                (None, None) => {}
                (a, b) => panic!("strict {a:?}, lazy {b:?}"),
            },
            Some(_) => {}
        }
    }
});
