//! An unknown topic, from a hub in the same process: retried until it comes
//! (the default), or the end of the resource (`UnknownTopic::End`); and the
//! short messages of the errors on the way, their causes below.

use std::time::Duration;

use futures::StreamExt;
use live_resource::source::{Permanent, SnapshotSource};
use live_resource::{Backoff, Error, Hub, LiveResource, Status, UnknownTopic};
use serde_json::{Value, json};

use crate::support::chain;
use crate::support::scripted::{next_error, next_state};

fn backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(10))
        .max(Duration::from_millis(10))
}

#[tokio::test(start_paused = true)]
async fn an_unknown_topic_is_retried_until_it_comes() {
    let hub = Hub::new();
    let mut job = LiveResource::<Value>::connect(hub.source("jobs/1")).backoff(backoff());
    let status = job.status();
    for _ in 0..3 {
        let error = next_error(&mut job).await;
        assert!(error.is_unknown_topic(), "{error:?}");
        assert!(!error.is_final(), "retried: reconnecting, nothing to do");
        assert_eq!(
            chain(&error),
            "subscribing to the updates failed: unknown topic `jobs/1`"
        );
        assert!(matches!(*status.borrow(), Status::Reconnecting { .. }));
    }
    hub.set("jobs/1", json!({"done": 0})).unwrap();
    assert_eq!(next_state(&mut job).await, json!({"done": 0}));
    assert_eq!(*status.borrow(), Status::Live);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_topic_ends_the_resource_when_told_so() {
    let hub = Hub::new();
    let mut job = LiveResource::<Value>::connect(hub.source("jobs/1"))
        .backoff(backoff())
        .unknown_topic(UnknownTopic::End);
    let error = next_error(&mut job).await;
    assert!(error.is_unknown_topic() && error.is_final(), "{error:?}");
    assert_eq!(
        chain(&error),
        "subscribing to the updates failed: unknown topic `jobs/1`"
    );
    assert!(job.next().await.is_none(), "the error was the last item");
    assert_eq!(*job.status().borrow(), Status::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_removed_topic_ends_the_resource_when_told_so() {
    let hub = Hub::new();
    hub.set("jobs/1", json!({"done": 0})).unwrap();
    let mut job = LiveResource::<Value>::connect(hub.source("jobs/1"))
        .backoff(backoff())
        .unknown_topic(UnknownTopic::End);
    assert_eq!(next_state(&mut job).await, json!({"done": 0}));
    hub.remove("jobs/1");
    let error = next_error(&mut job).await;
    assert!(error.is_unknown_topic() && error.is_final(), "{error:?}");
    assert!(job.next().await.is_none());
    assert_eq!(*job.status().borrow(), Status::Failed);
}

#[tokio::test(start_paused = true)]
async fn other_errors_are_retried_whatever_the_setting() {
    let (source, control) = crate::support::scripted::scripted(None);
    control.refuse_next_subscribe("connection refused".into());
    let mut resource = LiveResource::<Value>::connect(source)
        .backoff(backoff())
        .unknown_topic(UnknownTopic::End);
    let error = next_error(&mut resource).await;
    assert!(!error.is_unknown_topic() && !error.is_final(), "{error:?}");
    assert_eq!(
        chain(&error),
        "subscribing to the updates failed: connection refused"
    );
}

#[tokio::test]
async fn messages_are_short_and_the_causes_follow() {
    let hub = Hub::new();
    let error = Error::Snapshot(hub.source("nope").snapshot().await.unwrap_err());
    assert_eq!(error.to_string(), "fetching the snapshot failed");
    assert_eq!(
        chain(&error),
        "fetching the snapshot failed: unknown topic `nope`"
    );
    assert!(error.is_unknown_topic());

    let decode = serde_json::from_value::<u32>(json!("x")).unwrap_err();
    let error = Error::Decode {
        version: Some(3),
        source: decode,
    };
    assert_eq!(
        error.to_string(),
        "state at version Some(3) does not decode into the target type"
    );
    assert!(chain(&error).ends_with(": invalid type: string \"x\", expected u32"));

    // A permanent mark shows its error as its own: no level is repeated.
    let error = Error::Subscribe(Permanent::new(std::io::Error::other("403 forbidden")).into());
    assert!(error.is_final());
    assert_eq!(
        chain(&error),
        "subscribing to the updates failed: 403 forbidden"
    );

    let error = Error::Updates(Box::new(Error::TooDeep { max: 4 }));
    assert_eq!(
        chain(&error),
        "the update stream failed: message nests deeper than the limit of 4 levels"
    );
}
