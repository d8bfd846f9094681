//! [`Event`] and [`RowChange`]: what happened to a table's rows.

use std::sync::Arc;

use crate::Patch;

/// What one change did to one row.
///
/// Rows are shared ([`Arc`]): an event hands out the row the table holds,
/// without a copy.
#[derive(Debug)]
#[non_exhaustive]
pub enum RowChange<K, T> {
    /// The row is new (or decodes again after it did not).
    Added {
        /// The row's key.
        key: K,
        /// The row.
        row: Arc<T>,
    },
    /// The row changed.
    Modified {
        /// The row's key.
        key: K,
        /// The row as it is now.
        row: Arc<T>,
        /// The change, as a patch of the row's JSON: the row's member of
        /// the update's merge patch, or its JSON Patch operations made
        /// inside the row, or, where the change was not one of the row alone
        /// (a `move` between rows), [`Patch::Replace`] with the row's JSON.
        patch: Patch,
    },
    /// The row is gone.
    Removed {
        /// The row's key.
        key: K,
        /// The row's last value.
        row: Arc<T>,
    },
}

impl<K, T> RowChange<K, T> {
    /// The row's key.
    pub fn key(&self) -> &K {
        match self {
            Self::Added { key, .. } | Self::Modified { key, .. } | Self::Removed { key, .. } => key,
        }
    }

    /// The row: as it is now, or for [`RowChange::Removed`] its last value.
    pub fn row(&self) -> &Arc<T> {
        match self {
            Self::Added { row, .. } | Self::Modified { row, .. } | Self::Removed { row, .. } => row,
        }
    }
}

impl<K: Clone, T> Clone for RowChange<K, T> {
    fn clone(&self) -> Self {
        match self {
            Self::Added { key, row } => Self::Added {
                key: key.clone(),
                row: Arc::clone(row),
            },
            Self::Modified { key, row, patch } => Self::Modified {
                key: key.clone(),
                row: Arc::clone(row),
                patch: patch.clone(),
            },
            Self::Removed { key, row } => Self::Removed {
                key: key.clone(),
                row: Arc::clone(row),
            },
        }
    }
}

/// What happened to a table, an item of a
/// [`LiveCollection`](super::LiveCollection)'s stream.
///
/// An update that touches several rows gives one `Row` event per row, all
/// with its version, in the order of its patch; when the first of them comes
/// the table already holds them all (as a Firestore query snapshot does).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<K, T> {
    /// One row changed, in the update numbered `version`.
    Row {
        /// The update's version.
        version: Option<u64>,
        /// What it did to the row.
        change: RowChange<K, T>,
    },
    /// A snapshot was swapped in (the first one too, or the state was
    /// replaced whole): `changes` are the rows it added, changed and
    /// removed. Rows whose JSON it did not change are not in it and were
    /// not decoded again.
    Reset {
        /// The snapshot's version.
        version: Option<u64>,
        /// Every row it changed.
        changes: Vec<RowChange<K, T>>,
    },
}

impl<K, T> Event<K, T> {
    /// The version of the table this event leaves.
    pub fn version(&self) -> Option<u64> {
        match self {
            Self::Row { version, .. } | Self::Reset { version, .. } => *version,
        }
    }

    /// The row changes of the event: one for a [`Event::Row`], each row a
    /// reset changed for an [`Event::Reset`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use live_resource::collection::{Event, RowChange};
    ///
    /// let event = Event::Row { version: Some(3), change: RowChange::Added { key: 1u32, row: Arc::new("one") } };
    /// assert_eq!(event.changes().len(), 1);
    /// assert_eq!(*event.changes()[0].key(), 1);
    /// ```
    pub fn changes(&self) -> &[RowChange<K, T>] {
        match self {
            Self::Row { change, .. } => std::slice::from_ref(change),
            Self::Reset { changes, .. } => changes,
        }
    }

    /// Whether this is a [`Event::Reset`].
    pub fn is_reset(&self) -> bool {
        matches!(self, Self::Reset { .. })
    }
}

impl<K: Clone, T> Clone for Event<K, T> {
    fn clone(&self) -> Self {
        match self {
            Self::Row { version, change } => Self::Row {
                version: *version,
                change: change.clone(),
            },
            Self::Reset { version, changes } => Self::Reset {
                version: *version,
                changes: changes.clone(),
            },
        }
    }
}
