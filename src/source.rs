//! Where a resilient [`LiveResource`](crate::LiveResource) gets its data:
//! a [`SnapshotSource`] for the whole state and an [`UpdateSource`] for the
//! changes, usually one transport implementing both (a [`Source`]).
//!
//! Transports implement these traits; so does the in-process
//! [`Hub`](crate::Hub), through [`Hub::source`](crate::Hub::source).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use crate::error::permanent::Permanent;
use crate::{BoxError, Snapshot, Update};

pub(crate) mod snapshot_text;

pub use snapshot_text::SnapshotText;

/// What an update stream delivers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The whole state, to swap in: sources whose
    /// [`includes_snapshot`](UpdateSource::includes_snapshot) is true begin a
    /// stream opened without `since` with one.
    Snapshot(Snapshot),
    /// The whole state, as [`Event::Snapshot`], still in its wire text:
    /// only on a stream opened with
    /// [`updates_paged`](UpdateSource::updates_paged), whose consumer reads
    /// it a page at a time.
    SnapshotText(SnapshotText),
    /// One change.
    Update(Update),
    /// The source cannot replay from the version asked for (or the consumer
    /// fell too far behind): take a new snapshot. Updates after this event are
    /// current again and are held while the snapshot is fetched.
    Resync,
    /// The connection is alive. Resets the idle timeout.
    ///
    /// With `Some(v)`, the version of the last update the source sent on this
    /// stream, like a Kubernetes bookmark: a resource at an older version
    /// knows updates were lost even when no later update comes to show the
    /// gap ([`Error::Behind`](crate::Error::Behind)), and resubscribes.
    Heartbeat(Option<u64>),
}

/// A snapshot as [`SnapshotSource::snapshot_paged`] hands it over: read, or
/// still in its wire text for the consumer to read a page at a time.
///
/// # Examples
///
/// ```
/// use live_resource::source::{Fetched, SnapshotText};
/// use live_resource::{Limits, Snapshot};
/// use serde_json::json;
///
/// let text = SnapshotText::read(r#"{"version":3,"data":{"a":1}}"#, &Limits::default())?;
/// let fetched = Fetched::Text(text);
/// assert_eq!(fetched.version(), Some(3));
/// assert_eq!(fetched.into_snapshot()?, Snapshot::new(3, json!({"a": 1})));
/// # Ok::<(), live_resource::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Fetched {
    /// Read already, as [`SnapshotSource::snapshot`] gives it.
    Snapshot(Snapshot),
    /// Still in its text, its size and depth checked and its version read.
    Text(SnapshotText),
}

impl Fetched {
    /// The version of the state, as far as it is known before the state is
    /// read (see [`SnapshotText::version`]).
    pub fn version(&self) -> Option<u64> {
        match self {
            Self::Snapshot(snapshot) => snapshot.version,
            Self::Text(text) => text.version(),
        }
    }

    /// The snapshot, read whole if it is still text.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) when the text is not
    /// JSON or not a snapshot.
    pub fn into_snapshot(self) -> Result<Snapshot, crate::Error> {
        match self {
            Self::Snapshot(snapshot) => Ok(snapshot),
            Self::Text(text) => text.to_snapshot(),
        }
    }
}

/// A stream of [`Event`]s, as returned by [`UpdateSource::updates`].
pub type EventStream = BoxStream<'static, Result<Event, BoxError>>;

/// Fetches the whole state of one resource.
///
/// # Examples
///
/// ```
/// use live_resource::source::SnapshotSource;
/// use live_resource::{BoxError, Snapshot};
///
/// /// A snapshot read from a local file.
/// struct FromFile(std::path::PathBuf);
///
/// #[async_trait::async_trait]
/// impl SnapshotSource for FromFile {
///     async fn snapshot(&self) -> Result<Snapshot, BoxError> {
///         let text = tokio::fs::read(&self.0).await?;
///         Ok(live_resource::Limits::default().parse_snapshot(&text)?)
///     }
/// }
/// ```
#[async_trait]
pub trait SnapshotSource: Send + Sync {
    /// The current state, with its version when the source has one.
    ///
    /// # Errors
    ///
    /// Any transport error. Wrap it in [`Permanent`] when retrying cannot
    /// help (the resource does not exist, access is denied).
    async fn snapshot(&self) -> Result<Snapshot, BoxError>;

    /// The current state as [`snapshot`](SnapshotSource::snapshot) gives
    /// it, for a consumer that reads a large state a page at a time (every
    /// [`LiveResource`](crate::LiveResource) does): a source that receives
    /// the state as text may hand it over unread, as [`Fetched::Text`], so
    /// that reading it costs the consumer's task a page a poll rather than
    /// one long stall (a 20 MB table: some 160 polls of a fraction of a
    /// millisecond, not one of a quarter of a second). Default:
    /// [`snapshot`](SnapshotSource::snapshot), as [`Fetched::Snapshot`].
    ///
    /// A source that wraps another should call the inner one's
    /// `snapshot_paged` here, or its consumers read the state in one piece.
    ///
    /// # Errors
    ///
    /// As [`snapshot`](SnapshotSource::snapshot). What is wrong inside a
    /// state handed over as text is found as it is read, and refuses the
    /// whole snapshot (the resource keeps the state it had, and fetches
    /// again).
    ///
    /// # Examples
    ///
    /// A snapshot read from a local file, handed over unread:
    ///
    /// ```
    /// use live_resource::source::{Fetched, SnapshotSource, SnapshotText};
    /// use live_resource::{BoxError, Limits, Snapshot};
    ///
    /// struct FromFile(std::path::PathBuf);
    ///
    /// #[async_trait::async_trait]
    /// impl SnapshotSource for FromFile {
    ///     async fn snapshot(&self) -> Result<Snapshot, BoxError> {
    ///         Ok(self.snapshot_paged().await?.into_snapshot()?)
    ///     }
    ///
    ///     async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
    ///         let text = tokio::fs::read_to_string(&self.0).await?;
    ///         Ok(Fetched::Text(SnapshotText::read(text, &Limits::default())?))
    ///     }
    /// }
    /// ```
    async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
        self.snapshot().await.map(Fetched::Snapshot)
    }
}

/// Opens a stream of the changes of one resource.
#[async_trait]
pub trait UpdateSource: Send + Sync {
    /// Opens the update stream.
    ///
    /// With `since: Some(v)` the stream should begin with the updates after
    /// version `v`, or with [`Event::Resync`] when it cannot replay from
    /// there. With `since: None` it begins with what happens from now on
    /// (or with a snapshot, see [`includes_snapshot`](UpdateSource::includes_snapshot)).
    ///
    /// # Errors
    ///
    /// Any transport error; [`Permanent`] when retrying cannot help.
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError>;

    /// Opens the update stream as [`updates`](UpdateSource::updates) does,
    /// for a consumer that reads a large snapshot a page at a time (every
    /// [`LiveResource`](crate::LiveResource) does): a snapshot on it may come
    /// as [`Event::SnapshotText`], its state not read yet, so that reading
    /// it costs the consumer's task a page a poll rather than one long stall.
    /// Default: [`updates`](UpdateSource::updates).
    ///
    /// # Errors
    ///
    /// As [`updates`](UpdateSource::updates).
    async fn updates_paged(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        self.updates(since).await
    }

    /// Whether a stream opened with `since: None` begins with an
    /// [`Event::Snapshot`] taken atomically with the subscription. When it
    /// does, the resource does not fetch snapshots separately. Default: `false`.
    fn includes_snapshot(&self) -> bool {
        false
    }

    /// How often the source sends something (an update or a
    /// [`Event::Heartbeat`](Event::Heartbeat)) on a healthy connection, if it promises to.
    /// A resource that hears nothing for three of these periods takes the
    /// connection for dead and reconnects. Default: `None`, no idle timeout.
    fn heartbeat(&self) -> Option<Duration> {
        None
    }
}

/// A transport that provides both halves: [`SnapshotSource`] and [`UpdateSource`].
///
/// Implemented for every type that implements both.
pub trait Source: SnapshotSource + UpdateSource {}

impl<S: SnapshotSource + UpdateSource + ?Sized> Source for S {}

#[async_trait]
impl<S: SnapshotSource + ?Sized> SnapshotSource for Arc<S> {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        (**self).snapshot().await
    }

    async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
        (**self).snapshot_paged().await
    }
}

#[async_trait]
impl<S: UpdateSource + ?Sized> UpdateSource for Arc<S> {
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        (**self).updates(since).await
    }

    async fn updates_paged(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        (**self).updates_paged(since).await
    }

    fn includes_snapshot(&self) -> bool {
        (**self).includes_snapshot()
    }

    fn heartbeat(&self) -> Option<Duration> {
        (**self).heartbeat()
    }
}
