//! A live job-progress resource, the way a web client builds one by hand:
//! a REST snapshot plus a socket of partial updates. Here both are simulated in
//! process; one update races the snapshot and one arrives twice, and the
//! resource still shows every record exactly once.
//!
//! Run it with `cargo run --example quickstart`.

use std::time::Duration;

use futures::StreamExt;
use live_resource::{LiveResource, Snapshot, Update};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// What the consumer wants to see: a typed view of the JSON state.
#[derive(Debug, Deserialize)]
struct Job {
    name: String,
    done: u32,
    total: u32,
    last_record: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), live_resource::Error> {
    let (socket, updates) = mpsc::channel::<Result<Update, std::io::Error>>(16);

    // The "socket": update 3 is sent while the snapshot (at version 2) is still
    // in flight, update 4 is sent twice, then the job runs to the end.
    tokio::spawn(async move {
        let progress = |seq: u64, done: u32| {
            Update::merge(
                seq,
                json!({"done": done, "last_record": format!("record-{done}")}),
            )
        };
        socket.send(Ok(progress(3, 30))).await.ok();
        tokio::time::sleep(Duration::from_millis(60)).await;
        for (seq, done) in [
            (4, 40),
            (4, 40),
            (5, 50),
            (6, 60),
            (7, 70),
            (8, 80),
            (9, 90),
            (10, 100),
        ] {
            socket.send(Ok(progress(seq, done))).await.ok();
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });

    // The "REST call": slower than the first update.
    let snapshot = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok::<_, std::io::Error>(Snapshot::new(
            2,
            json!({"name": "generate-records", "done": 20, "total": 100, "last_record": null}),
        ))
    };

    let mut job = LiveResource::<Job>::new(snapshot, ReceiverStream::new(updates));
    while let Some(state) = job.next().await {
        let state = state?;
        println!(
            "v{:<3} {} {:>3}/{} last={}",
            job.version().unwrap_or_default(),
            state.name,
            state.done,
            state.total,
            state.last_record.as_deref().unwrap_or("-"),
        );
    }
    println!("the update stream ended; final version {:?}", job.version());
    Ok(())
}
