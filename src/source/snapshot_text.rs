//! [`SnapshotText`]: a snapshot still in its wire text, for a resource to
//! read a page at a time.

use std::fmt;
use std::sync::Arc;

use crate::{Error, Snapshot};

/// A snapshot as it came over the wire, its state not read yet: a
/// resource reads the state in pages, a few hundred kilobytes a poll, so
/// that a large snapshot does not stall the consumer's task for the whole
/// parse (see [`UpdateSource::updates_paged`](super::UpdateSource::updates_paged)).
///
/// The text has been checked against the [`Limits`](crate::Limits) on size
/// and depth, and its version read; what is wrong inside the state is found
/// as it is read, and refuses the whole snapshot (the resource keeps the
/// state it had).
#[derive(Clone)]
pub struct SnapshotText {
    /// The whole message, shared by the subscribers it is handed to.
    text: Arc<str>,
    version: Option<u64>,
    /// Where the value of the message's `data` begins.
    data: usize,
}

impl SnapshotText {
    /// `text`, whose `data` member's value begins at byte `data`, the
    /// members before it (`version` among them) read already.
    pub(crate) fn new(text: Arc<str>, version: Option<u64>, data: usize) -> Self {
        Self {
            text,
            version,
            data,
        }
    }

    /// The version of the state: the `seq` of the last update it includes.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The whole message's text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Where the value of `data` begins in [`SnapshotText::text`].
    pub(crate) fn data_start(&self) -> usize {
        self.data
    }

    /// The snapshot read whole, as a source that does not page gives it.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] when the text is not a snapshot.
    pub fn to_snapshot(&self) -> Result<Snapshot, Error> {
        serde_json::from_str(&self.text).map_err(Error::Malformed)
    }
}

impl PartialEq for SnapshotText {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version && self.text[self.data..] == other.text[other.data..]
    }
}

impl fmt::Debug for SnapshotText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotText")
            .field("version", &self.version)
            .field("bytes", &self.text.len())
            .finish_non_exhaustive()
    }
}
