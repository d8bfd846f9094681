//! Merge updates read from wire text without building a `Value`
//! (`Patch::MergeText`): read strictly by `Limits::parse_update` or lazily by
//! `Limits::parse_update_lazy`, and merged into a `Document` as the text is
//! read. Applied, they do exactly what the same update read by `serde_json`
//! does with `patch::merge` on a `Value`; a text `serde_json` refuses is
//! refused too, at the latest when it is applied, with `Error::Malformed` and
//! the document left exactly as it was, even when the bad text comes after a
//! member that would have written.

use std::collections::HashSet;
use std::fmt;

use live_resource::patch::merge;
use live_resource::{Document, Error, Hub, Limits, Patch, Update};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value, json};

use crate::support::arbitrary::pair;

// ---------------------------------------------------------------- helpers

/// The two ways an update is read from text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// `Limits::parse_update`: the whole text is checked when it is read.
    Strict,
    /// `Limits::parse_update_lazy`: a numbered merge update is read only as
    /// far as its patch; the rest is read when it is applied.
    Lazy,
}

impl Read {
    fn update(self, limits: &Limits, bytes: &[u8]) -> Result<Update, Error> {
        match (self, std::str::from_utf8(bytes)) {
            (Self::Strict, _) => limits.parse_update(bytes),
            (Self::Lazy, Ok(text)) => limits.parse_update_lazy(text),
            (Self::Lazy, Err(_)) => unreachable!("the lazy reader takes text only"),
        }
    }
}

/// What reading an update and applying it to a document gives.
#[derive(Debug)]
enum Outcome {
    /// Read and applied: the update's `seq`, and the document after.
    Applied(Option<u64>, Document),
    /// Refused when read: nothing was applied.
    RefusedRead(Error),
    /// Read, then refused when applied: the error, and the document as the
    /// failed apply left it.
    RefusedApply(Error, Document),
}

/// Reads `bytes` as `read` does and applies the update to a `Document` of
/// `state`, by reference, by value, and to a `Value` through `Patch::apply`:
/// all three must agree, as they are one merge reached three ways (but for
/// a member named twice, which a `Value` keeps once).
fn outcome(read: Read, limits: &Limits, bytes: &[u8], state: &Value) -> Outcome {
    let shown = String::from_utf8_lossy(bytes);
    let update = match read.update(limits, bytes) {
        Ok(update) => update,
        Err(error) => return Outcome::RefusedRead(error),
    };
    let mut document = Document::from(state);
    let applied = document.apply(&update.patch);

    let mut owned = Document::from(state);
    let applied_owned = owned.apply_owned(update.patch.clone());
    assert_eq!(
        applied.is_ok(),
        applied_owned.is_ok(),
        "{read:?} {shown}: apply gave {applied:?}, apply_owned {applied_owned:?}"
    );
    assert_eq!(document, owned, "{read:?} {shown}: apply and apply_owned");

    let mut value = state.clone();
    let on_value = update.patch.apply(&mut value);
    assert_eq!(
        applied.is_ok(),
        on_value.is_ok(),
        "{read:?} {shown}: Document gave {applied:?}, Value {on_value:?}"
    );
    if on_value.is_err() {
        assert_eq!(
            &value, state,
            "{read:?} {shown}: a failed merge left the Value changed"
        );
    } else if !names_a_member_twice(bytes) {
        assert_eq!(
            serde_json::to_value(&document).unwrap(),
            value,
            "{read:?} {shown}: Document {document:?}, Value {value}"
        );
    }

    match applied {
        Ok(()) => Outcome::Applied(update.seq, document),
        Err(error) => Outcome::RefusedApply(error, document),
    }
}

/// Asserts that `document` is `state` as it was: equal, and with its
/// members in the same places (a write undone by hand could move them).
fn assert_unchanged(document: &Document, state: &Value, context: &str) {
    assert_eq!(document, state, "{context}: the document changed");
    assert_eq!(
        document.to_string(),
        Document::from(state).to_string(),
        "{context}: members moved"
    );
}

/// The errors a refused update may give: a message that is not an update is
/// `Malformed`; `TooLarge` and `TooDeep` only when a limit is broken.
fn assert_refusal(error: &Error, context: &str) {
    assert!(
        matches!(
            error,
            Error::Malformed(_) | Error::TooLarge { .. } | Error::TooDeep { .. }
        ),
        "{context}: refused with {error:?}"
    );
}

/// Whether some object in the JSON `text` names a member twice. There the
/// two readings differ by design: a `Value` keeps the last member, while a
/// `Document` merging the text applies each in turn, as two patches would.
fn names_a_member_twice(text: &[u8]) -> bool {
    serde_json::from_slice::<Duplicates>(text).is_ok_and(|Duplicates(found)| found)
}

/// Whether a JSON value, read through, names a member twice anywhere.
struct Duplicates(bool);

impl<'de> Deserialize<'de> for Duplicates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DuplicatesVisitor)
    }
}

struct DuplicatesVisitor;

impl<'de> Visitor<'de> for DuplicatesVisitor {
    type Value = Duplicates;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Duplicates, E> {
        Ok(Duplicates(false))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Duplicates, E> {
        Ok(Duplicates(false))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Duplicates, E> {
        Ok(Duplicates(false))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Duplicates, E> {
        Ok(Duplicates(false))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Duplicates, E> {
        Ok(Duplicates(false))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Duplicates, E> {
        Ok(Duplicates(false))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Duplicates, A::Error> {
        let mut found = false;
        while let Some(Duplicates(inside)) = items.next_element()? {
            found |= inside;
        }
        Ok(Duplicates(found))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Duplicates, A::Error> {
        let (mut keys, mut found) = (HashSet::new(), false);
        while let Some(key) = members.next_key::<String>()? {
            found |= !keys.insert(key);
            let Duplicates(inside) = members.next_value()?;
            found |= inside;
        }
        Ok(Duplicates(found))
    }
}

// ---------------------------------------------------------------- the wire forms

/// The shapes a merge update comes in on the wire.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// `{"seq":1,"merge":..}`, compact: what this crate's servers write.
    Compact,
    /// The same, indented by `serde_json::to_string_pretty`.
    Pretty,
    /// Inside a WebSocket-like envelope, with members before and after.
    Envelope,
    /// `{"seq":null,"merge":..}`: numbered first, but with no number.
    NullSeq,
    /// `{"merge":..,"seq":1}`: the patch first, so never read lazily.
    MergeFirst,
    /// `{"merge":..}`: a legacy source's update, with no `seq`.
    Unsequenced,
}

const FORMS: [Form; 6] = [
    Form::Compact,
    Form::Pretty,
    Form::Envelope,
    Form::NullSeq,
    Form::MergeFirst,
    Form::Unsequenced,
];

impl Form {
    fn text(self, patch: &Value) -> String {
        let patch_text = serde_json::to_string(patch).unwrap();
        match self {
            Self::Compact => format!(r#"{{"seq":1,"merge":{patch_text}}}"#),
            // An `Update` writes `seq` first (a `Value` would sort it last).
            Self::Pretty => serde_json::to_string_pretty(&Update::merge(1, patch.clone())).unwrap(),
            // The members after the patch hold brackets in a string, and
            // one of the update's own names as a value.
            Self::Envelope => format!(
                r#"{{"type":"update","topic":"t","seq":1,"merge":{patch_text},"sent":[1,{{"at":"}}]"}}],"note":"seq"}}"#
            ),
            Self::NullSeq => format!(r#"{{"seq":null,"merge":{patch_text}}}"#),
            Self::MergeFirst => format!(r#"{{"merge":{patch_text},"seq":1}}"#),
            Self::Unsequenced => format!(r#"{{"merge":{patch_text}}}"#),
        }
    }

    fn seq(self) -> Option<u64> {
        match self {
            Self::NullSeq | Self::Unsequenced => None,
            _ => Some(1),
        }
    }
}

// ---------------------------------------------------------------- damaged text

/// One change that may break an update's text.
#[derive(Clone, Debug)]
enum Damage {
    /// Cut the text short, at a character boundary.
    Truncate(Index),
    /// Remove one character.
    DeleteChar(Index),
    /// Remove one byte, which may leave bytes that are not UTF-8 (then only
    /// the strict reader, which takes bytes, reads them).
    DeleteByte(Index),
    /// Insert a character, at a character boundary.
    Insert(Index, char),
    /// Repeat a slice of the text right after itself.
    Duplicate(Index, Index),
}

/// The characters inserted: JSON's punctuation, and the starts of a number,
/// a literal, an escape.
const INSERTED: &[char] = &[
    '{', '}', '[', ']', '"', ',', ':', '0', '-', 'a', '\\', '.', 'e', 'n', ' ',
];

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<Index>().prop_map(Damage::Truncate),
        any::<Index>().prop_map(Damage::DeleteChar),
        any::<Index>().prop_map(Damage::DeleteByte),
        (any::<Index>(), prop::sample::select(INSERTED))
            .prop_map(|(at, inserted)| Damage::Insert(at, inserted)),
        (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Damage::Duplicate(from, to)),
    ]
}

/// A place in `bytes` from `index`, moved back to a character boundary;
/// `0..=len` when `end` may be chosen, else `0..len` (`bytes` not empty).
fn boundary(bytes: &[u8], index: &Index, end: bool) -> usize {
    let mut at = index.index(bytes.len() + usize::from(end));
    while at > 0 && at < bytes.len() && bytes[at] & 0xC0 == 0x80 {
        at -= 1;
    }
    at
}

impl Damage {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Self::Truncate(at) => {
                let at = boundary(bytes, at, true);
                bytes.truncate(at);
            }
            Self::DeleteChar(at) if !bytes.is_empty() => {
                let at = boundary(bytes, at, false);
                let mut end = at + 1;
                while end < bytes.len() && bytes[end] & 0xC0 == 0x80 {
                    end += 1;
                }
                bytes.drain(at..end);
            }
            Self::DeleteByte(at) if !bytes.is_empty() => {
                bytes.remove(at.index(bytes.len()));
            }
            Self::Insert(at, inserted) => {
                let at = boundary(bytes, at, true);
                let mut buffer = [0; 4];
                let encoded = inserted.encode_utf8(&mut buffer).as_bytes();
                bytes.splice(at..at, encoded.iter().copied());
            }
            Self::Duplicate(from, to) => {
                let (from, to) = (boundary(bytes, from, true), boundary(bytes, to, true));
                let (start, end) = (from.min(to), from.max(to));
                let slice = bytes[start..end].to_vec();
                bytes.splice(end..end, slice);
            }
            Self::DeleteChar(_) | Self::DeleteByte(_) => {}
        }
    }
}

/// Reads `bytes` both ways and applies them to `state`, and checks each
/// outcome against `serde_json`'s own reading of the update: what it
/// refuses is refused, when read or when applied, leaving the document as
/// it was; what it accepts gives its `seq` and the merge of its patch.
fn agrees_with_serde_json(bytes: &[u8], state: &Value) {
    let shown = String::from_utf8_lossy(bytes);
    let by_serde = serde_json::from_slice::<Update>(bytes);
    let limits = Limits::default();
    let reads: &[Read] = match std::str::from_utf8(bytes) {
        Ok(_) => &[Read::Strict, Read::Lazy],
        Err(_) => &[Read::Strict],
    };
    for &read in reads {
        let context = format!("{read:?} {shown}");
        match (&by_serde, outcome(read, &limits, bytes, state)) {
            (Err(_), Outcome::RefusedRead(error)) => assert_refusal(&error, &context),
            (Err(_), Outcome::RefusedApply(error, document)) => {
                // The strict reader checks it all when it reads.
                assert_eq!(
                    read,
                    Read::Lazy,
                    "{context}: read, refused only when applied"
                );
                assert!(matches!(error, Error::Malformed(_)), "{context}: {error:?}");
                assert_unchanged(&document, state, &context);
            }
            (Err(refused), Outcome::Applied(..)) => {
                panic!("{context}: applied, but serde_json refuses it: {refused}")
            }
            (Ok(update), Outcome::Applied(seq, document)) => {
                assert_eq!(seq, update.seq, "{context}: seq");
                let Patch::Merge(patch) = &update.patch else {
                    continue;
                };
                if names_a_member_twice(bytes) {
                    continue;
                }
                let mut expected = state.clone();
                merge(&mut expected, &patch.to_value().unwrap());
                let got = serde_json::to_value(&document).unwrap();
                assert_eq!(
                    got, expected,
                    "{context}: got {got}, serde_json's merge gives {expected}"
                );
            }
            (Ok(update), refused) => {
                panic!("{context}: serde_json reads {update:?}, but: {refused:?}")
            }
        }
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every wire form, read either way, merges as the patch's `Value` does.
    #[test]
    fn a_merge_text_merges_as_its_value_does((state, patch) in pair()) {
        let mut expected = state.clone();
        merge(&mut expected, &patch);
        let limits = Limits::default();
        for form in FORMS {
            let text = form.text(&patch);
            for read in [Read::Strict, Read::Lazy] {
                let update = read.update(&limits, text.as_bytes())
                    .unwrap_or_else(|error| panic!("{read:?} {text}: {error}"));
                prop_assert_eq!(update.seq, form.seq(), "{:?} {}", read, text);
                // Kept as its text (its `Debug` says which form it holds),
                // so that what is tried here is the merge from text.
                prop_assert!(format!("{:?}", update.patch).contains("MergeText"), "{:?} {}", read, text);
                prop_assert_eq!(&update.patch, &Patch::Merge(patch.clone().into()), "{:?} {}", read, text);

                let mut document = Document::from(&state);
                document.apply(&update.patch).unwrap();
                prop_assert_eq!(&document, &expected, "{:?} {}", read, text);
                prop_assert_eq!(serde_json::to_value(&document).unwrap(), expected.clone());

                let mut owned = Document::from(&state);
                owned.apply_owned(update.patch).unwrap();
                prop_assert_eq!(&owned, &expected, "{:?} {}", read, text);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Damaged text is read as `serde_json` reads it, or refused; and what
    /// is refused only when applied has changed nothing.
    #[test]
    fn a_damaged_update_does_what_serde_json_says_or_nothing(
        (state, patch) in pair(),
        form in prop::sample::select(FORMS.to_vec()),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let mut bytes = form.text(&patch).into_bytes();
        for damage in &damages {
            damage.apply(&mut bytes);
        }
        agrees_with_serde_json(&bytes, &state);
    }
}

// ---------------------------------------------------------------- atomicity

/// A state each bad update below would change with its first member.
fn atomic_state() -> Value {
    json!({"a": 0, "b": {"c": 1}, "keep": [1, 2], "text": "old"})
}

#[test]
fn bad_text_after_a_write_fails_and_changes_nothing() {
    let state = atomic_state();
    let limits = Limits::default();
    for text in [
        // The patch breaks after a member that writes.
        r#"{"seq":2,"merge":{"a":1,"b":}}"#,
        r#"{"seq":2,"merge":{"new":{"x":1,"y":]}}}"#,
        r#"{"seq":2,"merge":{"a":null,"b":tru}}"#,
        r#"{"seq":2,"merge":{"a":null,"b":1e400}}"#,
        r#"{"seq":2,"merge":{"text":"new","b":"\ud800"}}"#,
        r#"{"seq":2,"merge":{"a":1,"b\x":2}}"#,
        "{\"seq\":2,\"merge\":{\"a\":1,\"text\":\"a\tb\"}}",
        r#"{"seq":2,"merge":{"b":{"c":2},"keep":[1,{"d":}]}}"#,
        r#"{"seq":2,"merge":{"a":1 "b":2}}"#,
        r#"{"seq":2,"merge":{"a":1,}}"#,
        r#"{"seq":2,"merge":{"a":01}}"#,
        // The patch is fine; the rest of the update is not.
        r#"{"seq":2,"merge":{"a":1},"patch":[]}"#,
        r#"{"seq":2,"merge":{"a":1},"replace":{}}"#,
        r#"{"seq":2,"merge":{"a":1},"merge":{}}"#,
        r#"{"seq":2,"merge":{"a":1},"seq":3}"#,
        r#"{"seq":2,"merge":{"a":1},"x":[1,2}}"#,
        r#"{"seq":2,"merge":{"a":1},}"#,
        r#"{"seq":2,"merge":{"a":1}}}"#,
        r#"{"seq":2,"merge":{"b":{"c":2}}}}}"#,
        "{\"seq\":2,\"merge\":{\"b\":{\"c\":2} } }\n}",
        r#"{"seq":2,"merge":{"a":1}"x":1}"#,
        // Whole-value patches: nothing to merge key by key.
        r#"{"seq":2,"merge":5,"x":}"#,
        r#"{"seq":2,"merge":[1,2],"x":nul}"#,
        r#"{"seq":2,"merge":null,"seq":2}"#,
        r#"{"seq":2,"merge":{},"x":]}"#,
    ] {
        assert!(
            serde_json::from_str::<Update>(text).is_err(),
            "serde_json reads {text}"
        );
        assert!(
            matches!(
                limits.parse_update(text.as_bytes()),
                Err(Error::Malformed(_))
            ),
            "strict read of {text}"
        );
        // Numbered before its patch and ending in `}`: read lazily, so it
        // is the merge that finds the fault.
        let update = limits
            .parse_update_lazy(text)
            .unwrap_or_else(|error| panic!("lazy read of {text}: {error}"));
        assert!(
            format!("{:?}", update.patch).contains("MergeText"),
            "{text}: read as {:?}",
            update.patch
        );

        let mut document = Document::from(&state);
        let error = document.apply(&update.patch).unwrap_err();
        assert!(matches!(error, Error::Malformed(_)), "{text}: {error:?}");
        assert_unchanged(&document, &state, text);

        match outcome(Read::Lazy, &limits, text.as_bytes(), &state) {
            Outcome::RefusedApply(Error::Malformed(_), document) => {
                assert_unchanged(&document, &state, text);
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// After its last write a patch is mostly followed by closing braces only,
/// which are checked in one pass: with any whitespace between them, the
/// update applies; one too many or too few, and it fails and changes nothing
/// (`bad_text_after_a_write_fails_and_changes_nothing`,
/// `a_message_cut_short_after_a_brace_is_refused_when_applied`).
#[test]
fn closing_braces_with_whitespace_between_them_apply() {
    let limits = Limits::default();
    for text in [
        "{\"seq\":2,\"merge\":{\"b\":{\"c\":2} } }",
        "{\"seq\":2,\"merge\":{\"b\":{\"c\":2}\n}\r\n}\t",
        "{\"seq\":2,\"merge\":{\"b\":{\"c\":2}}}\n",
    ] {
        let mut expected = atomic_state();
        expected["b"]["c"] = json!(2);
        for read in [Read::Lazy, Read::Strict] {
            match outcome(read, &limits, text.as_bytes(), &atomic_state()) {
                Outcome::Applied(Some(2), document) => assert_eq!(document, expected, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}

/// `{"seq":2,"merge":{"a":1}`: a message cut short inside its patch, yet
/// ending in `}`, the one sign the lazy reader looks at. It is read, and
/// refused when applied (as `a_message_cut_short_never_applies` shows for
/// every cut): the lazy reader trades that for not reading the patch twice.
#[test]
fn a_message_cut_short_after_a_brace_is_refused_when_applied() {
    let limits = Limits::default();
    let state = atomic_state();
    for text in [
        r#"{"seq":2,"merge":{"a":1}"#,
        r#"{"seq":2,"merge":{"a":{"b":1}}"#,
        r#"{"seq":2,"merge":{"a":1},"sent":{}"#,
    ] {
        assert!(limits.parse_update(text.as_bytes()).is_err(), "{text}");
        match outcome(Read::Lazy, &limits, text.as_bytes(), &state) {
            Outcome::RefusedApply(Error::Malformed(_), document) => {
                assert_unchanged(&document, &state, text);
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// What the lazy reader promises for a message cut short, whether or not it
/// ends in `}`: never applied, and the document unchanged.
#[test]
fn a_message_cut_short_never_applies() {
    let state = atomic_state();
    let limits = Limits::default();
    let whole = r#"{"seq":2,"merge":{"a":1,"b":{"c":2}},"sent":{"at":[1]}}"#;
    assert!(limits.parse_update_lazy(whole).is_ok());
    for end in 0..whole.len() {
        let text = &whole[..end];
        match outcome(Read::Lazy, &limits, text.as_bytes(), &state) {
            Outcome::RefusedRead(error) => assert_refusal(&error, text),
            Outcome::RefusedApply(error, document) => {
                assert!(matches!(error, Error::Malformed(_)), "{text}: {error:?}");
                assert_unchanged(&document, &state, text);
            }
            Outcome::Applied(..) => panic!("{text}: applied"),
        }
        assert!(limits.parse_update(text.as_bytes()).is_err(), "{text}");
    }
    // The ones that do not end their object are refused at once.
    let text = r#"{"seq":2,"merge":{"a":1,"b":{"c":2"#;
    assert!(matches!(
        limits.parse_update_lazy(text),
        Err(Error::Malformed(_))
    ));
}

/// Where an object of the patch names a member twice, both apply, in order,
/// as two patches one after the other would: the one place where the text
/// means more than its `Value`, which keeps only the last.
#[test]
fn a_member_named_twice_applies_twice() {
    let state = json!({"a": {"x": 1}});
    let limits = Limits::default();
    for (patch, expected) in [
        (
            r#"{"a":{"y":2},"a":{"z":3}}"#,
            json!({"a": {"x": 1, "y": 2, "z": 3}}),
        ),
        (r#"{"a":null,"a":{"y":2}}"#, json!({"a": {"y": 2}})),
        (r#"{"a":{"x":null},"a":{"x":5}}"#, json!({"a": {"x": 5}})),
    ] {
        let text = format!(r#"{{"seq":1,"merge":{patch}}}"#);
        assert!(names_a_member_twice(text.as_bytes()));
        for read in [Read::Strict, Read::Lazy] {
            let update = read.update(&limits, text.as_bytes()).unwrap();
            // It does not do what its value (the last of each name) does, so
            // it does not equal it.
            let value: Value = serde_json::from_str(patch).unwrap();
            assert_ne!(update.patch, Patch::Merge(value.into()), "{read:?} {text}");
            assert_eq!(update.patch, update.patch.clone(), "{read:?} {text}");
            let mut document = Document::from(&state);
            document.apply(&update.patch).unwrap();
            assert_eq!(document, expected, "{read:?} {text}");
        }
    }
}

// ---------------------------------------------------------------- deep nesting

/// `{"seq":1,"merge":{"a":{"a":..{"a":1}..}}}`, the patch `depth` objects deep.
fn nested_update(depth: usize) -> String {
    format!(
        r#"{{"seq":1,"merge":{}1{}}}"#,
        r#"{"a":"#.repeat(depth),
        "}".repeat(depth)
    )
}

/// The value of [`nested_update`]'s patch, built without recursion.
fn nested_value(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, _| json!({ "a": inner }))
}

/// Past the reader's own bound, `serde_json` reads the patch: it accepts
/// what nests within its 128 levels (the envelope being one of them) and
/// refuses the rest, before anything is written.
#[test]
fn deep_patches_are_left_to_serde_json() {
    let limits = Limits::default().max_depth(200);
    let states = [
        ("empty", json!({})),
        ("shallow", json!({"a": 5, "b": true})),
        // Already as deep, so the merge walks existing objects.
        ("deep", nested_value(125, json!(0))),
    ];
    let accepted = nested_update(125);
    let expected_patch = nested_value(125, json!(1));
    for (name, state) in &states {
        let mut expected = state.clone();
        merge(&mut expected, &expected_patch);
        for read in [Read::Strict, Read::Lazy] {
            let update = read.update(&limits, accepted.as_bytes()).unwrap();
            let mut document = Document::from(state);
            document.apply(&update.patch).unwrap();
            assert_eq!(
                document, expected,
                "{read:?}, 125 deep into the {name} state"
            );
        }
    }

    let refused = nested_update(130);
    assert!(serde_json::from_str::<Update>(&refused).is_err());
    assert!(matches!(
        limits.parse_update(refused.as_bytes()),
        Err(Error::Malformed(_))
    ));
    for (name, state) in &states {
        match outcome(Read::Lazy, &limits, refused.as_bytes(), state) {
            Outcome::RefusedApply(Error::Malformed(_), document) => {
                assert_unchanged(&document, state, name);
            }
            other => panic!("130 deep into the {name} state: {other:?}"),
        }
    }
}

/// The depth bound is the whole message's, whichever reader: brackets in
/// strings do not count (however many there are), brackets of the patch
/// and of the members after it do; and a message too deep is `TooDeep`
/// when it is read, never read lazily.
#[test]
fn the_depth_bound_counts_nesting_not_brackets() {
    let limits = Limits::default().max_depth(4);
    let brackets = "[{".repeat(40);
    let state = json!({"a": 0});
    let within = [
        format!(r#"{{"seq":1,"merge":{{"a":"{brackets}"}}}}"#),
        format!(r#"{{"seq":1,"merge":{{"a":{{"b":{{"c":[1]}}}}}},"note":"{brackets}"}}"#),
        r#"{"seq":1,"merge":{"a":1},"after":[[[{}]]]}"#.to_owned(),
    ];
    for text in &within {
        for read in [Read::Strict, Read::Lazy] {
            let update = read.update(&limits, text.as_bytes());
            let update = update.unwrap_or_else(|error| panic!("{read:?} {text}: {error}"));
            Document::from(&state).apply(&update.patch).unwrap();
        }
    }
    let too_deep = [
        r#"{"seq":1,"merge":{"a":{"b":{"c":[{}]}}}}"#.to_owned(),
        format!(r#"{{"seq":1,"merge":{{"a":"{brackets}"}},"after":[[[[{{}}]]]]}}"#),
        format!(r#"{{"seq":1,"merge":{{"a":{{"b":{{"c":[[1]]}}}}}},"note":"{brackets}"}}"#),
    ];
    for text in &too_deep {
        for read in [Read::Strict, Read::Lazy] {
            let refused = read.update(&limits, text.as_bytes());
            assert!(
                matches!(refused, Err(Error::TooDeep { max: 4 })),
                "{read:?} {text}: {refused:?}"
            );
        }
    }
}

// ---------------------------------------------------------------- numbers

/// Numbers at the edges of each kind `serde_json` reads them as.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.0",
    "-0.0",
    "-0e5",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "-18446744073709551616",
    "10000000000000000000",
    "99999999999999999999",
    "9007199254740992",
    "9007199254740993",
    "9007199254740993.0",
    "90071992547409930e-1",
    "9007199254740992e22",
    "1.5",
    "0.1",
    "0.30000000000000004",
    "3.141592653589793238462643383279502884197",
    "1.00000000000000011102230246251565404236316680908203125",
    "123456789.123456789e-5",
    "0.000000000000000000000000000001",
    "12345678901234567890.5",
    // `serde_json` without `float_roundtrip` reads this one two units off.
    "2.8647783088611826e91",
    "1e0",
    "1E+2",
    "1e-2",
    "-2e-3",
    "1e22",
    "1e23",
    "1e308",
    "1.7976931348623157e308",
    "2.2250738585072014e-308",
    "5e-324",
    "1e-400",
    "0e999999999999",
    "123456789012345678901234567890",
];

/// A `{"seq":1,"merge":..}` writing `token` every way a merge writes a
/// number: over a number, over a string, as a new member, in a new object,
/// in an existing object, in an array.
fn number_update(token: &str) -> String {
    format!(
        r#"{{"seq":1,"merge":{{"n":{token},"s":{token},"new":{token},"fresh":{{"x":{token}}},"o":{{"x":{token}}},"l":[{token}]}}}}"#
    )
}

const NUMBER_PLACES: [&str; 6] = ["/n", "/s", "/new", "/fresh/x", "/o/x", "/l/0"];

fn number_state() -> Value {
    json!({"n": 7, "s": "text", "o": {"x": -1.5, "y": 2}})
}

/// Which kind a number is: what `serde_json` keeps it as.
fn kind(number: &Number) -> &'static str {
    match (number.is_u64(), number.is_i64(), number.is_f64()) {
        (true, _, _) => "u64",
        (_, true, _) => "i64",
        _ => "f64",
    }
}

#[test]
fn numbers_keep_serde_jsons_kind_and_read_correctly_rounded() {
    let limits = Limits::default();
    let long = format!("1{}", "0".repeat(305));
    let tokens = NUMBERS.iter().copied().chain([long.as_str()]);
    for token in tokens {
        let by_serde: Number = serde_json::from_str(token).unwrap();
        let rounded: f64 = token.parse().unwrap();
        for (text, places) in [
            (number_update(token), &NUMBER_PLACES[..]),
            // The whole patch a number: it replaces the document.
            (format!(r#"{{"seq":1,"merge":{token}}}"#), &[""][..]),
        ] {
            for read in [Read::Strict, Read::Lazy] {
                let update = read.update(&limits, text.as_bytes()).unwrap();
                let mut document = Document::from(number_state());
                document.apply(&update.patch).unwrap();
                for &place in places {
                    let Some(Document::Number(number)) = document.pointer(place) else {
                        panic!("{read:?} {token}: {place} is {:?}", document.pointer(place))
                    };
                    let context = format!("{read:?} {token} at {place:?}");
                    assert_eq!(kind(number), kind(&by_serde), "{context}");
                    match number.as_f64() {
                        Some(float) if number.is_f64() => {
                            assert_eq!(float.to_bits(), rounded.to_bits(), "{context}: {float}");
                        }
                        _ => assert_eq!(number, &by_serde, "{context}"),
                    }
                }
            }
        }
    }
}

/// The same number in the same patch, once where the reader reads it and
/// once where it gives the text to `serde_json` (here for an escaped key in
/// the envelope after the patch): both round it correctly (`serde_json`
/// with its `float_roundtrip` feature, which the crate turns on; without
/// it, `2.8647783088611826e91` was read two units off).
#[test]
fn numbers_the_reader_leaves_to_serde_json_round_as_the_reader_does() {
    let limits = Limits::default();
    let token = "2.8647783088611826e91";
    let rounded: f64 = token.parse().unwrap();
    let by_serde_json: f64 = serde_json::from_str(token).unwrap();
    assert_eq!(by_serde_json.to_bits(), rounded.to_bits());
    for text in [
        format!(r#"{{"seq":1,"merge":{{"n":{token}}}}}"#),
        format!(r#"{{"seq":1,"merge":{{"n":{token}}},"t\u0079pe":"update"}}"#),
    ] {
        for read in [Read::Strict, Read::Lazy] {
            let update = read.update(&limits, text.as_bytes()).unwrap();
            let mut document = Document::from(json!({}));
            document.apply(&update.patch).unwrap();
            let n = document["n"].as_f64().map(f64::to_bits);
            assert_eq!(n, Some(rounded.to_bits()), "{read:?} {text}");
        }
    }
}

#[test]
fn numbers_serde_json_refuses_fail_and_change_nothing() {
    let limits = Limits::default();
    let state = number_state();
    let long = format!("1{}", "0".repeat(309));
    let tokens = [
        "1e400", "-1e400", "01", "-01", "1.", ".5", "-", "1e", "1e+", "+1", "1.e3", "--1", "0x10",
        "NaN", "Infinity", &long,
    ];
    for token in tokens {
        let text = number_update(token);
        assert!(serde_json::from_str::<Update>(&text).is_err(), "{token}");
        agrees_with_serde_json(text.as_bytes(), &state);
        match outcome(Read::Lazy, &limits, text.as_bytes(), &state) {
            Outcome::RefusedApply(Error::Malformed(_), document) => {
                assert_unchanged(&document, &state, token);
            }
            other => panic!("{token}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- strings

/// JSON text for `text`, each character written raw or escaped as `picks`
/// says (cycling): raw where JSON allows it, as `\uXXXX` (a surrogate pair
/// past the first plane), or by its short escape.
fn escaped(text: &str, picks: &[u8]) -> String {
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        let pick = picks.get(i % picks.len().max(1)).copied().unwrap_or(0) % 3;
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let must_escape = c < ' ' || c == '"' || c == '\\';
        match (pick, short) {
            (0, _) if !must_escape => out.push(c),
            (1, Some(short)) => out.push_str(short),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// Strings of anything: non-ASCII, the characters JSON escapes, controls.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,6}",
        "[\"\\\\/\u{0}-\u{1f}a\u{e9}\u{1f600}\u{ffff}]{0,6}",
        "[a-c\u{e9}\u{65e5}]{1,3}",
    ]
}

#[test]
fn escaped_and_non_ascii_strings_merge_as_their_values() {
    let state = json!({
        "é": "old", "日本": {"ключ": 1, "x": "y"}, "a\"b": [1], "tab\there": "t",
        "😀": "gone", "plain": "ascii"
    });
    let patch = json!({
        "é": "new\u{0}value\n", "日本": {"ключ": "значение", "new\\": "\u{1f600}"},
        "a\"b": "q\"u/o\\te", "tab\there": {"x": "\u{7f}\u{80}\u{ffff}"}, "😀": null,
        "plain": "\u{2028}\u{2029}"
    });
    let mut expected = state.clone();
    merge(&mut expected, &patch);
    let limits = Limits::default();
    for picks in [&[0u8][..], &[1], &[2], &[0, 1, 2], &[2, 0]] {
        // Keys and values escaped alike; objects written by hand so that
        // every key is escaped `picks`' way too.
        fn write(value: &Value, picks: &[u8]) -> String {
            match value {
                Value::String(text) => escaped(text, picks),
                Value::Object(members) => {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(key, value)| {
                            format!("{}:{}", escaped(key, picks), write(value, picks))
                        })
                        .collect();
                    format!("{{{}}}", members.join(","))
                }
                other => other.to_string(),
            }
        }
        let text = format!(r#"{{"seq":1,"merge":{}}}"#, write(&patch, picks));
        assert_eq!(
            serde_json::from_str::<Update>(&text).unwrap(),
            Update::merge(1, patch.clone())
        );
        for read in [Read::Strict, Read::Lazy] {
            match outcome(read, &limits, text.as_bytes(), &state) {
                Outcome::Applied(Some(1), document) => {
                    assert_eq!(document, expected, "{read:?} {text}");
                }
                other => panic!("{read:?} {text}: {other:?}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Keys and values written with any mix of escapes find and write what
    /// their unescaped text names: an existing member is updated or
    /// deleted, not joined by a second one.
    #[test]
    fn escaped_keys_and_values_merge_as_their_values(
        members in prop::collection::vec(
            (any_text(), prop::option::of(any_text()), prop::option::of(any_text())),
            1..6,
        ),
        picks in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let mut state = serde_json::Map::new();
        let mut patch = serde_json::Map::new();
        let mut seen = HashSet::new();
        let mut text = String::from(r#"{"seq":1,"merge":{"#);
        for (key, before, after) in members {
            if !seen.insert(key.clone()) {
                continue;
            }
            if let Some(before) = before {
                state.insert(key.clone(), Value::String(before));
            }
            if seen.len() > 1 {
                text.push(',');
            }
            text.push_str(&escaped(&key, &picks));
            text.push(':');
            match &after {
                Some(after) => text.push_str(&escaped(after, &picks)),
                None => text.push_str("null"),
            }
            patch.insert(key, after.map_or(Value::Null, Value::String));
        }
        text.push_str("}}");
        let (state, patch) = (Value::Object(state), Value::Object(patch));
        let mut expected = state.clone();
        merge(&mut expected, &patch);
        for read in [Read::Strict, Read::Lazy] {
            match outcome(read, &Limits::default(), text.as_bytes(), &state) {
                Outcome::Applied(Some(1), document) => {
                    prop_assert_eq!(&document, &expected, "{:?} {}", read, text);
                }
                other => prop_assert!(false, "{:?} {}: {:?}", read, text, other),
            }
        }
    }
}

/// A relay may hand a hub what it read lazily: a patch that is not JSON is
/// an error of the publish, not a panic, and the topic is unchanged.
#[test]
fn a_hub_refuses_a_patch_text_that_is_not_json() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"a": 1})).unwrap();
    let before = hub.snapshot("t").unwrap();
    let limits = Limits::default();
    let bad = limits
        .parse_update_lazy(r#"{"seq":9,"merge":{"a":}}"#)
        .unwrap();
    let published = hub.publish("t", bad.patch);
    assert!(
        matches!(published, Err(Error::Malformed(_))),
        "{published:?}"
    );
    assert_eq!(hub.snapshot("t").unwrap(), before);

    let good = limits
        .parse_update_lazy(r#"{"seq":9,"merge":{"b":2}}"#)
        .unwrap();
    assert_eq!(
        hub.publish("t", good.patch).unwrap(),
        before.version.unwrap() + 1
    );
    assert_eq!(hub.snapshot("t").unwrap().data, json!({"a": 1, "b": 2}));
}

/// An update that names its type or topic twice cannot say which it is:
/// refused when read, or (after the patch, read lazily) when applied.
#[test]
fn an_update_that_names_its_type_or_topic_twice_is_refused() {
    let limits = Limits::default();
    let state = atomic_state();
    for text in [
        r#"{"type":"update","topic":"a","topic":"b","seq":1,"merge":{"a":5}}"#,
        r#"{"type":"update","type":"snapshot","topic":"a","seq":1,"merge":{"a":5}}"#,
        r#"{"type":"update","topic":"a","seq":1,"merge":{"a":5},"topic":"b"}"#,
        r#"{"topic":"a","seq":1,"merge":{"a":5},"type":"update","type":"update"}"#,
    ] {
        let strict = limits.parse_update(text.as_bytes());
        assert!(
            matches!(strict, Err(Error::Malformed(_))),
            "{text}: {strict:?}"
        );
        match outcome(Read::Lazy, &limits, text.as_bytes(), &state) {
            Outcome::RefusedRead(error) => assert_refusal(&error, text),
            Outcome::RefusedApply(Error::Malformed(_), document) => {
                assert_unchanged(&document, &state, text);
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// Only numbered updates are read lazily: an unnumbered one (legacy mode,
/// where nothing else would catch a lost update) is checked whole at once.
#[test]
fn unnumbered_updates_are_read_whole_even_lazily() {
    let limits = Limits::default();
    for text in [
        r#"{"seq":null,"merge":{"a":}}"#,
        r#"{"merge":{"a":}}"#,
        r#"{"merge":{"a":1},"seq":null,"x":}"#,
    ] {
        let read = limits.parse_update_lazy(text);
        assert!(matches!(read, Err(Error::Malformed(_))), "{text}: {read:?}");
    }
}

// ---------------------------------------------------------------- recorded patches

/// The shapes a merge walks differently, read strictly (the check records
/// the patch, and the merge walks the record): each as `serde_json` and
/// `patch::merge` do it.
#[test]
fn recorded_patches_merge_as_serde_json_does_in_every_shape() {
    let state = json!({
        "n": 1, "s": "text", "o": {"x": 1, "y": {"z": 2}}, "l": [1, 2], "t": true, "z": null
    });
    for patch in [
        r#"{}"#,
        r#"{"o":{}}"#,
        r#"{"n":{}}"#,
        r#"{"n":{"a":null,"b":{"c":null,"d":1}}}"#,
        r#"{"new":{"a":null,"b":[null,{"c":null}],"d":{}}}"#,
        r#"{"o":{"y":null,"x":{"deeper":{"still":[1,{"a":null}]}}}}"#,
        r#"{"l":[{"a":null},null,"x",1.5,-0,true],"s":["a"],"o":[]}"#,
        r#"{"s":"new text","n":"now a string","t":false,"z":0}"#,
        r#"{"o":null,"n":null,"missing":null}"#,
        r#"{"o":{"x":2},"o":{"y":3}}"#,
        r#" { "o" : { "x" : [ 1 , 2 ] } , "s" : "spaced" } "#,
        r#""a whole string""#,
        "null",
        "[1,{\"a\":null}]",
        "7",
        "-0.5",
        "false",
    ] {
        let text = format!(r#"{{"seq":1,"merge":{patch}}}"#);
        agrees_with_serde_json(text.as_bytes(), &state);
        // And over states of every kind, not only an object.
        for state in [json!(null), json!(3), json!("s"), json!([1]), json!({})] {
            agrees_with_serde_json(text.as_bytes(), &state);
        }
    }
}

/// A patch past the length the reader records (16 KB) is checked whole when
/// it is read and merged from its text: the same merge, and the same
/// refusal of a malformed one, before anything is applied.
#[test]
fn a_patch_too_long_to_record_is_checked_whole_and_merged_from_its_text() {
    let members: Vec<String> = (0..2000)
        .map(|i| format!(r#""k{i:04}":{{"v":{i}.5,"s":"é{i}","n":null}}"#))
        .collect();
    let patch = format!("{{{}}}", members.join(","));
    assert!(patch.len() > 16 << 10);
    let state = json!({"k0001": {"v": 0, "n": 1, "keep": true}, "other": [1]});
    let text = format!(r#"{{"seq":9,"merge":{patch}}}"#);
    agrees_with_serde_json(text.as_bytes(), &state);
    let update = Limits::default().parse_update(text.as_bytes()).unwrap();
    let mut document = Document::from(&state);
    document.apply_owned(update.patch).unwrap();
    assert_eq!(
        document.pointer("/k0001"),
        Some(&Document::from(json!({"v": 1.5, "s": "é1", "keep": true})))
    );
    assert_eq!(
        document.pointer("/k1999/v"),
        Some(&Document::from(json!(1999.5)))
    );

    // Malformed far into it: refused when read, with nothing applied.
    let bad = text.replacen(r#""k1500":{"#, r#""k1500":{,"#, 1);
    assert!(matches!(
        Limits::default().parse_update(bad.as_bytes()),
        Err(Error::Malformed(_))
    ));
    agrees_with_serde_json(bad.as_bytes(), &state);
}

/// Updates read on one thread and merged on another (a reader task handing
/// them to a consumer): the buffers each thread keeps from the updates it
/// dropped serve the next ones it reads, whichever thread made them.
#[test]
fn updates_read_on_one_thread_merge_on_another() {
    let texts: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"seq":{i},"merge":{{"SYM{s:02}":{{"price":{i}.25,"note":"n{i}","ts":17180000{i:08}}}}}}}"#,
                s = i % 7
            )
        })
        .collect();
    let mut expected = json!({});
    for text in &texts {
        let message: Value = serde_json::from_str(text).unwrap();
        merge(&mut expected, &message["merge"]);
    }
    let (sender, receiver) = std::sync::mpsc::channel::<Update>();
    let reader = {
        let texts = texts.clone();
        std::thread::spawn(move || {
            for text in &texts {
                sender
                    .send(Update::from_slice(text.as_bytes()).unwrap())
                    .unwrap();
                // Read and dropped here too: this thread keeps buffers of
                // its own while the other keeps the ones it is sent.
                drop(Update::from_slice(text.as_bytes()).unwrap());
            }
        })
    };
    let mut document = Document::from(json!({}));
    let mut here = Document::from(json!({}));
    for (update, text) in receiver.iter().zip(&texts) {
        document
            .apply_owned(update.patch)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        // Read on this thread with the buffers the other thread's updates
        // left here.
        here.apply_owned(Update::from_slice(text.as_bytes()).unwrap().patch)
            .unwrap();
    }
    reader.join().unwrap();
    assert_eq!(document, expected);
    assert_eq!(here, expected);
}
