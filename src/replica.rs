//! The handoff rules, as a synchronous state machine: a JSON state, its
//! version, and what each arriving update does to them.
//!
//! Every driver (the one-shot [`LiveResource::new`](crate::LiveResource::new)
//! and the resilient ones) shares these rules, so they are stated once here.

mod journal;
mod load;

pub(crate) use journal::{Ahead, Changes, Shift};
pub(crate) use load::Load;

use crate::limits::StateSize;
use crate::{Document, Error, Limits, Snapshot, Update};

/// A JSON state kept current by updates.
#[derive(Debug)]
pub(crate) struct Replica {
    state: Document,
    /// The `seq` of the last update the state includes; `None` until a
    /// versioned snapshot or a sequenced update says otherwise.
    version: Option<u64>,
    /// How large the state may be now, for [`Limits::max_state_bytes`].
    size: StateSize,
    /// What the changes since they were last taken did, when asked to
    /// record them (a table's rows, see `journal.rs`).
    journal: Option<Changes>,
}

/// What an update offered to a [`Replica`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// The update changed the state.
    Applied,
    /// The update was already in the state and was dropped.
    Duplicate,
}

impl Replica {
    /// The state of `snapshot`.
    ///
    /// # Errors
    ///
    /// [`Error::StateTooLarge`] past [`Limits::max_state_bytes`].
    pub(crate) fn new(snapshot: Snapshot, limits: &Limits) -> Result<Self, Error> {
        Self::measured(Document::from(snapshot.data), snapshot.version, limits)
    }

    /// The state `state` at `version`, measured against the bound.
    ///
    /// # Errors
    ///
    /// [`Error::StateTooLarge`] past [`Limits::max_state_bytes`].
    fn measured(state: Document, version: Option<u64>, limits: &Limits) -> Result<Self, Error> {
        let size = StateSize::measure(&state, limits)?;
        Ok(Self::sized(state, version, size))
    }

    /// The state `state` at `version`, whose size is known.
    fn sized(state: Document, version: Option<u64>, size: StateSize) -> Self {
        Self {
            state,
            version,
            size,
            journal: None,
        }
    }

    /// Records from now on what each change does; the first record is
    /// that the state came whole, after `previous` (or after nothing).
    pub(crate) fn record(&mut self, previous: Option<Document>) {
        self.journal = Some(Changes::Whole { previous });
    }

    /// What the changes since the last call did; quiet when not recording.
    pub(crate) fn take_changes(&mut self) -> Changes {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Whether the replica records its changes.
    pub(crate) fn records(&self) -> bool {
        self.journal.is_some()
    }

    /// The state, given up.
    pub(crate) fn into_state(self) -> Document {
        self.state
    }

    pub(crate) fn state(&self) -> &Document {
        &self.state
    }

    pub(crate) fn version(&self) -> Option<u64> {
        self.version
    }

    /// The state decoded into `T`.
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.state).map_err(|source| Error::Decode {
            version: self.version,
            source,
        })
    }

    /// Applies `update` if it is the next one, drops it if it is already in.
    /// A table's changes are recorded, and `ahead` told the place of each row
    /// they name before they are made ([`Ahead`]).
    ///
    /// # Errors
    ///
    /// [`Error::Gap`] when updates are missing before it; [`Error::TooDeep`],
    /// [`Error::StateTooLarge`], [`Error::Apply`] or [`Error::Malformed`] (a
    /// patch read lazily that is not JSON) when the patch is refused. The state is untouched by an
    /// update that errs. An update the state already includes is dropped
    /// unread.
    pub(crate) fn offer(
        &mut self,
        update: Update,
        limits: &Limits,
        ahead: Ahead<'_>,
    ) -> Result<Offer, Error> {
        match (self.version, update.seq) {
            (Some(current), Some(seq)) if seq <= current => return Ok(Offer::Duplicate),
            (Some(current), Some(seq)) if seq - current > 1 => {
                return Err(Error::Gap {
                    expected: current + 1,
                    received: seq,
                });
            }
            _ => {}
        }
        let growth = limits.check_growth(&self.state, &update.patch)?;
        self.size.admit(&self.state, growth, limits)?;
        match &mut self.journal {
            None => self.state.apply_owned(update.patch)?,
            Some(journal) => journal.then(journal::apply(&mut self.state, update.patch, ahead)?),
        }
        // An unversioned state adopts the first sequence number it sees: from
        // then on, gaps and duplicates are caught.
        if update.seq.is_some() {
            self.version = update.seq;
        }
        Ok(Offer::Applied)
    }
}

/// Updates that arrived before the snapshot, bounded.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    updates: Vec<Update>,
}

impl Backlog {
    /// Holds `update` until the snapshot comes.
    ///
    /// # Errors
    ///
    /// [`Error::BufferOverflow`] past [`Limits::max_buffered_updates`].
    pub(crate) fn push(&mut self, update: Update, limits: &Limits) -> Result<(), Error> {
        if self.updates.len() >= limits.max_buffered_updates {
            return Err(Error::BufferOverflow {
                max: limits.max_buffered_updates,
            });
        }
        self.updates.push(update);
        Ok(())
    }

    /// The held updates in the order they should be offered: by `seq` when
    /// every one has one (they may have arrived out of order while nothing was
    /// being applied), else in arrival order.
    pub(crate) fn into_replay(mut self) -> std::vec::IntoIter<Update> {
        if self.updates.iter().all(|update| update.seq.is_some()) {
            self.updates.sort_by_key(|update| update.seq);
        }
        self.updates.into_iter()
    }
}
