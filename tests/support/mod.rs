//! Helpers shared by the integration tests: each test binary (`core`,
//! `clients`, `server`, `network`) declares this module once, as
//! `#[path = "../support/mod.rs"] mod support;`, and its test modules use
//! `crate::support::...`.
//!
//! Each binary uses a part of the helpers, and under fewer features a smaller
//! part; hence the `#[allow(dead_code)]` on the modules.

#[allow(dead_code)]
pub(crate) mod arbitrary;
#[cfg(feature = "server")]
#[allow(dead_code)]
pub(crate) mod fake_server;
#[allow(dead_code)]
pub(crate) mod follower;
#[allow(dead_code)]
pub(crate) mod frame_dropper;
#[allow(dead_code)]
pub(crate) mod rng;
#[allow(dead_code)]
pub(crate) mod scripted;
#[cfg(feature = "server")]
#[allow(dead_code)]
pub(crate) mod served;
#[allow(dead_code)]
pub(crate) mod splice;

use std::panic::Location;
use std::path::PathBuf;
use std::time::Duration;

use live_resource::Backoff;
use serde::de::DeserializeOwned;

/// How long one step of a test over real connections (or with a Node peer)
/// may take before the test fails.
#[allow(dead_code)] // Not every test binary talks over connections.
pub(crate) const STEP: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test, with the caller's line, if it takes
/// longer than [`STEP`].
#[allow(dead_code)] // Not every test binary talks over connections.
#[track_caller]
pub(crate) fn within<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let caller = Location::caller();
    async move {
        tokio::time::timeout(STEP, future)
            .await
            .unwrap_or_else(|_| panic!("the step at {caller} took more than {STEP:?}"))
    }
}

/// A one-thread runtime on the paused clock, for property tests that run
/// many cases each with their own hub: time moves only when every task
/// waits, so timeouts and backoffs cost no real time.
#[allow(dead_code)] // Only the core binary's property tests use it.
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// The backoff of a resource over real connections in a test: retries within
/// 20 to 100 ms instead of seconds, and delays that start over after half a
/// second of health, so that many cuts in a row do not keep them at the
/// longest.
#[allow(dead_code)] // Not every test binary reconnects.
pub(crate) fn fast_backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(20))
        .max(Duration::from_millis(100))
        .healthy_after(Duration::from_millis(500))
}

/// Reads the spec vectors in `tests/data/{name}`.
///
/// Panics with the path and the cause when the file is missing or does not
/// parse: a broken data file is a broken test, not a skipped one.
#[allow(dead_code)] // Not every test crate reads spec vectors.
pub(crate) fn vectors<T: DeserializeOwned>(name: &str) -> Vec<T> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    let vectors: Vec<T> = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("parsing {}: {err}", path.display()));
    assert!(!vectors.is_empty(), "{} holds no vectors", path.display());
    vectors
}

/// The least and the most the delay before retry `attempt` (counted from 0
/// after a healthy period) may be, as `Backoff`'s documentation says:
/// up to `initial` for the first, then a random 50 % to 150 % of `initial`
/// doubled each time, never more than `max`. Written here from the
/// documentation, not taken from the crate, so the tests hold the crate to it.
#[allow(dead_code)] // Only the backoff tests use it.
pub(crate) fn documented_delay_bounds(
    initial: Duration,
    max: Duration,
    attempt: u32,
) -> (Duration, Duration) {
    if attempt == 0 {
        return (Duration::ZERO, initial.min(max));
    }
    let doubled = (1..attempt).fold(initial, |delay, _| delay.saturating_mul(2));
    let base = doubled.min(max);
    (base / 2, (base * 3 / 2).min(max))
}

/// Every status a watcher of `resource` sees from now on, the current one
/// first (a watcher hears of changes only, so each differs from the last).
#[allow(dead_code)] // Only the status tests use it.
pub(crate) fn statuses(
    resource: &live_resource::LiveResource<serde_json::Value>,
) -> std::sync::Arc<std::sync::Mutex<Vec<live_resource::Status>>> {
    let mut status = resource.status();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![
        status.borrow_and_update().clone(),
    ]));
    let record = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let now = status.borrow_and_update().clone();
            record.lock().unwrap().push(now);
        }
    });
    seen
}

/// `error` and its causes, `: `-separated, as `anyhow` prints them with
/// `{:#}`: each level's own message leaves its cause out, so the whole story
/// is the chain. A `Permanent` mark shows its error's message and causes as
/// its own, so it is looked through. Panics if a level repeats the message
/// of the level below, which would print the cause twice.
#[allow(dead_code)] // Not every test binary reads chains.
#[track_caller]
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut levels: Vec<String> = Vec::new();
    let mut cause = Some(error);
    while let Some(error) = cause {
        cause = match error.downcast_ref::<live_resource::source::Permanent>() {
            Some(permanent) => Some(permanent.get_ref()),
            None => {
                levels.push(error.to_string());
                error.source()
            }
        };
    }
    for pair in levels.windows(2) {
        assert!(
            !pair[0].contains(pair[1].as_str()),
            "{:?} repeats its cause {:?}",
            pair[0],
            pair[1]
        );
    }
    levels.join(": ")
}
