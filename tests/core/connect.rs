//! `LiveResource::connect`: resume, resync, backoff, idle timeout and giving
//! up, against a source the test drives by hand, in paused time.

use crate::support::chain;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use live_resource::source::{Event, Permanent};
use live_resource::{Backoff, Document, Error, LiveResource, Snapshot, Status};
use serde_json::{Value, json};

use crate::support::scripted::{live_at, next_error, next_state, scripted, update};

#[tokio::test(start_paused = true)]
async fn a_transport_error_reconnects_and_resumes_from_the_last_seq() {
    let (mut resource, control) = live_at(1, Backoff::default()).await;
    let connection = control.connection();
    connection.send(update(2, json!({"n": 2}))).unwrap();
    assert_eq!(next_state(&mut resource).await, json!({"n": 2}));

    connection.send(Err("connection reset".into())).unwrap();
    let error = next_error(&mut resource).await;
    assert!(error.is_transport(), "{error}");
    assert!(!error.is_final(), "the item says the resource goes on");
    assert!(matches!(
        *resource.status().borrow(),
        Status::Reconnecting { attempt: 1, .. }
    ));

    // Nothing is ready: the backoff passes (paused time jumps) and it resubscribes.
    assert!(resource.next().now_or_never().is_none());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(control.subscribes(), [None, Some(2)]);
    control
        .connection()
        .send(update(3, json!({"n": 3})))
        .unwrap();
    assert_eq!(next_state(&mut resource).await, json!({"n": 3}));
    assert_eq!(control.snapshot_calls(), 1, "resumed, no new snapshot");
    assert_eq!(*resource.status().borrow(), Status::Live);
}

#[tokio::test(start_paused = true)]
async fn a_gap_resubscribes_from_the_current_version() {
    let (mut resource, control) = live_at(5, Backoff::default()).await;
    control
        .connection()
        .send(update(7, json!({"n": 7})))
        .unwrap();
    let error = next_error(&mut resource).await;
    assert!(
        matches!(
            error,
            Error::Gap {
                expected: 6,
                received: 7
            }
        ),
        "{error}"
    );
    assert_eq!(*resource.status().borrow(), Status::Resyncing);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(control.subscribes(), [None, Some(5)]);
    let replay = control.connection();
    replay.send(update(6, json!({"n": 6}))).unwrap();
    replay.send(update(7, json!({"n": 7}))).unwrap();
    assert_eq!(next_state(&mut resource).await, json!({"n": 7}));
    assert_eq!(resource.version(), Some(7));
}

#[tokio::test(start_paused = true)]
async fn a_resync_takes_a_new_snapshot_and_swaps_it_in_whole() {
    let (mut resource, control) = live_at(5, Backoff::default()).await;
    control.connection().send(Ok(Event::Resync)).unwrap();
    assert!(resource.next().now_or_never().is_none());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(control.subscribes(), [None, None], "a fresh handoff");
    assert_eq!(*resource.status().borrow(), Status::Resyncing);
    assert_eq!(
        resource.json().map(Document::to_value),
        Some(json!({"n": 5})),
        "the old state stays readable"
    );

    // An update that arrives before the new snapshot is held, then applied.
    let connection = control.connection();
    connection.send(update(41, json!({"late": true}))).unwrap();
    assert!(resource.next().now_or_never().is_none());
    control.snapshot(Snapshot::new(40, json!({"n": 40})));
    assert_eq!(
        next_state(&mut resource).await,
        json!({"n": 40, "late": true})
    );
    assert_eq!(resource.version(), Some(41));
    assert_eq!(control.snapshot_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_patch_that_does_not_apply_keeps_the_state_and_resyncs() {
    let (mut resource, control) = live_at(1, Backoff::default()).await;
    let bad = live_resource::Update {
        seq: Some(2),
        patch: live_resource::Patch::Json(
            serde_json::from_value(json!([{"op": "remove", "path": "/missing"}])).unwrap(),
        ),
    };
    control.connection().send(Ok(Event::Update(bad))).unwrap();
    let error = next_error(&mut resource).await;
    assert!(matches!(error, Error::Apply(_)), "{error}");
    assert_eq!(
        resource.json().map(Document::to_value),
        Some(json!({"n": 1}))
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
    control.snapshot(Snapshot::new(2, json!({"n": 2})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 2}));
}

#[tokio::test(start_paused = true)]
async fn a_closed_stream_is_reconnected_to() {
    let (mut resource, control) = live_at(3, Backoff::default()).await;
    control.close_all();
    assert!(resource.next().now_or_never().is_none());
    assert!(matches!(
        *resource.status().borrow(),
        Status::Reconnecting { .. }
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(control.subscribes(), [None, Some(3)]);
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_within_their_bounds() {
    let (initial, max) = (Duration::from_millis(100), Duration::from_secs(5));
    let backoff = Backoff::default().initial(initial).max(max);
    let bounds = |attempt| crate::support::documented_delay_bounds(initial, max, attempt);
    let (source, control) = scripted(None);
    for _ in 0..8 {
        control.refuse_next_subscribe("connection refused".into());
    }
    let mut resource = LiveResource::<Value>::connect(source).backoff(backoff.clone());
    for attempt in 1..=8u32 {
        let error = next_error(&mut resource).await;
        assert!(matches!(error, Error::Subscribe(_)), "{error}");
        match *resource.status().borrow() {
            Status::Reconnecting { attempt: a, delay } => {
                assert_eq!(a, attempt);
                let (low, high) = bounds(attempt - 1);
                assert!(
                    low <= delay && delay <= high,
                    "{delay:?} not in {low:?}..={high:?}"
                );
            }
            ref other => panic!("{other:?}"),
        }
    }
    // The ninth attempt gets through: measure the gaps between the attempts.
    assert!(
        tokio::time::timeout(Duration::from_secs(60), resource.next())
            .await
            .is_err()
    );
    let times = control.subscribe_times();
    assert_eq!(times.len(), 9);
    for (attempt, pair) in times.windows(2).enumerate() {
        let waited = pair[1] - pair[0];
        let (low, high) = bounds(attempt as u32);
        assert!(
            low <= waited && waited <= high + Duration::from_millis(1),
            "{waited:?}"
        );
    }
    assert!(
        times[8] - times[7] >= Duration::from_millis(2500),
        "doubled up to the max"
    );
}

#[tokio::test(start_paused = true)]
async fn the_backoff_resets_only_after_a_sustained_healthy_period() {
    let backoff = Backoff::default()
        .initial(Duration::from_millis(100))
        .healthy_after(Duration::from_secs(60));
    let (mut resource, control) = live_at(1, backoff).await;

    // Two short-lived connections: each is an outage of its own, its first
    // attempt, but the delays go on growing.
    let (initial, max) = (Duration::from_millis(100), Duration::from_secs(30));
    for retry in 0..2u32 {
        control.connection().send(Err("reset".into())).unwrap();
        next_error(&mut resource).await;
        let status = resource.status().borrow().clone();
        let Status::Reconnecting { attempt: 1, delay } = status else {
            panic!("{status:?}");
        };
        let (low, high) = crate::support::documented_delay_bounds(initial, max, retry);
        assert!(low <= delay && delay <= high, "{delay:?} for retry {retry}");
        assert!(
            tokio::time::timeout(Duration::from_secs(5), resource.next())
                .await
                .is_err()
        );
        assert_eq!(*resource.status().borrow(), Status::Live);
    }
    // A connection that stays healthy long enough starts the count over.
    tokio::time::sleep(Duration::from_secs(61)).await;
    control.connection().send(Err("reset".into())).unwrap();
    next_error(&mut resource).await;
    let status = resource.status().borrow().clone();
    assert!(
        matches!(status, Status::Reconnecting { attempt: 1, .. }),
        "{status:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_taken_for_dead_after_three_heartbeats() {
    let (source, control) = scripted(Some(Duration::from_secs(1)));
    let mut resource = LiveResource::<Value>::connect(source);
    assert!(resource.next().now_or_never().is_none());
    control.snapshot(Snapshot::new(1, json!({"n": 1})));
    next_state(&mut resource).await;

    // Heartbeats keep a quiet connection alive.
    let connection = control.connection();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        connection.send(Ok(Event::Heartbeat(Some(1)))).unwrap();
        assert!(resource.next().now_or_never().is_none());
    }
    assert_eq!(control.subscribes().len(), 1);

    // Then it falls silent: a half-open connection.
    let started = tokio::time::Instant::now();
    let error = next_error(&mut resource).await;
    assert!(
        matches!(error, Error::IdleTimeout { after } if after == Duration::from_secs(3)),
        "{error}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "timed from the last message"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(
        control.subscribes(),
        [None, Some(1)],
        "reconnected and resumed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_ends_the_resource() {
    let (source, control) = scripted(None);
    control.refuse_next_subscribe(Permanent::new("403 forbidden").into());
    let mut resource = LiveResource::<Value>::connect(source);
    let error = next_error(&mut resource).await;
    assert_eq!(error.to_string(), "subscribing to the updates failed");
    assert!(chain(&error).ends_with(": 403 forbidden"), "{error}");
    assert!(error.is_final(), "the item says the resource ends");
    assert!(resource.next().await.is_none());
    assert_eq!(*resource.status().borrow(), Status::Failed);
    assert_eq!(control.subscribes().len(), 1, "no retry");
}

#[tokio::test(start_paused = true)]
async fn the_resource_gives_up_after_its_attempts() {
    let (source, control) = scripted(None);
    for _ in 0..10 {
        control.refuse_next_subscribe("connection refused".into());
    }
    let mut resource =
        LiveResource::<Value>::connect(source).backoff(Backoff::default().max_attempts(Some(3)));
    let mut errors = Vec::new();
    while let Some(item) = resource.next().await {
        errors.push(item.expect_err("only errors: nothing ever connects"));
    }
    // The first try and three retries failed, and the last item says the
    // resource gave up.
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(errors[..4].iter().all(Error::is_transport), "{errors:?}");
    assert!(
        errors[..4].iter().all(|error| !error.is_final()),
        "each retry's item says it is retried: {errors:?}"
    );
    assert!(
        matches!(errors[4], Error::GaveUp { attempts: 3 }),
        "{errors:?}"
    );
    assert!(errors[4].is_final());
    assert_eq!(*resource.status().borrow(), Status::Failed);
}

/// Giving up without a failure of its own to report (the source keeps
/// asking for a new snapshot) still ends with an error that says so.
#[tokio::test(start_paused = true)]
async fn giving_up_on_resyncs_ends_with_an_error_that_says_so() {
    let (mut resource, control) = live_at(1, Backoff::default().max_attempts(Some(1))).await;
    control.connection().send(Ok(Event::Resync)).unwrap();
    // The one retry resubscribes; that stream asks to resync again.
    let mut items = Vec::new();
    let mut asked_again = false;
    for _ in 0..20 {
        match tokio::time::timeout(Duration::from_secs(1), resource.next()).await {
            Ok(Some(item)) => items.push(item),
            Ok(None) => break,
            Err(_) if control.subscribes().len() == 2 && !asked_again => {
                control.connection().send(Ok(Event::Resync)).unwrap();
                asked_again = true;
            }
            Err(_) => {}
        }
    }
    assert!(asked_again);
    assert!(
        matches!(items.as_slice(), [Err(Error::GaveUp { attempts: 1 })]),
        "{items:?}"
    );
    assert_eq!(*resource.status().borrow(), Status::Failed);
    assert_eq!(
        resource.json().map(Document::to_value),
        Some(json!({"n": 1})),
        "the last state stays readable"
    );
}

#[tokio::test(start_paused = true)]
async fn a_source_that_always_asks_to_resync_is_not_hammered() {
    let (mut resource, control) = live_at(1, Backoff::default()).await;
    let started = tokio::time::Instant::now();
    // Every new stream says "resync" and every snapshot is taken: a loop.
    for round in 0..6 {
        control.connection().send(Ok(Event::Resync)).ok();
        let _ = tokio::time::timeout(Duration::from_secs(120), async {
            while control.subscribes().len() < round + 3 {
                if resource.next().now_or_never().is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
        .await;
        control.snapshot(Snapshot::new(1, json!({"n": 1})));
    }
    let subscribes = control.subscribes().len();
    let elapsed = started.elapsed();
    // Six resyncs in a row wait at least 0 + 0.25 + 0.5 + 1 + 2 + 4 s.
    assert!(
        elapsed >= Duration::from_secs(7),
        "{subscribes} subscribes in {elapsed:?}"
    );
}

/// A server that restarted with a fixed first version (`first_version(0)`)
/// numbers its topics from 0 again: after a resync, its snapshots are older
/// than the state. Refused twice, as a lagging cache's would be, the third in
/// a row is taken whole (the state and version go back to the server's), and
/// updates then follow from it; refusing it for ever would leave the resource
/// on a history the server no longer has.
#[tokio::test(start_paused = true)]
async fn a_source_whose_versions_went_back_is_followed_after_three_older_snapshots() {
    let (mut resource, control) = live_at(40, Backoff::default()).await;
    control.connection().send(Ok(Event::Resync)).unwrap();
    for _ in 0..2 {
        assert!(resource.next().now_or_never().is_none());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(resource.next().now_or_never().is_none());
        control.snapshot(Snapshot::new(3, json!({"n": 3, "restarted": true})));
        let error = next_error(&mut resource).await;
        assert!(
            matches!(
                error,
                Error::StaleSnapshot {
                    version: 3,
                    current: 40
                }
            ),
            "{error}"
        );
        assert_eq!(resource.version(), Some(40));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(resource.next().now_or_never().is_none());
    control.snapshot(Snapshot::new(3, json!({"n": 3, "restarted": true})));
    assert_eq!(
        next_state(&mut resource).await,
        json!({"n": 3, "restarted": true})
    );
    assert_eq!(resource.version(), Some(3));

    control
        .connection()
        .send(update(4, json!({"n": 4})))
        .unwrap();
    assert_eq!(
        next_state(&mut resource).await,
        json!({"n": 4, "restarted": true})
    );
    assert_eq!(resource.version(), Some(4));
    assert_eq!(control.subscribes(), [None, None, None, None]);
    assert_eq!(*resource.status().borrow(), Status::Live);
}

/// More updates than the limit arrive while the snapshot is slow: the
/// resource reports the overflow, drops what it held, and starts a new
/// handoff after a backoff; with a snapshot in time, it converges.
#[tokio::test(start_paused = true)]
async fn a_buffer_overflow_while_the_snapshot_is_slow_starts_a_new_handoff() {
    let (source, control) = scripted(None);
    let mut resource = LiveResource::<Value>::connect(source)
        .limits(live_resource::Limits::default().max_buffered_updates(2));
    assert!(resource.next().now_or_never().is_none());
    let connection = control.connection();
    for seq in 1..=3 {
        connection.send(update(seq, json!({"n": seq}))).unwrap();
    }
    let error = next_error(&mut resource).await;
    assert!(matches!(error, Error::BufferOverflow { max: 2 }), "{error}");
    assert_eq!(*resource.status().borrow(), Status::Resyncing);
    assert_eq!(resource.version(), None, "nothing was applied");

    // The next handoff waits its backoff, then subscribes afresh.
    let overflowed = tokio::time::Instant::now();
    for _ in 0..100 {
        if control.subscribes().len() == 2 {
            break;
        }
        assert!(resource.next().now_or_never().is_none());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(control.subscribes(), [None, None]);
    assert!(overflowed.elapsed() <= Duration::from_secs(1));
    control
        .connection()
        .send(update(8, json!({"n": 8})))
        .unwrap();
    control.snapshot(Snapshot::new(7, json!({"n": 7})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 8}));
    assert_eq!(resource.version(), Some(8));
    assert_eq!(*resource.status().borrow(), Status::Live);
}

#[tokio::test(start_paused = true)]
async fn a_failed_snapshot_is_retried_with_a_new_handoff() {
    let (source, control) = scripted(None);
    let mut resource = LiveResource::<Value>::connect(source);
    assert!(resource.next().now_or_never().is_none());
    control.fail_snapshot("502 bad gateway");
    let error = next_error(&mut resource).await;
    assert!(matches!(error, Error::Snapshot(_)), "{error}");
    control.snapshot(Snapshot::new(9, json!({"n": 9})));
    assert_eq!(next_state(&mut resource).await, json!({"n": 9}));
    assert_eq!(control.subscribes(), [None, None]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_message_is_not_fetched_again_by_a_replay() {
    // A replay from the refusing version would bring the same message back,
    // and refuse it again, for ever: recovery takes a new snapshot instead.
    let (source, control) = scripted(None);
    let mut resource = LiveResource::<Value>::connect(source)
        .limits(live_resource::Limits::default().max_depth(2));
    assert!(resource.next().now_or_never().is_none());
    control.snapshot(Snapshot::new(1, json!({"n": 1})));
    next_state(&mut resource).await;

    let connection = control.connection();
    connection
        .send(update(2, json!({"deep": {"deeper": {"deepest": 1}}})))
        .unwrap();
    assert!(matches!(
        next_error(&mut resource).await,
        Error::TooDeep { max: 2 }
    ));
    connection.send(update(3, json!({"n": 3}))).unwrap();
    assert!(next_error(&mut resource).await.is_gap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(
        control.subscribes(),
        [None, None],
        "a new snapshot, not a replay from 1"
    );
    control.snapshot(Snapshot::new(
        3,
        json!({"n": 3, "deep": "flattened by the server"}),
    ));
    assert_eq!(next_state(&mut resource).await["n"], 3);
}
