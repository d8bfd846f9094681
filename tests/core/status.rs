//! `LiveResource::status`: every transition of `Status`'s diagram, as a
//! watcher sees it, against a source the test drives by hand, in paused
//! time. `Live` must mean the state is current, so a resumed connection is
//! `Live` only once the source has answered the resume.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use live_resource::source::{Event, Permanent};
use live_resource::{Backoff, LiveResource, Snapshot, Status};
use serde_json::{Value, json};

use crate::support::scripted::{Control, next_error, next_state, scripted, update};
use crate::support::statuses;

/// What the watcher saw, with the delays of `Reconnecting` left out.
async fn seen(record: &Arc<Mutex<Vec<Status>>>) -> Vec<Status> {
    // Let the watcher run.
    tokio::time::sleep(Duration::from_millis(1)).await;
    record
        .lock()
        .unwrap()
        .iter()
        .map(|status| match status {
            Status::Reconnecting { attempt, .. } => Status::Reconnecting {
                attempt: *attempt,
                delay: Duration::ZERO,
            },
            other => other.clone(),
        })
        .collect()
}

fn reconnecting(attempt: u32) -> Status {
    Status::Reconnecting {
        attempt,
        delay: Duration::ZERO,
    }
}

/// Lets the backoff pass, so that the resource resubscribes.
async fn let_backoff_pass(resource: &mut LiveResource<Value>) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
}

/// A resource live at version 5, over a source that sends heartbeats (so a
/// resume is confirmed by what the source says next).
async fn live() -> (LiveResource<Value>, Control, Arc<Mutex<Vec<Status>>>) {
    let (source, control) = scripted(Some(Duration::from_secs(10)));
    let mut resource = LiveResource::<Value>::connect(source).backoff(
        Backoff::default()
            .initial(Duration::from_millis(100))
            .max(Duration::from_millis(500)),
    );
    let record = statuses(&resource);
    assert!(resource.next().now_or_never().is_none());
    control.snapshot(Snapshot::new(5, json!({"n": 5})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 5}));
    assert_eq!(seen(&record).await, [Status::Connecting, Status::Live]);
    (resource, control, record)
}

#[tokio::test(start_paused = true)]
async fn a_first_connection_that_fails_never_goes_back_to_connecting() {
    let (source, control) = scripted(Some(Duration::from_secs(10)));
    control.refuse_next_subscribe("connection refused".into());
    let mut resource = LiveResource::<Value>::connect(source);
    let record = statuses(&resource);
    next_error(&mut resource).await;
    assert_eq!(seen(&record).await, [Status::Connecting, reconnecting(1)]);

    // The retry connects and waits for its snapshot: still reconnecting.
    let_backoff_pass(&mut resource).await;
    assert_eq!(control.subscribes(), [None, None]);
    assert_eq!(seen(&record).await, [Status::Connecting, reconnecting(1)]);
    control.snapshot(Snapshot::new(5, json!({"n": 5})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 5}));
    assert_eq!(
        seen(&record).await,
        [Status::Connecting, reconnecting(1), Status::Live]
    );

    // The first outage after that is attempt 1, not 2.
    control.connection().send(Err("reset".into())).unwrap();
    next_error(&mut resource).await;
    let status = resource.status().borrow().clone();
    assert!(
        matches!(status, Status::Reconnecting { attempt: 1, .. }),
        "{status:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_resume_is_live_only_once_the_source_answers_it() {
    let (mut resource, control, record) = live().await;
    control.connection().send(Err("reset".into())).unwrap();
    next_error(&mut resource).await;
    let_backoff_pass(&mut resource).await;
    assert_eq!(control.subscribes(), [None, Some(5)]);
    assert_eq!(
        seen(&record).await,
        [Status::Connecting, Status::Live, reconnecting(1)],
        "connected again, but not yet known to be current"
    );
    // A heartbeat at the resource's version: nothing was missed.
    control
        .connection()
        .send(Ok(Event::Heartbeat(Some(5))))
        .unwrap();
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(
        seen(&record).await,
        [
            Status::Connecting,
            Status::Live,
            reconnecting(1),
            Status::Live
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_resume_into_a_new_history_resyncs_before_it_is_live() {
    // The server restarted: it cannot replay from the old version.
    let (mut resource, control, record) = live().await;
    control.connection().send(Err("reset".into())).unwrap();
    next_error(&mut resource).await;
    let_backoff_pass(&mut resource).await;
    control.connection().send(Ok(Event::Resync)).unwrap();
    assert!(resource.next().now_or_never().is_none());
    let_backoff_pass(&mut resource).await;
    assert_eq!(control.subscribes(), [None, Some(5), None]);
    control.snapshot(Snapshot::new(1_000, json!({"n": 1_000})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 1_000}));
    assert_eq!(
        seen(&record).await,
        [
            Status::Connecting,
            Status::Live,
            reconnecting(1),
            Status::Resyncing,
            Status::Live
        ],
        "never Live over the old history's state"
    );
}

#[tokio::test(start_paused = true)]
async fn a_gap_resyncs_then_the_replay_makes_it_live() {
    let (mut resource, control, record) = live().await;
    control
        .connection()
        .send(update(7, json!({"n": 7})))
        .unwrap();
    next_error(&mut resource).await;
    let_backoff_pass(&mut resource).await;
    assert_eq!(control.subscribes(), [None, Some(5)]);
    assert_eq!(*resource.status().borrow(), Status::Resyncing);
    control
        .connection()
        .send(update(6, json!({"n": 6})))
        .unwrap();
    assert_eq!(next_state(&mut resource).await, json!({"n": 6}));
    assert_eq!(
        seen(&record).await,
        [
            Status::Connecting,
            Status::Live,
            Status::Resyncing,
            Status::Live
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_fails_and_a_one_shot_stream_that_ends_closes() {
    let (mut resource, control, record) = live().await;
    control
        .connection()
        .send(Err(Permanent::new("403 forbidden").into()))
        .unwrap();
    next_error(&mut resource).await;
    assert!(resource.next().await.is_none());
    assert_eq!(
        seen(&record).await,
        [Status::Connecting, Status::Live, Status::Failed]
    );

    let snapshot = async { Ok::<_, std::io::Error>(Snapshot::new(1, json!({}))) };
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let updates = tokio_stream::wrappers::UnboundedReceiverStream::new(received);
    let mut once = LiveResource::<Value>::new(snapshot, updates);
    let record = statuses(&once);
    sender
        .send(Ok::<_, std::io::Error>(live_resource::Update::merge(
            2,
            json!({"a": 1}),
        )))
        .unwrap();
    assert!(once.next().await.unwrap().is_ok());
    assert_eq!(seen(&record).await, [Status::Connecting, Status::Live]);
    drop(sender);
    assert!(once.next().await.is_none());
    assert_eq!(
        seen(&record).await,
        [Status::Connecting, Status::Live, Status::Closed]
    );
}

/// Takes a resource live at version 5 through a resync to a snapshot at
/// `version`: the item that comes of it.
async fn resync_to(
    resource: &mut LiveResource<Value>,
    control: &Control,
    version: u64,
) -> Result<Value, live_resource::Error> {
    control.connection().send(Ok(Event::Resync)).unwrap();
    assert!(resource.next().now_or_never().is_none());
    let_backoff_pass(resource).await;
    control.snapshot(Snapshot::new(version, json!({"n": version})));
    tokio::time::timeout(Duration::from_secs(60), resource.next())
        .await
        .expect("an item")
        .expect("the resource goes on")
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_older_than_the_state_is_refused_and_the_resource_never_goes_back() {
    // A cache or a replica that lags the source serves version 3 while the
    // resource shows 5 (a new history would start above 5).
    let (mut resource, control, record) = live().await;
    let error = resync_to(&mut resource, &control, 3).await.unwrap_err();
    assert!(
        matches!(
            error,
            live_resource::Error::StaleSnapshot {
                version: 3,
                current: 5
            }
        ),
        "{error}"
    );
    assert_eq!(resource.version(), Some(5), "the state stays");
    assert_eq!(
        *resource.status().borrow(),
        Status::Resyncing,
        "and is not said live"
    );

    // It fetches again, with backoff, and takes the source once it caught up.
    let_backoff_pass(&mut resource).await;
    control.snapshot(Snapshot::new(6, json!({"n": 6})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 6}));
    assert_eq!(
        seen(&record).await,
        [
            Status::Connecting,
            Status::Live,
            Status::Resyncing,
            Status::Live
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn versions_that_went_back_for_good_are_taken_as_a_new_history_after_three_tries() {
    // A hub with a fixed first version, restarted: nothing newer will come.
    let (mut resource, control, _record) = live().await;
    assert!(resync_to(&mut resource, &control, 1).await.is_err());
    let_backoff_pass(&mut resource).await;
    control.snapshot(Snapshot::new(1, json!({"n": 1})));
    assert!(
        next_error(&mut resource)
            .await
            .to_string()
            .contains("older")
    );
    // The third in a row is taken.
    let_backoff_pass(&mut resource).await;
    control.snapshot(Snapshot::new(1, json!({"n": 1})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 1}));
    assert_eq!(resource.version(), Some(1));
    assert_eq!(*resource.status().borrow(), Status::Live);
}
