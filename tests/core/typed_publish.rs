//! Typed publishing: a hub takes any `Serialize`, and a typed consumer reads
//! back exactly what was published.

use std::collections::BTreeMap;

use futures::StreamExt;
use live_resource::{Error, Hub, LiveResource};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Job {
    name: String,
    done: u32,
    total: u32,
    tags: Vec<String>,
}

#[derive(Serialize)]
struct Progress {
    done: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[tokio::test]
async fn typed_values_round_trip_through_a_hub() {
    let hub = Hub::builder().first_version(0).build();
    let job = Job {
        name: "import".into(),
        done: 0,
        total: 100,
        tags: vec!["nightly".into()],
    };
    hub.set("jobs/42", &job).unwrap();
    let mut follower = LiveResource::<Job>::connect(hub.source("jobs/42"));
    assert_eq!(follower.next().await.unwrap().unwrap(), job);

    hub.merge(
        "jobs/42",
        Progress {
            done: 40,
            note: None,
        },
    )
    .unwrap();
    let seen = follower.next().await.unwrap().unwrap();
    assert_eq!(
        seen,
        Job {
            done: 40,
            ..job.clone()
        },
        "a typed patch merges, skipped fields stay"
    );

    hub.update_as("jobs/42", |job: &mut Job| {
        job.done += 1;
        job.tags.push("retried".into());
    })
    .unwrap();
    let seen = follower.next().await.unwrap().unwrap();
    assert_eq!(seen.done, 41);
    assert_eq!(seen.tags, ["nightly", "retried"]);
    assert_eq!(hub.snapshot("jobs/42").unwrap().version, Some(2));
}

#[test]
fn a_value_that_is_not_json_is_refused_and_nothing_is_published() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"a": 1})).unwrap();
    // Maps with keys that are not strings have no JSON form.
    let not_json: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
    assert!(matches!(hub.set("t", &not_json), Err(Error::Encode(_))));
    assert!(matches!(hub.merge("t", &not_json), Err(Error::Encode(_))));
    assert!(matches!(hub.set("new", &not_json), Err(Error::Encode(_))));
    assert_eq!(hub.version("t"), Some(0));
    assert_eq!(hub.version("new"), None);
}

#[test]
fn a_typed_update_of_a_value_that_does_not_decode_changes_nothing() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"done": "not a number"})).unwrap();
    let mut called = false;
    let result = hub.update_as("t", |job: &mut Job| {
        called = true;
        job.done = 1;
    });
    assert!(
        matches!(
            result,
            Err(Error::Decode {
                version: Some(0),
                ..
            })
        ),
        "{result:?}"
    );
    assert!(!called);
    assert_eq!(
        hub.snapshot("t").unwrap().data,
        json!({"done": "not a number"})
    );
    assert!(matches!(
        hub.update_as("nope", |_: &mut Job| {}),
        Err(Error::UnknownTopic { .. })
    ));
}
