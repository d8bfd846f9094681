//! `Document`, the state a live resource keeps: for any JSON, it merges,
//! patches, decodes, serializes and compares exactly as `serde_json::Value`
//! does with our `patch::merge` and the `json-patch` crate, and a patch that
//! fails leaves it as it was.

use std::collections::{BTreeMap, HashMap};

use live_resource::patch::{ApplyError, merge, merge_owned};
use live_resource::{Document, Error, Patch};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::arbitrary::{json_value, key, pair};

/// Every JSON Pointer that names a value in `value`, the root (`""`) included.
fn pointers(value: &Value) -> Vec<String> {
    let mut found = vec![String::new()];
    let mut pending = vec![(String::new(), value)];
    while let Some((at, value)) = pending.pop() {
        let children: Vec<(String, &Value)> = match value {
            Value::Object(map) => map.iter().map(|(k, v)| (escape(k), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (token, child) in children {
            let pointer = format!("{at}/{token}");
            found.push(pointer.clone());
            pending.push((pointer, child));
        }
    }
    found
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A path for an operation on `doc`: one that is there, a new member or item
/// under one that is there (`-` included), or one that leads nowhere.
fn path(doc: &Value) -> BoxedStrategy<String> {
    let there = prop::sample::select(pointers(doc));
    prop_oneof![
        4 => there.clone(),
        2 => (there.clone(), key()).prop_map(|(at, key)| format!("{at}/{}", escape(&key))),
        1 => there.clone().prop_map(|at| format!("{at}/-")),
        1 => (there, prop_oneof![Just("0"), Just("1"), Just("01"), Just("9")])
            .prop_map(|(at, index)| format!("{at}/{index}")),
        1 => Just("/missing/deeper".to_owned()),
    ]
    .boxed()
}

/// One RFC 6902 operation against `doc`, as JSON.
fn operation(doc: &Value) -> BoxedStrategy<Value> {
    let doc_for_test = doc.clone();
    prop_oneof![
        (path(doc), json_value())
            .prop_map(|(path, value)| json!({"op": "add", "path": path, "value": value})),
        path(doc).prop_map(|path| json!({"op": "remove", "path": path})),
        (path(doc), json_value())
            .prop_map(|(path, value)| json!({"op": "replace", "path": path, "value": value})),
        (path(doc), path(doc))
            .prop_map(|(from, path)| json!({"op": "move", "from": from, "path": path})),
        (path(doc), path(doc))
            .prop_map(|(from, path)| json!({"op": "copy", "from": from, "path": path})),
        path(doc).prop_map(move |path| {
            // Mostly a test that passes, so that later operations run.
            let value = doc_for_test.pointer(&path).cloned().unwrap_or(Value::Null);
            json!({"op": "test", "path": path, "value": value})
        }),
        (path(doc), json_value())
            .prop_map(|(path, value)| json!({"op": "test", "path": path, "value": value})),
    ]
    .boxed()
}

/// A document and one to five operations on it.
fn doc_and_ops() -> impl Strategy<Value = (Value, json_patch::Patch)> {
    json_value().prop_flat_map(|doc| {
        let ops = prop::collection::vec(operation(&doc), 1..6)
            .prop_map(|ops| serde_json::from_value(Value::Array(ops)).expect("valid operations"));
        (Just(doc), ops)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn merge_is_rfc_7396_as_on_a_value((target, patch) in pair()) {
        let mut expected = target.clone();
        merge(&mut expected, &patch);

        let mut document = Document::from(&target);
        document.merge(&patch);
        prop_assert_eq!(&document, &expected);

        let mut owned = Document::from(&target);
        owned.merge_owned(patch.clone());
        prop_assert_eq!(&owned, &expected);

        let mut value_owned = target;
        merge_owned(&mut value_owned, patch);
        prop_assert_eq!(&owned, &value_owned);
    }

    #[test]
    fn json_patch_does_what_the_json_patch_crate_does((doc, ops) in doc_and_ops()) {
        let mut document = Document::from(&doc);
        let result = document.apply(&Patch::Json(ops.clone()));
        let mut value = doc.clone();
        let on_value = Patch::Json(ops.clone()).apply(&mut value);
        match (&result, &on_value) {
            (Ok(()), Ok(())) => prop_assert_eq!(&document, &value),
            (Err(Error::Apply(a)), Err(Error::Apply(b))) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(&document, &doc, "a failed patch is undone");
                prop_assert_eq!(
                    document.to_string(),
                    Document::from(&doc).to_string(),
                    "members back in their places"
                );
                prop_assert_eq!(&value, &doc, "a failed patch is undone");
            }
            _ => prop_assert!(false, "Document gave {:?}, Value gave {:?}", result, on_value),
        }

        // The crate's own undo panics after a move to the root (see
        // `a_move_to_the_root_then_a_failure_is_undone`); elsewhere it agrees.
        let mut theirs = doc.clone();
        let reference = std::panic::catch_unwind(move || {
            json_patch::patch(&mut theirs, &ops).map(|()| theirs)
        });
        match (reference, result) {
            (Err(_panicked), _) => {}
            (Ok(Ok(theirs)), Ok(())) => prop_assert_eq!(&document, &theirs),
            (Ok(Err(expected)), Err(Error::Apply(error))) => {
                prop_assert_eq!(error, ApplyError::from(expected));
            }
            (Ok(expected), result) => prop_assert!(
                false, "json-patch gave {:?}, Document gave {:?}", expected, result
            ),
        }
    }

    #[test]
    fn a_document_is_the_value_it_was_made_from((a, b) in pair()) {
        let document = Document::from(&a);
        prop_assert_eq!(&document, &a);
        prop_assert_eq!(document == b, a == b);
        let other = Document::from(b.clone());
        prop_assert_eq!(document == other, a == b);
        prop_assert_eq!(document.to_value(), a.clone());
        prop_assert_eq!(Value::from(document.clone()), a.clone());
        prop_assert_eq!(Document::from(a.clone()), document);
    }

    #[test]
    fn text_in_and_out_is_the_same_as_a_values(value in json_value()) {
        let text = serde_json::to_string(&value).unwrap();
        let document: Document = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&document, &value);
        // A document keeps the order members came in, and a `Value`'s are sorted.
        prop_assert_eq!(serde_json::to_string(&document).unwrap(), text.clone());
        prop_assert_eq!(document.to_string(), text);
    }

    #[test]
    fn decoding_gives_what_decoding_the_value_gives(value in json_value()) {
        let document = Document::from(&value);
        prop_assert_eq!(Value::deserialize(&document).unwrap(), value.clone());
        prop_assert_eq!(
            Option::<Vec<Value>>::deserialize(&document).ok(),
            Option::<Vec<Value>>::deserialize(&value).ok()
        );
        prop_assert_eq!(
            BTreeMap::<String, Value>::deserialize(&document).ok(),
            BTreeMap::<String, Value>::deserialize(&value).ok()
        );
        prop_assert_eq!(
            <(Value, Value)>::deserialize(&document).ok(),
            <(Value, Value)>::deserialize(&value).ok()
        );
    }

    #[test]
    fn pointers_find_what_value_pointers_find(value in json_value()) {
        let document = Document::from(&value);
        for pointer in pointers(&value).into_iter().chain(["/nope".to_owned(), "x".to_owned()]) {
            prop_assert_eq!(document.pointer(&pointer).map(Document::to_value), value.pointer(&pointer).cloned());
        }
    }
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Side {
    Buy,
    Sell,
}

#[derive(Debug, Deserialize, PartialEq)]
enum Order {
    Limit { price: f64, side: Side },
    Market(Side),
    Cancel,
    Pair(u32, u32),
}

#[derive(Debug, Deserialize, PartialEq)]
struct Book<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    orders: Vec<Order>,
    by_id: HashMap<u32, String>,
    flags: BTreeMap<bool, u8>,
    note: Option<String>,
    point: (i64, f64),
    #[serde(default)]
    absent: Vec<u8>,
}

#[test]
fn typed_decoding_covers_what_serde_json_does() {
    let value = json!({
        "symbol": "AAPL",
        "orders": [
            {"Limit": {"price": 189.5, "side": "buy"}},
            {"Market": "sell"},
            "Cancel",
            {"Pair": [1, 2]}
        ],
        "by_id": {"7": "seven", "12": "twelve"},
        "flags": {"true": 1, "false": 0},
        "note": null,
        "point": [-3, 0.5],
        "ignored": {"deep": [1, 2, 3]}
    });
    let document = Document::from(&value);
    let book = Book::deserialize(&document).unwrap();
    assert_eq!(book, Book::deserialize(&value).unwrap());
    assert_eq!(book.symbol, "AAPL", "borrowed straight from the document");
    assert_eq!(book.by_id[&12], "twelve");
    assert_eq!(book.flags[&true], 1);
}

#[test]
fn typed_decoding_fails_where_serde_json_fails() {
    let cases = [
        json!({"symbol": 5, "orders": [], "by_id": {}, "flags": {}, "note": null, "point": [0, 0]}),
        json!({"symbol": "A", "orders": [{"Limit": {"price": 1}}], "by_id": {}, "flags": {}, "note": null, "point": [0, 0]}),
        json!({"symbol": "A", "orders": [], "by_id": {"x": "1"}, "flags": {}, "note": null, "point": [0, 0]}),
        json!({"symbol": "A", "orders": [], "by_id": {}, "flags": {}, "note": null, "point": [0, 0, 0]}),
        json!({"symbol": "A", "orders": [{"Cancel": 1, "Market": "buy"}], "by_id": {}, "flags": {}, "note": null, "point": [0, 0]}),
        json!({"symbol": "A", "orders": [{"Nope": null}], "by_id": {}, "flags": {}, "note": null, "point": [0, 0]}),
        json!([1, 2]),
    ];
    for value in cases {
        let from_value = Book::deserialize(&value).map_err(|err| err.to_string());
        let document = Document::from(&value);
        let from_document = Book::deserialize(&document).map_err(|err| err.to_string());
        assert!(from_value.is_err(), "{value}");
        // The messages may differ (ours names the key that is not a number).
        assert!(from_document.is_err(), "{value}: {from_document:?}");
    }
}

#[test]
fn decoding_refuses_what_decoding_a_value_refuses() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Shape {
        Point { x: i32, y: i32 },
    }
    #[derive(Debug, Deserialize)]
    #[serde(field_identifier)]
    #[allow(dead_code)]
    enum Field {
        Name,
    }
    let refused = |value: Value, decode: &dyn Fn(&Document) -> bool| {
        let document = Document::from(&value);
        assert!(!decode(&document), "{value} decoded from a Document");
    };
    // Each of these also fails from a `serde_json::Value`.
    refused(json!({"Point": [1, 2]}), &|doc| {
        Shape::deserialize(doc).is_ok()
    });
    for key in ["+1", "01", "NaN", "inf", " 1", "1 ", "1x", ""] {
        refused(json!({key: 1}), &|doc| {
            HashMap::<i64, u8>::deserialize(doc).is_ok()
        });
        assert!(
            HashMap::<i64, u8>::deserialize(&json!({key: 1})).is_err(),
            "{key}"
        );
    }
    refused(json!(0), &|doc| Field::deserialize(doc).is_ok());
    refused(json!("5"), &|doc| u8::deserialize(doc).is_ok());
    refused(json!(5), &|doc| String::deserialize(doc).is_ok());
    refused(json!(1), &|doc| bool::deserialize(doc).is_ok());
    refused(json!({"a": 1}), &|doc| Vec::<u8>::deserialize(doc).is_ok());
    refused(json!([1]), &|doc| {
        HashMap::<String, u8>::deserialize(doc).is_ok()
    });

    // And what a `Value` accepts, a Document does.
    let keys = Document::from(json!({"-3": 1, "1.5": 2, "7": 3}));
    assert_eq!(HashMap::<String, u8>::deserialize(&keys).unwrap().len(), 3);
    assert_eq!(
        HashMap::<i8, u8>::deserialize(&Document::from(json!({"-3": 1}))).unwrap()[&-3],
        1
    );
    assert_eq!(
        BTreeMap::<u64, u8>::deserialize(&Document::from(json!({"7": 3}))).unwrap()[&7],
        3
    );
}

#[test]
fn raw_values_decode_from_a_document() {
    #[derive(Deserialize)]
    struct Envelope {
        kind: String,
        body: Box<serde_json::value::RawValue>,
    }
    let document = Document::from(json!({"kind": "quote", "body": {"price": 1.5, "tags": ["a"]}}));
    let envelope = Envelope::deserialize(&document).unwrap();
    assert_eq!(envelope.kind, "quote");
    let body: Value = serde_json::from_str(envelope.body.get()).unwrap();
    assert_eq!(body, json!({"price": 1.5, "tags": ["a"]}));
}

#[test]
fn numbers_passed_as_serde_jsons_arbitrary_precision_maps_are_numbers() {
    // What serde_json hands a visitor for a number when a crate in the build
    // turns its `arbitrary_precision` feature on.
    let text = r#"{"price": {"$serde_json::private::Number": "1.5"}}"#;
    let document: Document = serde_json::from_str(text).unwrap();
    assert_eq!(document, json!({"price": 1.5}));
}

#[test]
fn a_document_compares_with_plain_values() {
    let document = Document::from(json!({"n": 2, "x": 1.5, "s": "on", "b": true}));
    assert!(document["n"] == 2 && document["n"] == 2u64 && document["n"] == 2i64);
    assert!(document["x"] == 1.5 && document["s"] == "on" && document["b"] == true);
    let (on, key) = ("on".to_owned(), "n".to_owned());
    assert!(document["s"] == on && document["missing"] != 0);
    assert_eq!(document[&key], 2);
    assert!(document.is_object() && document["s"].is_string() && document["n"].is_number());
}

#[test]
fn documents_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Document>();
    send_sync::<live_resource::document::Map>();
}

#[test]
fn a_failed_json_patch_puts_members_back_in_their_places() {
    let doc = json!({"a": 1, "b": 2, "c": 3, "d": {"e": 4}});
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "remove", "path": "/a"},
        {"op": "move", "from": "/b", "path": "/d/b"},
        {"op": "add", "path": "/z", "value": 0},
        {"op": "test", "path": "/zz", "value": 0},
    ]))
    .unwrap();
    let mut document = Document::from(&doc);
    let before = document.to_string();
    document.apply(&Patch::Json(ops)).unwrap_err();
    assert_eq!(document.to_string(), before);
}

#[test]
fn a_failed_json_patch_is_undone_whatever_it_did_before() {
    let doc = json!({"list": [1, 2, 3], "a": {"b": 1}, "keep": "me"});
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/list/1", "value": 9},
        {"op": "remove", "path": "/list/0"},
        {"op": "move", "from": "/a/b", "path": "/list/-"},
        {"op": "copy", "from": "/keep", "path": "/a/copy"},
        {"op": "replace", "path": "", "value": {"all": "gone"}},
        {"op": "add", "path": "/x", "value": 1},
        {"op": "test", "path": "/all", "value": "not this"},
    ]))
    .unwrap();
    let mut document = Document::from(&doc);
    let Err(Error::Apply(error)) = document.apply(&Patch::Json(ops)) else {
        panic!("the test must fail");
    };
    assert_eq!(error.operation(), 6);
    assert_eq!(document, doc);
}

#[test]
fn a_move_to_the_root_then_a_failure_is_undone() {
    let doc = json!({"a": {"b": 1}});
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "move", "from": "/a", "path": ""},
        {"op": "test", "path": "/b", "value": 2},
    ]))
    .unwrap();
    let mut value = doc.clone();
    let error = Patch::Json(ops.clone()).apply(&mut value).unwrap_err();
    assert!(matches!(error, Error::Apply(_)), "{error}");
    assert_eq!(value, doc);
    let mut document = Document::from(&doc);
    document.apply(&Patch::Json(ops)).unwrap_err();
    assert_eq!(document, doc);
}

#[test]
fn json_patch_limits_hold_on_a_replica_too() {
    use futures::{StreamExt, stream};
    use live_resource::{Limits, LiveResource, Snapshot, Update};

    // Twelve copies of a 100-byte value would write 1.2 KB: past the limit.
    let snapshot = Snapshot::new(1, json!({"big": "x".repeat(100)}));
    let copies: Vec<Value> = (0..12)
        .map(|i| json!({"op": "copy", "from": "/big", "path": format!("/c{i}")}))
        .collect();
    let update = Update {
        seq: Some(2),
        patch: Patch::Json(serde_json::from_value(Value::Array(copies)).unwrap()),
    };
    let limits = Limits::default().max_message_bytes(1024);
    let mut resource = LiveResource::<Value>::new(
        async move { Ok::<_, std::io::Error>(snapshot) },
        stream::iter([Ok::<_, std::io::Error>(update)]),
    )
    .limits(limits)
    .every_state();
    let items: Vec<_> = futures::executor::block_on(async {
        let mut items = Vec::new();
        while let Some(item) = resource.next().await {
            items.push(item);
        }
        items
    });
    assert!(
        matches!(items.last(), Some(Err(Error::TooLarge { .. }))),
        "{items:?}"
    );
    assert_eq!(
        resource.json().map(Document::to_value),
        Some(json!({"big": "x".repeat(100)}))
    );
}

#[test]
fn removing_a_member_keeps_the_others_and_their_lookups() {
    // Past the size at which objects are searched by hash.
    let mut document = Document::from(&Value::Object(
        (0..100).map(|i| (format!("k{i}"), json!(i))).collect(),
    ));
    for i in (0..100).step_by(3) {
        document.merge(&json!({format!("k{i}"): null}));
    }
    for i in 0..100 {
        let expected = if i % 3 == 0 { Value::Null } else { json!(i) };
        assert_eq!(document[format!("k{i}").as_str()], expected, "k{i}");
    }
    assert_eq!(document.as_object().unwrap().len(), 66);
}

/// A merge patch on a wide object: members set, nested, deleted and re-added,
/// on both sides of the size at which lookups go from a scan to the hash.
fn wide_patch() -> impl Strategy<Value = Value> {
    let key = (0..40u8).prop_map(|i| format!("k{i}"));
    let member = prop_oneof![
        2 => Just(Value::Null),
        3 => any::<i32>().prop_map(Value::from),
        1 => (0..3u8, any::<bool>()).prop_map(|(i, b)| json!({format!("n{i}"): b})),
    ];
    prop::collection::btree_map(key, member, 0..12)
        .prop_map(|members| Value::Object(members.into_iter().collect()))
}

proptest! {
    #[test]
    fn wide_objects_merge_as_values_do(patches in prop::collection::vec(wide_patch(), 1..40)) {
        let mut expected = json!({});
        let mut document = Document::from(&expected);
        for patch in patches {
            merge(&mut expected, &patch);
            document.merge_owned(patch);
            prop_assert_eq!(&document, &expected);
        }
        for key in (0..40).map(|i| format!("k{i}")) {
            prop_assert_eq!(document.get(&key).map(Document::to_value), expected.get(&key).cloned());
        }
    }
}

/// A patch that changes one member of one member of ... (the shape most
/// updates have), ending in a value, a deletion, an array or a wider object.
fn chain_patch() -> impl Strategy<Value = Value> {
    let key = (0..3u8).prop_map(|i| format!("k{i}"));
    let end = prop_oneof![
        Just(Value::Null),
        any::<i8>().prop_map(Value::from),
        Just(json!([1, null])),
        Just(json!({"a": 1, "b": null})),
        Just(json!({"c": {"d": null}})),
    ];
    (prop::collection::vec(key, 1..4), end).prop_map(|(keys, end)| {
        keys.into_iter()
            .rev()
            .fold(end, |inner, key| json!({ key: inner }))
    })
}

proptest! {
    #[test]
    fn one_member_chains_merge_as_values_do(
        start in prop_oneof![
            json_value(),
            // Past the size at which lookups go from a scan to the hash.
            Just(Value::Object((0..20).map(|i| (format!("k{i}"), json!({"k1": i}))).collect())),
        ],
        patches in prop::collection::vec(chain_patch(), 1..20),
    ) {
        let mut expected = start.clone();
        let mut document = Document::from(&start);
        for patch in patches {
            merge(&mut expected, &patch);
            document.merge(&patch);
            prop_assert_eq!(&document, &expected);
        }
    }
}
