//! One topic's authoritative state: value, version, replay ring and fan-out.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{Counters, Frame, Subscription};
use crate::limits::StateSize;
use crate::patch::{diff, effect};
use crate::{Document, Error, Limits, Patch, Snapshot, Update};

pub(super) struct Topic {
    name: Arc<str>,
    state: Mutex<State>,
    /// Sends each frame to every live subscriber; each receiver is a bounded
    /// queue that reports when it fell behind.
    fanout: broadcast::Sender<Fanout>,
}

/// What the fan-out carries to live subscribers.
#[derive(Clone, Debug)]
pub(super) enum Fanout {
    /// The next update.
    Frame(Arc<Frame>),
    /// The topic's history was replaced: every subscriber resyncs.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Reset,
}

struct State {
    /// The value, hash-indexed: a merge looks up each key it touches in
    /// O(1), whatever the size of the object around it.
    value: Document,
    version: u64,
    /// The value as JSON text, made when a subscriber first asks for it at
    /// this version and shared by all who ask for it until the next change
    /// (which drops it): a snapshot costs one serialization per version, not
    /// one per subscriber. Kept as a `str` (one copy of the text made, once
    /// a version), so that each consumer in the same process reads it with
    /// no copy and no check of its UTF-8.
    text: Option<(u64, Arc<str>)>,
    /// The most recent frames, oldest first, for subscribers that resume.
    ring: VecDeque<Arc<Frame>>,
    ring_capacity: usize,
    /// How large the value may be now, for [`Limits::max_state_bytes`].
    size: StateSize,
}

impl Topic {
    pub(super) fn new(
        name: &str,
        (value, size): (Value, StateSize),
        version: u64,
        ring_capacity: usize,
        queue: usize,
    ) -> Self {
        Self {
            name: name.into(),
            state: Mutex::new(State {
                value: Document::from(value),
                version,
                text: None,
                ring: VecDeque::with_capacity(ring_capacity.min(64)),
                ring_capacity,
                size,
            }),
            fanout: broadcast::channel(queue.max(1)).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the state half-changed:
        // every change is applied atomically before anything else is touched.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn version(&self) -> u64 {
        self.lock().version
    }

    pub(super) fn subscribers(&self) -> usize {
        self.fanout.receiver_count()
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot::new(state.version, state.value.to_value())
    }

    /// The version and the value as JSON text, shared.
    pub(super) fn snapshot_text(&self) -> Snapshot<Bytes> {
        let mut state = self.lock();
        Snapshot::new(state.version, state.text())
    }

    pub(super) fn read<R>(&self, read: impl FnOnce(&Document, u64) -> R) -> R {
        let state = self.lock();
        read(&state.value, state.version)
    }

    /// Publishes `patch` as the next update, unless it changes nothing.
    /// Returns the topic's version after the call.
    pub(super) fn publish(
        &self,
        patch: Patch,
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error> {
        // Its depth checked before the lock is taken, what it reaches under it.
        limits.check_patch(&patch)?;
        let mut state = self.lock();
        let copied = limits.check_reach(&state.value, &patch)?;
        if !effect::changes(&state.value, &patch) {
            // Nothing to publish, but a JSON Patch's `test` operations are
            // preconditions: they must still hold. Applying a patch found to
            // change nothing leaves the value as it is.
            if matches!(patch, Patch::Json(_)) {
                state.value.apply(&patch)?;
                // Equal is not identical: `-0.0` in place of `0.0` changes
                // nothing a subscriber sees, but it changes the text.
                state.text = None;
            }
            return Ok(state.version);
        }
        self.publish_locked(&mut state, patch, copied, limits, counters)
    }

    /// Calls `change` on a copy of the value at `pointer` and publishes the
    /// difference, made a patch of the whole value.
    pub(super) fn update_at(
        &self,
        pointer: &str,
        change: impl FnOnce(&mut Value),
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error> {
        self.publish_made(
            |value| crate::patch::at::change_at(value, pointer, change),
            limits,
            counters,
        )
    }

    /// Makes row writes to the table that is the topic's value, and
    /// publishes them as one update.
    pub(super) fn write_rows(
        &self,
        writes: &[crate::patch::rows::RowWrite],
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error> {
        self.publish_made(
            |value| crate::patch::rows::rows_patch(value, writes),
            limits,
            counters,
        )
    }

    /// Publishes the patch `make` makes from the value, under the topic's
    /// lock so that nothing falls in between; `None` from `make` publishes
    /// nothing.
    fn publish_made(
        &self,
        make: impl FnOnce(&Document) -> Result<Option<Patch>, Error>,
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error> {
        let mut state = self.lock();
        let Some(patch) = make(&state.value)? else {
            return Ok(state.version);
        };
        let copied = limits.check_write(&state.value, &patch)?;
        self.publish_locked(&mut state, patch, copied, limits, counters)
    }

    /// Reads the value as a `T`, calls `change` on it, and publishes the
    /// difference, all under the topic's lock.
    pub(super) fn update_as<T>(
        &self,
        change: impl FnOnce(&mut T),
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut state = self.lock();
        let mut typed = T::deserialize(&state.value).map_err(|source| Error::Decode {
            version: Some(state.version),
            source,
        })?;
        change(&mut typed);
        let next = serde_json::to_value(&typed).map_err(Error::Encode)?;
        self.replace_locked(&mut state, next, limits, counters)
    }

    /// Makes `value` the topic's value, publishing the difference.
    pub(super) fn set(
        &self,
        value: Value,
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error> {
        let mut state = self.lock();
        self.replace_locked(&mut state, value, limits, counters)
    }

    fn replace_locked(
        &self,
        state: &mut State,
        next: Value,
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error> {
        if crate::limits::value_depth(&next) > limits.max_depth {
            return Err(Error::TooDeep {
                max: limits.max_depth,
            });
        }
        let size = StateSize::measure(&next, limits)?;
        let Some(patch) = diff::diff(&state.value, &next) else {
            return Ok(state.version);
        };
        let frame = prepare(&self.name, state, patch, limits)?;
        // The diff, applied, gives exactly `next`, at the cost of the diff
        // rather than of a new index of the whole value.
        state.value.apply(&frame.update().patch)?;
        state.size = size;
        Ok(self.commit(state, frame, counters))
    }

    /// Publishes `patch`, which copies `copied` bytes of the value (a JSON
    /// Patch's `copy` operations).
    fn publish_locked(
        &self,
        state: &mut State,
        patch: Patch,
        copied: usize,
        limits: &Limits,
        counters: &Counters,
    ) -> Result<u64, Error> {
        let frame = prepare(&self.name, state, patch, limits)?;
        if let Patch::Replace(value) = &frame.update().patch {
            // The old value goes: only the new one counts.
            state.size = StateSize::measure(value, limits)?;
        } else {
            // The update's text, made once for every subscriber, bounds what
            // the patch itself adds: no second pass over the patch.
            let growth = frame.bytes().len().saturating_add(copied);
            state.size.admit(&state.value, growth, limits)?;
        }
        // A patch that does not apply leaves value, version and subscribers
        // untouched: `apply` is atomic and nothing was committed yet.
        state.value.apply(&frame.update().patch)?;
        Ok(self.commit(state, frame, counters))
    }

    /// Makes the prepared frame the topic's next version: into the ring and
    /// out to every subscriber.
    fn commit(&self, state: &mut State, frame: Frame, counters: &Counters) -> u64 {
        state.version = frame.seq();
        // The text of the old version is no use to anyone now: free it.
        state.text = None;
        let frame = Arc::new(frame);
        if state.ring_capacity > 0 {
            if state.ring.len() == state.ring_capacity {
                state.ring.pop_front();
            }
            state.ring.push_back(Arc::clone(&frame));
        }
        counters.published.fetch_add(1, Ordering::Relaxed);
        crate::metrics::published();
        // Having no receiver is not an error: nobody is listening yet.
        let _ = self.fanout.send(Fanout::Frame(frame));
        state.version
    }

    /// The state as JSON text, and the update that made its version if the
    /// ring has it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn latest(&self) -> (Snapshot<Bytes>, Option<Bytes>) {
        let mut state = self.lock();
        let update = state
            .ring
            .back()
            .filter(|frame| frame.seq() == state.version)
            .map(|frame| frame.bytes().clone());
        (Snapshot::new(state.version, state.text()), update)
    }

    /// Replaces the topic's state and history with `value` at `version`
    /// (a backplane's topic reloaded): the ring is emptied, so no one resumes
    /// across the seam, and every live subscriber resyncs.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn reset(&self, version: u64, (value, size): (Value, StateSize)) {
        let mut state = self.lock();
        state.value = Document::from(value);
        state.size = size;
        state.version = version;
        state.text = None;
        state.ring.clear();
        let _ = self.fanout.send(Fanout::Reset);
    }

    /// Sends every live subscriber a resync, the state and ring unchanged.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn resync_all(&self) {
        let _state = self.lock();
        let _ = self.fanout.send(Fanout::Reset);
    }

    /// Applies an update numbered elsewhere (by a backplane), whose wire
    /// text is `text`: subscribers get those very bytes.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn apply_numbered(
        &self,
        update: Update,
        text: Bytes,
        limits: &Limits,
        counters: &Counters,
    ) -> Result<Numbered, Error> {
        let Some(seq) = update.seq else {
            return Err(Error::Malformed(serde::de::Error::custom(
                "a numbered update has no `seq`",
            )));
        };
        let mut state = self.lock();
        if seq <= state.version {
            // Seen already, or a different update under a number seen: the
            // history this replica follows was rewritten.
            // The ring holds every version from its oldest to the current one.
            let oldest = state.ring.front().map_or(state.version + 1, |f| f.seq());
            if seq < oldest {
                return Ok(Numbered::Unknown);
            }
            let held = &state.ring[(seq - oldest) as usize];
            return Ok(if held.bytes() == &text {
                Numbered::Duplicate
            } else {
                Numbered::Diverged
            });
        }
        if seq != state.version + 1 {
            return Ok(Numbered::Gap {
                version: state.version,
            });
        }
        let state = &mut *state;
        let copied = limits.check_write(&state.value, &update.patch)?;
        let growth = text.len().saturating_add(copied);
        state.size.admit(&state.value, growth, limits)?;
        state.value.apply(&update.patch)?;
        let frame = Frame::new(Arc::clone(&self.name), update, text);
        self.commit(state, frame, counters);
        Ok(Numbered::Applied)
    }

    /// A subscription that resumes after `since` (or starts now), taken under
    /// the same lock as the state so that no update falls in between.
    pub(super) fn subscribe(&self, since: Option<u64>, counters: Arc<Counters>) -> Subscription {
        let state = self.lock();
        let live = self.fanout.subscribe();
        let (resync, replay) = match since {
            None => (false, Vec::new()),
            Some(since) if since == state.version => (false, Vec::new()),
            Some(since) if since > state.version => (true, Vec::new()),
            Some(since) => {
                let oldest = state.ring.front().map_or(state.version + 1, |f| f.seq());
                if since + 1 < oldest {
                    (true, Vec::new())
                } else {
                    let skip = (since + 1 - oldest) as usize;
                    (false, state.ring.iter().skip(skip).cloned().collect())
                }
            }
        };
        drop(state);
        if resync {
            counters.resyncs.fetch_add(1, Ordering::Relaxed);
        }
        Subscription::new(Arc::clone(&self.name), resync, replay, live, counters)
    }

    /// The snapshot as shared JSON text and a live subscription, taken
    /// atomically.
    pub(super) fn subscribe_with_snapshot_text(
        &self,
        counters: Arc<Counters>,
    ) -> (Snapshot<Arc<str>>, Subscription) {
        let mut state = self.lock();
        let live = self.fanout.subscribe();
        let snapshot = Snapshot::new(state.version, state.shared_text());
        drop(state);
        let subscription =
            Subscription::new(Arc::clone(&self.name), false, Vec::new(), live, counters);
        (snapshot, subscription)
    }

    /// The snapshot and a live subscription, taken atomically.
    pub(super) fn subscribe_with_snapshot(
        &self,
        counters: Arc<Counters>,
    ) -> (Snapshot, Subscription) {
        let state = self.lock();
        let live = self.fanout.subscribe();
        let snapshot = Snapshot::new(state.version, state.value.to_value());
        drop(state);
        (
            snapshot,
            Subscription::new(Arc::clone(&self.name), false, Vec::new(), live, counters),
        )
    }
}

impl State {
    /// The value's JSON text at the current version, made if it is not yet.
    fn shared_text(&mut self) -> Arc<str> {
        match &self.text {
            Some((version, text)) if *version == self.version => Arc::clone(text),
            _ => {
                let text: Arc<str> = serde_json::to_string(&self.value)
                    .expect("JSON values always serialize")
                    .into();
                self.text = Some((self.version, Arc::clone(&text)));
                text
            }
        }
    }

    /// [`State::shared_text`], as the bytes the transports send.
    fn text(&mut self) -> Bytes {
        JsonText::bytes(self.shared_text())
    }
}

/// A state's shared JSON text, owning the bytes a [`Bytes`] of it shows.
pub(crate) struct JsonText(Arc<str>);

impl JsonText {
    /// `text`'s bytes, shared, not copied.
    pub(crate) fn bytes(text: Arc<str>) -> Bytes {
        Bytes::from_owner(Self(text))
    }
}

impl AsRef<[u8]> for JsonText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// What became of an update numbered elsewhere.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Numbered {
    /// It was the next version: applied and delivered.
    Applied,
    /// This version was applied already, with the same text.
    Duplicate,
    /// The replica is past this version but no longer holds its text (it
    /// left the ring, or the replica was loaded from a later snapshot):
    /// nothing to compare it with.
    Unknown,
    /// This version was applied already with a different text: the history
    /// was rewritten under the replica.
    Diverged,
    /// Updates are missing between the replica's version and this one.
    Gap {
        /// The replica's version.
        version: u64,
    },
}

/// Numbers and serializes the next update, once, and checks its size. Nothing
/// is changed yet.
fn prepare(topic: &Arc<str>, state: &State, patch: Patch, limits: &Limits) -> Result<Frame, Error> {
    let update = Update {
        seq: Some(state.version + 1),
        patch,
    };
    let bytes = serde_json::to_vec(&update).expect("JSON values always serialize");
    if bytes.len() > limits.max_message_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    Ok(Frame::new(Arc::clone(topic), update, Bytes::from(bytes)))
}
