//! [`SnapshotText`]: a snapshot still in its wire text, for a resource to
//! read a page at a time.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::text::Reader;
use crate::{Error, Limits, Snapshot};

/// A snapshot as it came over the wire, its state not read yet: a resource
/// reads the state in pages, 128 KiB a poll, so that a large snapshot does not
/// stall the consumer's task for the whole parse (see
/// [`UpdateSource::updates_paged`](super::UpdateSource::updates_paged) and
/// [`SnapshotSource::snapshot_paged`](super::SnapshotSource::snapshot_paged)).
///
/// The text has been checked against the [`Limits`](crate::Limits) on size
/// and depth, and its version read; what is wrong inside the state is found
/// as it is read, and refuses the whole snapshot (the resource keeps the
/// state it had).
///
/// # Examples
///
/// ```
/// use live_resource::source::SnapshotText;
/// use live_resource::{Limits, Snapshot};
/// use serde_json::json;
///
/// let text = SnapshotText::read(r#"{"version":17,"data":{"r1":{"n":1}}}"#, &Limits::default())?;
/// assert_eq!(text.version(), Some(17));
/// assert_eq!(text.to_snapshot()?, Snapshot::new(17, json!({"r1": {"n": 1}})));
/// # Ok::<(), live_resource::Error>(())
/// ```
#[derive(Clone)]
pub struct SnapshotText {
    /// The whole message, shared by the subscribers it is handed to.
    text: Arc<str>,
    version: Option<u64>,
    /// Where the value of the message's `data` begins; `None` when the
    /// message is read whole (its members in another order).
    data: Option<usize>,
    /// The text is the state alone, no message around it (a REST body,
    /// whose version came in a header): nothing may follow the state.
    bare: bool,
}

impl SnapshotText {
    /// `text`, whose `data` member's value begins at byte `data`, the
    /// members before it (`version` among them) read already.
    pub(crate) fn new(text: Arc<str>, version: Option<u64>, data: usize) -> Self {
        Self {
            text,
            version,
            data: Some(data),
            bare: false,
        }
    }

    /// `text`, the state alone with no message around it (a REST body, a
    /// hub's own text of its state), at `version`: its size and depth
    /// checked already (a REST body's against the client's limits, a hub's
    /// against the hub's).
    pub(crate) fn bare(text: Arc<str>, version: Option<u64>) -> Self {
        Self {
            text,
            version,
            data: Some(0),
            bare: true,
        }
    }

    /// A snapshot in the wire form, `{"version":17,"data":..}`, kept as
    /// text: its size and depth checked against `limits`, and its version
    /// read. A `version` after the `data` is found only by reading the
    /// whole text, which is then done now, and again when it is taken.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] or [`Error::TooDeep`]; [`Error::Malformed`] when
    /// the text does not begin as a snapshot object.
    pub fn read(text: impl Into<Arc<str>>, limits: &Limits) -> Result<Self, Error> {
        let text = text.into();
        limits.check_text(text.as_bytes(), limits.max_snapshot_bytes)?;
        let mut reader = Reader::new(&text);
        let quick = reader
            .expect(b'{')
            .ok()
            .and_then(|()| read_to_data(&mut reader, true));
        if let Some((version, data)) = quick {
            return Ok(Self::new(text, version, data));
        }
        let head: Snapshot<serde::de::IgnoredAny> =
            serde_json::from_str(&text).map_err(Error::Malformed)?;
        Ok(Self {
            version: head.version,
            text,
            data: None,
            bare: false,
        })
    }

    /// The version of the state (the `seq` of the last update it includes),
    /// as far as the message says before its `data`, which is where this
    /// crate's servers write it. A message that gives it after the state
    /// says `None` here; reading the state (as a resource does) finds it
    /// all the same. A state that came alone (a REST body, read by
    /// [`HttpSnapshot::rest`](crate::client::http::HttpSnapshot::rest)) has
    /// the version it came with, from a header.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The whole message's text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Where the value of `data` begins in [`SnapshotText::text`], if it
    /// is read in pages.
    pub(crate) fn data_start(&self) -> Option<usize> {
        self.data
    }

    /// The text from the state on (all of it when read whole).
    fn data_text(&self) -> &str {
        &self.text[self.data.unwrap_or(0)..]
    }

    /// The snapshot read whole, as a source that does not page gives it.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] when the text is not a snapshot.
    pub fn to_snapshot(&self) -> Result<Snapshot, Error> {
        self.read_whole()
    }

    /// Whether the text is the state alone, with nothing around it: see
    /// [`SnapshotText::bare`].
    pub(crate) fn is_bare(&self) -> bool {
        self.bare
    }

    /// The snapshot read whole by `serde_json`, its state into `T`: the
    /// message, or the state alone at the version it came with.
    pub(crate) fn read_whole<T: DeserializeOwned>(&self) -> Result<Snapshot<T>, Error> {
        if self.bare {
            let data = serde_json::from_str(&self.text).map_err(Error::Malformed)?;
            return Ok(Snapshot {
                version: self.version,
                data,
            });
        }
        serde_json::from_str(&self.text).map_err(Error::Malformed)
    }
}

impl PartialEq for SnapshotText {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.bare == other.bare
            && self.data_text() == other.data_text()
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

/// Reads a snapshot message's members from where `reader` is (past the
/// `{`, and past any members read already unless `first`) up to its
/// `data`: the version, if one came before, and where the state begins.
/// `None` for anything it is not sure of (a key with escapes, a member
/// twice, a version that is no plain number), which is read whole.
pub(crate) fn read_to_data(
    reader: &mut Reader<'_>,
    mut first: bool,
) -> Option<(Option<u64>, usize)> {
    let mut version = None;
    while let Some(key) = reader.plain_key(first).ok()? {
        first = false;
        match key {
            "version" if version.is_none() => version = Some(reader.optional_u64().ok()?),
            "data" => return Some((version.flatten(), reader.value_start())),
            "version" | "type" | "topic" => return None,
            _ => {
                reader.skip_value().ok()?;
            }
        }
    }
    None
}
