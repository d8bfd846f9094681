//! The record-generation job's live table, `records`: rows are generated,
//! then processed, then done; the oldest done rows are removed, so the table
//! stays a few hundred rows long. Each tick's changes are one batch: one
//! update carrying only the rows it touches, so a page that merges the
//! topic's patches and a Rust `LiveCollection` both follow it.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use live_resource::hub::{Batch, Publish};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The topic of the table.
pub(crate) const TOPIC: &str = "records";

/// The most rows that are done before the oldest of them go.
const DONE_KEPT: usize = 200;

/// One record, as the table holds it, keyed by its `id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) status: Status,
    pub(crate) value: f64,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
}

/// Where a record is in the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Generated,
    Processing,
    Done,
}

/// Empties the table and starts the job, on any hub.
pub(crate) async fn start<P: Publish + Clone + 'static>(hub: &P) -> live_resource::Result<()> {
    hub.collection(TOPIC).clear().await?;
    let hub = hub.clone();
    tokio::spawn(async move {
        let mut job = Job::default();
        let mut timer = tokio::time::interval(Duration::from_millis(250));
        loop {
            timer.tick().await;
            if let Err(error) = hub.collection(TOPIC).write(job.tick()).await {
                eprintln!("publishing records failed: {error}");
            }
        }
    });
    Ok(())
}

/// The job's own view of its records, oldest first.
#[derive(Default)]
struct Job {
    next: u64,
    tick: u64,
    records: VecDeque<(String, Status, u64)>,
}

impl Job {
    /// One step of the job: new records, records taken up and finished, the
    /// oldest finished ones dropped; as one batch.
    fn tick(&mut self) -> Batch {
        self.tick += 1;
        let now = now_ms();
        let mut batch = Batch::new();
        for (id, status, since) in &mut self.records {
            let age = self.tick - *since;
            match status {
                Status::Generated if age >= 2 => {
                    *status = Status::Processing;
                    *since = self.tick;
                    batch =
                        batch.patch_row(&**id, json!({"status": "processing", "updated_ms": now}));
                }
                Status::Processing if age >= 3 => {
                    *status = Status::Done;
                    // A value that looks measured: a hash of the id, from 0 to 99.9.
                    let value = id.bytes().fold(self.tick, |hash, byte| {
                        hash.wrapping_mul(31).wrapping_add(u64::from(byte))
                    }) % 1000;
                    batch = batch.patch_row(
                        &**id,
                        json!({"status": "done", "value": value as f64 / 10.0, "updated_ms": now}),
                    );
                }
                _ => {}
            }
        }
        for _ in 0..1 + self.tick % 2 {
            self.next += 1;
            let id = format!("r{:06}", self.next);
            let record = Record {
                id: id.clone(),
                status: Status::Generated,
                value: 0.0,
                created_ms: now,
                updated_ms: now,
            };
            batch = batch.insert(&*id, record);
            self.records.push_back((id, Status::Generated, self.tick));
        }
        let done = self
            .records
            .iter()
            .filter(|(_, status, _)| *status == Status::Done)
            .count();
        let mut excess = done.saturating_sub(DONE_KEPT);
        self.records.retain(|(id, status, _)| {
            let drop = excess > 0 && *status == Status::Done;
            if drop {
                excess -= 1;
                batch = std::mem::take(&mut batch).remove(&**id);
            }
            !drop
        });
        batch
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
