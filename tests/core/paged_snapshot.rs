//! Snapshots that come as text (`Event::SnapshotText`, as the WebSocket
//! client hands them to a resource): read a page a poll, the updates that
//! arrive meanwhile applied after, in order; and a bad one refused whole,
//! the table keeping its rows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::StreamExt;
use live_resource::collection::{Event, LiveCollection, RowChange, RowError};
use live_resource::source::{
    Event as SourceEvent, EventStream, Fetched, SnapshotSource, SnapshotText, UpdateSource,
};
use live_resource::{Backoff, BoxError, Error, Limits, LiveResource, Snapshot};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::scripted::{Control, Scripted, scripted, update};

thread_local! {
    /// How many times a [`Counted`] row was decoded on this thread: each
    /// test runs on a thread of its own, and decodes there.
    static DECODED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many times a [`Counted`] row was decoded on this thread so far.
fn decoded() -> usize {
    DECODED.get()
}

/// A row that counts its decodes, on the thread that decodes it.
#[derive(Debug, PartialEq)]
struct Counted {
    n: u64,
}

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DECODED.set(DECODED.get() + 1);
        Row::deserialize(deserializer).map(|row| Counted { n: row.n })
    }
}

#[derive(Debug, PartialEq, Deserialize)]
struct Row {
    n: u64,
}

/// A snapshot of `rows` rows of about 200 bytes, `r00000` on, at `version`.
fn table_text(version: u64, rows: u64) -> String {
    let note = "x".repeat(180);
    let rows: Vec<String> = (0..rows)
        .map(|n| format!(r#""r{n:05}":{{"n":{n},"note":"{note}"}}"#))
        .collect();
    format!(r#"{{"version":{version},"data":{{{}}}}}"#, rows.join(","))
}

fn text(text: impl Into<String>) -> SourceEvent {
    let text: String = text.into();
    SourceEvent::SnapshotText(SnapshotText::read(text, &Limits::default()).unwrap())
}

/// A 2 MB snapshot is read over many polls before its first row is
/// decoded, and its rows a thousand a poll after; updates that come on
/// the stream meanwhile (one the snapshot has, three after it) follow the
/// reset, in order, none lost or doubled.
#[tokio::test]
async fn a_snapshot_text_is_read_a_page_a_poll_and_the_updates_during_it_follow() {
    let (source, control) = scripted(None);
    let mut table = LiveCollection::<String, Counted>::connect(source);
    assert!(futures::poll!(table.next()).is_pending());
    let rows = 10_000;
    let snapshot = table_text(10, rows);
    assert!(snapshot.len() > 2_000_000);
    control.connection().send(Ok(text(snapshot))).unwrap();

    let (mut reading, mut decoding, mut sent) = (0, 0, false);
    let first = loop {
        let before = decoded();
        let poll = futures::poll!(table.next());
        let decoded = decoded() - before;
        assert!(decoded <= 1000, "{decoded} rows decoded in one poll");
        if before == 0 && decoded == 0 {
            reading += 1;
        }
        decoding += usize::from(decoded > 0);
        if reading == 2 && !sent {
            sent = true;
            // Written while the snapshot is being read.
            let connection = control.connection();
            connection
                .send(update(10, json!({"r00003": {"n": 99}})))
                .unwrap();
            connection
                .send(update(11, json!({"r00001": {"n": 11}})))
                .unwrap();
            connection
                .send(update(12, json!({"r00002": null})))
                .unwrap();
            connection
                .send(update(13, json!({"new": {"n": 13}})))
                .unwrap();
        }
        match poll {
            Poll::Ready(event) => break event.unwrap().unwrap(),
            Poll::Pending => tokio::task::yield_now().await,
        }
    };
    assert!(reading >= 5, "the text read over {reading} polls");
    assert!(decoding >= 10, "the rows decoded over {decoding} polls");
    assert!(first.is_reset());
    assert_eq!(first.changes().len(), rows as usize);
    assert_eq!(
        table.get(&"r00001".into()),
        Some(&Counted { n: 1 }),
        "the snapshot first"
    );
    assert_eq!(
        table.get(&"r00003".into()),
        Some(&Counted { n: 3 }),
        "10 is in it"
    );

    let mut changes = Vec::new();
    for _ in 0..3 {
        let Event::Row { version, change } = table.next().await.unwrap().unwrap() else {
            panic!("a row event");
        };
        changes.push((
            version,
            change.key().clone(),
            matches!(change, RowChange::Removed { .. }),
        ));
    }
    assert_eq!(
        changes,
        [
            (Some(11), "r00001".to_owned(), false),
            (Some(12), "r00002".to_owned(), true),
            (Some(13), "new".to_owned(), false),
        ]
    );
    assert_eq!(table.len(), rows as usize);
    assert_eq!(table.get(&"r00001".into()), Some(&Counted { n: 11 }));
    assert_eq!(table.version(), Some(13));
}

/// How many [`Freed`] rows were dropped.
static FREED: AtomicUsize = AtomicUsize::new(0);

/// A row that counts its drops, for one test alone.
#[derive(Debug, Deserialize)]
struct Freed {
    #[allow(dead_code)] // Decoded, as a row is; not read.
    n: u64,
}

impl Drop for Freed {
    fn drop(&mut self) {
        FREED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A new snapshot that changes every row of a large table: the old rows
/// (and the old JSON state) are freed a page a poll after the swap, not
/// all in the poll that swaps.
#[tokio::test]
async fn a_new_snapshot_frees_the_old_rows_a_page_a_poll() {
    let (source, control) = scripted(None);
    let mut table = LiveCollection::<String, Freed>::connect(source);
    assert!(futures::poll!(table.next()).is_pending());
    let rows = 5_000;
    control
        .connection()
        .send(Ok(text(table_text(1, rows))))
        .unwrap();
    assert_eq!(
        table.next().await.unwrap().unwrap().changes().len(),
        rows as usize
    );

    let changed = table_text(2, rows).replace(r#""n":"#, r#""n":1"#);
    control.connection().send(Ok(text(changed))).unwrap();
    let reset = table.next().await.unwrap().unwrap();
    assert_eq!(reset.changes().len(), rows as usize);
    drop(reset);
    let before = FREED.load(Ordering::Relaxed);
    let mut polls = 0;
    while FREED.load(Ordering::Relaxed) - before < rows as usize {
        let freed = FREED.load(Ordering::Relaxed);
        assert!(futures::poll!(table.next()).is_pending());
        let now = FREED.load(Ordering::Relaxed) - freed;
        assert!(now <= 1000, "{now} rows freed in one poll");
        polls += 1;
        assert!(polls < 100, "the old rows are all freed");
    }
    assert!(polls >= 5, "freed over {polls} polls");
    assert_eq!(table.len(), rows as usize);
}

/// Polls `table` until the source has been subscribed to `count` times,
/// time paused: the resource waits its backoff before each.
async fn resubscribed<T>(table: &mut LiveCollection<String, T>, control: &Control, count: usize)
where
    T: serde::de::DeserializeOwned + Unpin,
{
    while control.subscribes().len() < count {
        assert!(futures::poll!(table.next()).is_pending());
        tokio::time::advance(Duration::from_millis(50)).await;
    }
}

/// Each bad snapshot is refused whole with an error that says why, and the
/// table keeps the rows it had; the next good one is taken.
#[tokio::test(start_paused = true)]
async fn a_bad_snapshot_text_is_refused_and_the_rows_stay() {
    let (source, control) = scripted(None);
    let limits = Limits::default().max_state_bytes(400);
    let mut table = LiveResource::<Value>::connect(source)
        .limits(limits.clone())
        .backoff(Backoff::default().initial(Duration::from_millis(10)))
        .collection::<String, Row>();
    assert!(futures::poll!(table.next()).is_pending());
    control
        .connection()
        .send(Ok(text(
            r#"{"version":1,"data":{"a":{"n":1},"b":{"n":2}}}"#,
        )))
        .unwrap();
    assert_eq!(table.next().await.unwrap().unwrap().changes().len(), 2);
    let rows = |table: &LiveCollection<String, Row>| {
        table
            .iter()
            .map(|(key, row)| (key.clone(), row.n))
            .collect::<Vec<_>>()
    };
    let before = vec![("a".to_owned(), 1), ("b".to_owned(), 2)];

    let bad = [
        // Malformed in a row, after good ones; cut short; text after it.
        r#"{"version":5,"data":{"a":{"n":7},"c":{"n":}}}"#,
        r#"{"version":5,"data":{"a":{"n":7},"c":{"n":3}"#,
        r#"{"version":5,"data":{"a":{"n":7}}} x"#,
    ];
    let mut subscribes = 1;
    for snapshot in bad {
        control.connection().send(Ok(text(snapshot))).unwrap();
        let error = table.next().await.unwrap().unwrap_err();
        assert!(
            matches!(error, Error::Malformed(_)),
            "{snapshot}: {error:?}"
        );
        assert_eq!(rows(&table), before, "{snapshot}");
        assert_eq!(table.version(), Some(1));
        subscribes += 1;
        resubscribed(&mut table, &control, subscribes).await;
    }

    // A state past the bound.
    let large = format!(
        r#"{{"version":5,"data":{{"a":{{"n":7,"note":"{}"}}}}}}"#,
        "x".repeat(400)
    );
    control.connection().send(Ok(text(large))).unwrap();
    let error = table.next().await.unwrap().unwrap_err();
    assert!(
        matches!(error, Error::StateTooLarge { max: 400 }),
        "{error:?}"
    );
    assert_eq!(rows(&table), before);
    subscribes += 1;
    resubscribed(&mut table, &control, subscribes).await;

    // Too large, too deep: refused before it is kept.
    let small = Limits::default().max_snapshot_bytes(64).max_depth(3);
    let long = format!(r#"{{"version":5,"data":{{"a":"{}"}}}}"#, "x".repeat(64));
    assert!(matches!(
        SnapshotText::read(long, &small),
        Err(Error::TooLarge { max: 64, .. })
    ));
    let deep = r#"{"version":5,"data":{"a":{"b":{"c":{"d":1}}}}}"#;
    assert!(matches!(
        SnapshotText::read(deep, &small),
        Err(Error::TooDeep { max: 3 })
    ));

    // A good snapshot with a row that does not decode: that row is named,
    // keeps its last good value, and the rest is taken.
    control
        .connection()
        .send(Ok(text(
            r#"{"version":6,"data":{"a":{"n":"seven"},"b":{"n":8},"c":{"n":9}}}"#,
        )))
        .unwrap();
    let error = table.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Row { key, problem: RowError::Decode(_), version: Some(6) } if key == "a"),
        "{error:?}"
    );
    let reset = table.next().await.unwrap().unwrap();
    assert!(reset.is_reset());
    assert_eq!(
        rows(&table),
        [
            ("a".to_owned(), 1),
            ("b".to_owned(), 8),
            ("c".to_owned(), 9)
        ]
    );
    assert_eq!(table.version(), Some(6));
}

/// A snapshot whose members are in another order than the servers write
/// them, or that is no object, is read whole, as before.
#[tokio::test]
async fn a_snapshot_text_in_another_form_is_read_whole() {
    for (snapshot, version, state) in [
        (
            r#"{"data":{"a":{"n":1}},"version":4}"#,
            4,
            json!({"a": {"n": 1}}),
        ),
        (
            r#"{"version":4,"data":{"a\u0062":{"n":1}}}"#,
            4,
            json!({"ab": {"n": 1}}),
        ),
        (r#"{"version":4,"data":[1,2]}"#, 4, json!([1, 2])),
    ] {
        let (source, control) = scripted(None);
        let mut resource = LiveResource::<Value>::connect(source);
        assert!(futures::poll!(resource.next()).is_pending());
        control.connection().send(Ok(text(snapshot))).unwrap();
        assert_eq!(resource.next().await.unwrap().unwrap(), state, "{snapshot}");
        assert_eq!(resource.version(), Some(version), "{snapshot}");
    }
}

/// A source whose snapshots are fetched as text, as `HttpSnapshot` (and
/// so `SseSource`) fetches them for a resource; its updates are the
/// scripted source's.
struct FetchedAsText {
    updates: Scripted,
    snapshots: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl SnapshotSource for FetchedAsText {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        Err("a resource fetches with `snapshot_paged`".into())
    }

    async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
        let text = self
            .snapshots
            .lock()
            .unwrap()
            .pop()
            .ok_or("no more snapshots")?;
        Ok(Fetched::Text(SnapshotText::read(text, &Limits::default())?))
    }
}

#[async_trait::async_trait]
impl UpdateSource for FetchedAsText {
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        self.updates.updates(since).await
    }
}

/// A snapshot a source fetches as text (not one that comes on the update
/// stream) is read a page a poll too, and the updates that come while it
/// is read follow it.
#[tokio::test]
async fn a_snapshot_fetched_as_text_is_read_a_page_a_poll() {
    let rows = 10_000;
    let (updates, control) = scripted(None);
    let source = FetchedAsText {
        updates,
        snapshots: std::sync::Mutex::new(vec![table_text(10, rows)]),
    };
    let mut table = LiveCollection::<String, Counted>::connect(source);
    let (mut reading, mut polls, mut sent) = (0, 0, false);
    let first = loop {
        let before = decoded();
        let poll = futures::poll!(table.next());
        let decoded = decoded() - before;
        assert!(decoded <= 1000, "{decoded} rows decoded in one poll");
        reading += usize::from(before == 0 && decoded == 0);
        polls += 1;
        assert!(polls < 1000, "the snapshot is read");
        if reading == 3 && !sent {
            sent = true;
            let connection = control.connection();
            connection
                .send(update(11, json!({"r00001": {"n": 11}})))
                .unwrap();
        }
        match poll {
            Poll::Ready(event) => break event.unwrap().unwrap(),
            Poll::Pending => tokio::task::yield_now().await,
        }
    };
    assert!(reading >= 10, "the 2 MB text read over {reading} polls");
    assert!(first.is_reset());
    assert_eq!(first.changes().len(), rows as usize);
    assert_eq!(table.version(), Some(10));
    let Event::Row { version, change } = table.next().await.unwrap().unwrap() else {
        panic!("a row event");
    };
    assert_eq!((version, change.key().as_str()), (Some(11), "r00001"));
    assert_eq!(table.get(&"r00001".into()), Some(&Counted { n: 11 }));
}
