//! The wire form of `Update` and `Snapshot`, and the limits every inbound
//! message is checked against before it is parsed.

use crate::support::chain;
use live_resource::{Error, Limits, Patch, Snapshot, Update};
use serde::Deserialize;
use serde_json::{Value, json};

fn ops(value: Value) -> json_patch::Patch {
    serde_json::from_value(value).expect("valid RFC 6902 operations")
}

fn one_of_each_kind() -> Vec<Patch> {
    vec![
        Patch::Merge(
            json!({"aapl": {"price": 190.25, "halted": null}, "tags": ["a/b", "~"]}).into(),
        ),
        Patch::Merge(json!({}).into()),
        Patch::Merge(Value::Null.into()),
        Patch::Json(ops(json!([
            {"op": "add", "path": "/log/-", "value": "started"},
            {"op": "remove", "path": "/a~1b"},
            {"op": "replace", "path": "/m~0n", "value": null},
            {"op": "move", "from": "/x", "path": "/y"},
            {"op": "copy", "from": "/y", "path": "/z"},
            {"op": "test", "path": "", "value": {"q": [1]}},
        ]))),
        Patch::Json(ops(json!([]))),
        Patch::Replace(json!({"done": 4, "total": 10})),
        Patch::Replace(json!([1, "two", 3.5, false])),
        Patch::Replace(Value::Null),
    ]
}

/// Parses `text` as an update and returns the error, which must be `Malformed`.
fn malformed(text: &str) -> Error {
    let err = Update::from_slice(text.as_bytes())
        .expect_err(&format!("{text} should not parse as an update"));
    assert!(matches!(err, Error::Malformed(_)), "{text}: {err:?}");
    assert!(err.is_bad_message(), "{text}");
    err
}

/// A `{"seq":1,"merge":...}` whose merge value nests `depth` levels of `[`.
fn nested_update(depth: usize) -> String {
    format!(
        r#"{{"seq":1,"merge":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[test]
fn every_patch_kind_round_trips_with_and_without_seq() {
    for patch in one_of_each_kind() {
        for seq in [Some(0), Some(18), Some(u64::MAX), None] {
            let update = Update {
                seq,
                patch: patch.clone(),
            };
            let bytes = serde_json::to_vec(&update).unwrap();
            let parsed = Update::from_slice(&bytes)
                .unwrap_or_else(|err| panic!("{}: {err}", String::from_utf8_lossy(&bytes)));
            assert_eq!(parsed, update, "{}", String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn the_wire_text_is_the_documented_form() {
    let cases = [
        (
            Update::merge(18, json!({"p": 1})),
            r#"{"seq":18,"merge":{"p":1}}"#,
        ),
        (
            Update::unsequenced(json!({"online": 12})),
            r#"{"merge":{"online":12}}"#,
        ),
        (
            Update {
                seq: Some(19),
                patch: Patch::Json(ops(json!([{"op": "add", "path": "/log/-", "value": "x"}]))),
            },
            r#"{"seq":19,"patch":[{"op":"add","path":"/log/-","value":"x"}]}"#,
        ),
        (
            Update {
                seq: Some(20),
                patch: Patch::Replace(json!(7)),
            },
            r#"{"seq":20,"replace":7}"#,
        ),
        (
            Update {
                seq: None,
                patch: Patch::Replace(Value::Null),
            },
            r#"{"replace":null}"#,
        ),
    ];
    for (update, text) in cases {
        assert_eq!(serde_json::to_string(&update).unwrap(), text);
        assert_eq!(
            Update::from_slice(text.as_bytes()).unwrap(),
            update,
            "{text}"
        );
    }
}

#[test]
fn a_null_member_is_present_not_absent() {
    let update = Update::from_slice(br#"{"seq":1,"merge":null}"#).unwrap();
    assert_eq!(update.seq, Some(1));
    assert_eq!(update.patch, Patch::Merge(Value::Null.into()));

    let update = Update::from_slice(br#"{"replace":null}"#).unwrap();
    assert_eq!(update.seq, None);
    assert_eq!(update.patch, Patch::Replace(Value::Null));

    // Two members present, even if both null, is two.
    let err = malformed(r#"{"merge":null,"replace":null}"#);
    assert!(chain(&err).contains("exactly one"), "{err}");
}

#[test]
fn an_update_needs_exactly_one_patch_member() {
    for text in [
        r#"{}"#,
        r#"{"seq":1}"#,
        r#"{"seq":1,"type":"update","topic":"quotes"}"#,
        r#"{"seq":1,"merge":{},"replace":{}}"#,
        r#"{"seq":1,"merge":{},"patch":[]}"#,
        r#"{"patch":[],"replace":1}"#,
        r#"{"seq":1,"merge":{"a":1},"patch":[],"replace":2}"#,
    ] {
        let err = malformed(text);
        let message = chain(&err);
        assert!(message.contains("exactly one"), "{text}: {message}");
        assert!(
            message.starts_with("malformed message"),
            "{text}: {message}"
        );
    }
}

#[test]
fn websocket_envelope_members_are_ignored() {
    let update =
        Update::from_slice(br#"{"type":"update","topic":"quotes","seq":18,"merge":{}}"#).unwrap();
    assert_eq!(update, Update::merge(18, json!({})));

    let update = Update::from_slice(
        br#"{"type":"update","topic":"jobs/42","seq":3,"patch":[{"op":"remove","path":"/x"}],"extra":{"deep":[1]}}"#,
    )
    .unwrap();
    assert_eq!(update.seq, Some(3));
    assert!(matches!(update.patch, Patch::Json(_)));

    let snapshot: Snapshot = Limits::default()
        .parse_snapshot(br#"{"type":"snapshot","topic":"quotes","version":17,"data":{"a":1}}"#)
        .unwrap();
    assert_eq!(snapshot, Snapshot::new(17, json!({"a": 1})));
}

#[test]
fn malformed_json_is_refused() {
    for text in [
        "",
        " ",
        r#"{"seq":1,"merge":"#,
        r#"{"seq":1,"merge":{"a":1}"#,
        r#"{"seq":1,"merge":{}} trailing"#,
        r#"{"seq":1,"merge":{},}"#,
        r#"{seq:1,"merge":{}}"#,
        "\u{feff}{\"merge\":{}}",
        "[]",
        r#"[{"seq":1,"merge":{}}]"#,
        "17",
        "null",
        r#""merge""#,
    ] {
        malformed(text);
    }
}

#[test]
fn a_seq_that_is_not_a_u64_is_refused() {
    let limits = Limits::default();
    for seq in [
        "-1",
        "-0",
        r#""1""#,
        "1.5",
        "1.0",
        "1e3",
        "1E3",
        "017",
        "00",
        "18446744073709551616",
        "99999999999999999999",
        "true",
        "{}",
        "",
    ] {
        let text = format!(r#"{{"seq":{seq},"merge":{{}}}}"#);
        malformed(&text);
        // The transports' reader too, which reads a `seq` by itself.
        let lazy = limits.parse_update_lazy(&text);
        assert!(matches!(lazy, Err(Error::Malformed(_))), "{text}: {lazy:?}");
    }
    for (seq, expected) in [
        ("18446744073709551615", Some(u64::MAX)),
        ("0", Some(0)),
        (" 17 ", Some(17)),
        ("null", None),
    ] {
        let text = format!(r#"{{"seq":{seq},"merge":{{}}}}"#);
        let strict = Update::from_slice(text.as_bytes()).unwrap();
        let lazy = limits.parse_update_lazy(&text).unwrap();
        assert_eq!((strict.seq, lazy.seq), (expected, expected), "{text}");
    }
}

#[test]
fn operations_that_are_not_rfc_6902_are_refused() {
    for patch in [
        r#"{}"#,
        r#""add""#,
        r#"[{"op":"frobnicate","path":"/a"}]"#,
        r#"[{"path":"/a","value":1}]"#,
        r#"[{"op":"add","value":1}]"#,
        r#"[{"op":"add","path":"/a"}]"#,
        r#"[{"op":"move","path":"/a"}]"#,
        r#"[{"op":"add","path":"a","value":1}]"#,
        r#"[{"op":"remove","path":"/a~2"}]"#,
    ] {
        malformed(&format!(r#"{{"seq":1,"patch":{patch}}}"#));
    }
}

#[test]
fn depth_is_checked_against_the_limit() {
    let limits = Limits::default().max_depth(3);
    let at_limit = br#"{"seq":1,"merge":{"a":{"b":[1]}}}"#;
    let update = limits.parse_update(at_limit).unwrap();
    assert_eq!(update.patch.depth(), 3);
    limits.check_patch(&update.patch).unwrap();

    let past_limit = br#"{"seq":1,"merge":{"a":{"b":[[1]]}}}"#;
    let err = limits.parse_update(past_limit).unwrap_err();
    assert!(matches!(err, Error::TooDeep { max: 3 }), "{err:?}");
    assert!(err.is_bad_message());

    let deep_replace = br#"{"replace":[[[[0]]]]}"#;
    assert!(matches!(
        limits.parse_update(deep_replace),
        Err(Error::TooDeep { max: 3 })
    ));

    let deep_patch = Patch::Merge(json!({"a": {"b": {"c": {}}}}).into());
    assert!(matches!(
        limits.check_patch(&deep_patch),
        Err(Error::TooDeep { max: 3 })
    ));
}

#[test]
fn brackets_inside_strings_do_not_count_toward_depth() {
    let limits = Limits::default().max_depth(1);
    let text = br#"{"seq":1,"merge":{"s":"[[[[{{{{\"]]]]}}","t":"\\","u":"\u005b"}}"#;
    let update = limits.parse_update(text).unwrap();
    assert_eq!(
        update.patch,
        Patch::Merge(json!({"s": "[[[[{{{{\"]]]]}}", "t": "\\", "u": "["}).into())
    );
}

#[test]
fn an_escaped_backslash_ends_the_string_for_the_depth_scan() {
    // `"\\"` is a complete string: the `[[` after it is real nesting. A scan
    // that took `\"` for an escaped quote would skip it and miss the depth.
    let text = br#"{"seq":1,"merge":{"t":"\\","b":[[1]]}}"#;
    assert!(matches!(
        Limits::default().max_depth(2).parse_update(text),
        Err(Error::TooDeep { max: 2 })
    ));
    Limits::default().max_depth(3).parse_update(text).unwrap();
}

#[test]
fn a_200_deep_array_is_too_deep_not_a_crash() {
    let err = Update::from_slice(nested_update(200).as_bytes()).unwrap_err();
    assert!(matches!(err, Error::TooDeep { max: 64 }), "{err:?}");

    let bare = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let err = Update::from_slice(bare.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::TooDeep { max: 64 }), "{err:?}");

    // Far past any stack: refused by the scan before the parser recurses.
    let hostile = "[".repeat(1_000_000);
    let err = Update::from_slice(hostile.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::TooDeep { .. }), "{err:?}");
}

#[test]
fn the_default_depth_limit_is_at_the_documented_boundary() {
    // The envelope is one level; the payload may nest `max_depth` below it.
    Update::from_slice(nested_update(64).as_bytes()).unwrap();
    let err = Update::from_slice(nested_update(65).as_bytes()).unwrap_err();
    assert!(matches!(err, Error::TooDeep { max: 64 }), "{err:?}");
}

#[test]
fn size_is_checked_against_the_limit() {
    let text = br#"{"seq":1,"merge":{"price":1.5}}"#;
    let size = text.len();

    Limits::default()
        .max_message_bytes(size)
        .parse_update(text)
        .unwrap();

    let err = Limits::default()
        .max_message_bytes(size - 1)
        .parse_update(text)
        .unwrap_err();
    match err {
        Error::TooLarge { size: got, max } => {
            assert_eq!(got, size);
            assert_eq!(max, size - 1);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }

    let huge = format!(r#"{{"merge":{{"s":"{}"}}}}"#, "x".repeat(1 << 20));
    let err = Update::from_slice(huge.as_bytes()).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size, max } if size == huge.len() && max == 1 << 20),
        "{err:?}"
    );
}

#[test]
fn size_is_checked_before_the_text_is_parsed() {
    // Too large and malformed: the cheap check answers first.
    let err = Limits::default()
        .max_message_bytes(4)
        .parse_update(b"not json")
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size: 8, max: 4 }),
        "{err:?}"
    );
}

#[test]
fn check_patch_agrees_with_parse_update_for_merge_and_replace() {
    let limits = Limits::default().max_depth(3);
    for depth in 0..6 {
        let value: Value =
            serde_json::from_str(&format!("{}0{}", "[".repeat(depth), "]".repeat(depth))).unwrap();
        for patch in [Patch::Merge(value.clone().into()), Patch::Replace(value)] {
            let text = serde_json::to_vec(&Update {
                seq: Some(1),
                patch: patch.clone(),
            })
            .unwrap();
            assert_eq!(
                limits.check_patch(&patch).is_ok(),
                limits.parse_update(&text).is_ok(),
                "depth {depth}: {patch:?}"
            );
        }
    }
}

/// `Limits::check_patch` and `Limits::parse_update` count a JSON Patch's
/// depth the same way (the operations array and the operation object count),
/// so a server that checks its patches never emits updates its clients refuse.
#[test]
fn check_patch_agrees_with_parse_update_for_json_patch() {
    let limits = Limits::default().max_depth(3);
    let patch = Patch::Json(ops(json!([
        {"op": "add", "path": "/a", "value": {"b": {"c": 1}}},
    ])));
    let text = serde_json::to_vec(&Update {
        seq: Some(1),
        patch: patch.clone(),
    })
    .unwrap();
    // Today: check_patch is Ok (depth 2), parse_update is TooDeep { max: 3 }.
    assert_eq!(
        limits.check_patch(&patch).is_ok(),
        limits.parse_update(&text).is_ok(),
        "check_patch: {:?}, parse_update: {:?}",
        limits.check_patch(&patch),
        limits.parse_update(&text)
    );
}

/// serde's derived impls would accept a struct written as an array of its
/// fields (`[1,{"a":1}]`); the wire form is an object only.
#[test]
fn an_array_is_neither_an_update_nor_a_snapshot() {
    malformed(r#"[1,{"a":1}]"#);
    let snapshot = Limits::default().parse_snapshot::<Value>(br#"[17,{}]"#);
    assert!(matches!(snapshot, Err(Error::Malformed(_))), "{snapshot:?}");
}

/// A `"patch": null` member is present (and not a list of operations), as
/// `"merge": null` and `"replace": null` are present: an update naming two
/// patch members is refused.
#[test]
fn a_null_patch_member_counts_as_present() {
    malformed(r#"{"seq":1,"merge":{},"patch":null}"#);
    let err = malformed(r#"{"seq":1,"merge":{},"replace":null}"#);
    assert!(chain(&err).contains("exactly one"), "{err}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Job {
    done: u64,
    total: u64,
}

#[test]
fn snapshots_parse_typed_and_untyped() {
    let text = br#"{"version":17,"data":{"done":40,"total":100}}"#;
    let limits = Limits::default();

    let typed: Snapshot<Job> = limits.parse_snapshot(text).unwrap();
    assert_eq!(
        typed,
        Snapshot::new(
            17,
            Job {
                done: 40,
                total: 100
            }
        )
    );

    let untyped: Snapshot = limits.parse_snapshot(text).unwrap();
    assert_eq!(
        untyped,
        Snapshot::new(17, json!({"done": 40, "total": 100}))
    );

    let unversioned: Snapshot = limits.parse_snapshot(br#"{"data":null}"#).unwrap();
    assert_eq!(unversioned, Snapshot::unversioned(Value::Null));

    for bad in [
        &br#"{"version":17}"#[..],
        br#"{"version":-1,"data":{}}"#,
        br#"{"version":"17","data":{}}"#,
        br#"{"version":17,"data":"#,
        br#"17"#,
    ] {
        let err = limits.parse_snapshot::<Value>(bad).unwrap_err();
        assert!(
            matches!(err, Error::Malformed(_)),
            "{}: {err:?}",
            String::from_utf8_lossy(bad)
        );
    }

    let err = limits
        .parse_snapshot::<Job>(br#"{"version":1,"data":{"done":"many"}}"#)
        .unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err:?}");
}

#[test]
fn snapshots_round_trip() {
    for snapshot in [
        Snapshot::new(17, json!({"a": [1, {"b": null}]})),
        Snapshot::new(0, Value::Null),
        Snapshot::unversioned(json!("text")),
    ] {
        let bytes = serde_json::to_vec(&snapshot).unwrap();
        let parsed: Snapshot = Limits::default().parse_snapshot(&bytes).unwrap();
        assert_eq!(parsed, snapshot);
    }
    assert_eq!(
        serde_json::to_string(&Snapshot::unversioned(1)).unwrap(),
        r#"{"data":1}"#
    );
}

#[test]
fn the_snapshot_size_limit_is_separate_from_the_message_limit() {
    let limits = Limits::default()
        .max_message_bytes(64)
        .max_snapshot_bytes(4096);
    let data: Vec<u32> = (0..200).collect();
    let snapshot = serde_json::to_vec(&Snapshot::new(1, &data)).unwrap();
    assert!(snapshot.len() > 64 && snapshot.len() <= 4096);

    let parsed: Snapshot<Vec<u32>> = limits.parse_snapshot(&snapshot).unwrap();
    assert_eq!(parsed.data, data);

    let update = serde_json::to_vec(&Update {
        seq: Some(2),
        patch: Patch::Replace(json!(data)),
    })
    .unwrap();
    // The same data, as an update: well within the snapshot limit, past the message limit.
    assert!(update.len() > 64 && update.len() <= 4096);
    assert!(matches!(
        limits.parse_update(&update),
        Err(Error::TooLarge { max: 64, .. })
    ));

    let big: Vec<u32> = (0..2000).collect();
    let big_snapshot = serde_json::to_vec(&Snapshot::new(1, &big)).unwrap();
    assert!(matches!(
        limits.parse_snapshot::<Value>(&big_snapshot),
        Err(Error::TooLarge { max: 4096, .. })
    ));
}

#[test]
fn the_snapshot_depth_is_checked_too() {
    let limits = Limits::default().max_depth(2);
    limits
        .parse_snapshot::<Value>(br#"{"version":1,"data":{"a":[1]}}"#)
        .unwrap();
    let err = limits
        .parse_snapshot::<Value>(br#"{"version":1,"data":{"a":[[1]]}}"#)
        .unwrap_err();
    assert!(matches!(err, Error::TooDeep { max: 2 }), "{err:?}");
}

#[test]
fn error_messages_are_lowercase_and_say_what_was_being_done() {
    let cases = [
        (
            Update::from_slice(br#"{"seq":1,"merge":"#).unwrap_err(),
            "malformed message",
        ),
        (
            Update::from_slice(br#"{"seq":1}"#).unwrap_err(),
            "exactly one of `merge`, `patch` or `replace`",
        ),
        (
            Limits::default()
                .max_message_bytes(10)
                .parse_update(br#"{"seq":1,"merge":{}}"#)
                .unwrap_err(),
            "message of 20 bytes exceeds the limit of 10 bytes",
        ),
        (
            Update::from_slice(nested_update(200).as_bytes()).unwrap_err(),
            "message nests deeper than the limit of 64 levels",
        ),
        (
            Patch::Json(ops(json!([{"op": "remove", "path": "/gone"}])))
                .apply(&mut json!({}))
                .unwrap_err(),
            "patch does not apply",
        ),
    ];
    for (err, expected) in cases {
        let message = chain(&err);
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        let first = message.chars().next().expect("a message");
        assert!(first.is_lowercase(), "{message:?} starts uppercase");
        assert!(!message.ends_with('.'), "{message:?} ends with a period");
    }
}
