//! The crate's error type.

mod apply;
pub(crate) mod permanent;
mod row;

pub use apply::{ApplyError, ApplyErrorKind};
use permanent::Permanent;
pub use row::RowError;
use std::error::Error as StdError;

/// A boxed error from a transport or any other source outside this crate.
///
/// Snapshot futures and update streams may fail with any error type that
/// converts into this one; [`Error`] keeps it as its [`source`](StdError::source).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, applying or following a live resource.
///
/// Each variant names the phase that failed. Its message says that in one
/// short line and never repeats its cause: the cause, where there is one, is
/// available through [`std::error::Error::source`], and so on down the chain
/// (the transports' errors name the URL or the topic, the server's reason
/// comes last). Print the whole chain with `anyhow`'s `{:#}`, or walk it.
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// use live_resource::{Error, Update};
///
/// let err = Update::from_slice(br#"{"seq":1,"merge":"#).unwrap_err();
/// assert!(matches!(err, Error::Malformed(_)));
/// assert_eq!(err.to_string(), "malformed message");
///
/// // The whole story, one cause after the other.
/// let mut chain = err.to_string();
/// let mut cause = err.source();
/// while let Some(error) = cause {
///     chain = format!("{chain}: {error}");
///     cause = error.source();
/// }
/// assert_eq!(chain, "malformed message: EOF while parsing a value at line 1 column 17");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message was not valid JSON, or not of the wire form expected; for a
    /// patch read lazily ([`Limits::parse_update_lazy`](crate::Limits::parse_update_lazy)),
    /// found so when it was applied.
    #[error("malformed message")]
    Malformed(#[source] serde_json::Error),

    /// A message was larger than [`Limits::max_message_bytes`](crate::Limits::max_message_bytes).
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The size of the refused message, in bytes. For what a JSON Patch
        /// would copy, the count stops once past the limit, so this is where
        /// it stopped.
        size: usize,
        /// The limit in force.
        max: usize,
    },

    /// A message or patch nested deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    #[error("message nests deeper than the limit of {max} levels")]
    TooDeep {
        /// The limit in force.
        max: usize,
    },

    /// A value given to a [`Hub`](crate::Hub) to publish does not serialize
    /// to JSON (a map with keys that are not strings, a `Serialize` impl that
    /// fails); nothing was published.
    #[error("the value does not serialize to JSON")]
    Encode(#[source] serde_json::Error),

    /// A JSON Patch (RFC 6902) could not be applied; the target was left unchanged.
    #[error("patch does not apply")]
    Apply(#[source] ApplyError),

    /// The JSON state is valid but does not decode into the consumer's type.
    ///
    /// The JSON state itself stays current; the next update that makes it
    /// decode produces a value again.
    #[error("state at version {version:?} does not decode into the target type")]
    Decode {
        /// The version of the state that failed to decode.
        version: Option<u64>,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },

    /// An update arrived whose `seq` is past the next expected one: some
    /// updates were lost in between.
    #[error("gap in updates: expected seq {expected}, received {received}")]
    Gap {
        /// The `seq` that should have come next.
        expected: u64,
        /// The `seq` that came instead.
        received: u64,
    },

    /// A JSON Patch `copy` or `move` reads from a place an earlier operation
    /// of the same patch changed. Refused: such copies can copy their own
    /// copies and double the state with every operation.
    #[error(
        "JSON Patch operation {operation} copies from a place the same patch changed: refused, since such copies can grow the state without bound"
    )]
    SelfCopy {
        /// The index of the refused operation.
        operation: usize,
    },

    /// A heartbeat said the source had sent an update this resource never
    /// received: the last updates were lost, with no later one to show the gap.
    #[error("the source sent updates up to seq {sent}, but only {version} arrived")]
    Behind {
        /// The version of the resource's state.
        version: u64,
        /// The `seq` of the last update the source sent.
        sent: u64,
    },

    /// More updates arrived before the snapshot than
    /// [`Limits::max_buffered_updates`](crate::Limits::max_buffered_updates) allows.
    #[error("more than {max} updates arrived while waiting for the snapshot")]
    BufferOverflow {
        /// The limit in force.
        max: usize,
    },

    /// Fetching the snapshot failed.
    #[error("fetching the snapshot failed")]
    Snapshot(#[source] BoxError),

    /// The update stream yielded an error.
    #[error("the update stream failed")]
    Updates(#[source] BoxError),

    /// Opening the update stream failed.
    #[error("subscribing to the updates failed")]
    Subscribe(#[source] BoxError),

    /// The source promised heartbeats and sent nothing for too long: the
    /// connection is taken for dead.
    #[error("no message from the source for {after:?}: the connection is taken for dead")]
    IdleTimeout {
        /// How long the source was silent.
        after: std::time::Duration,
    },

    /// The resource stopped trying to recover: its
    /// [`Backoff`](crate::Backoff) allowed no more attempts. The last item
    /// of its stream; the last state stays readable.
    #[error("gave up after {attempts} attempts to recover")]
    GaveUp {
        /// The retries made since the connection was last healthy.
        attempts: u32,
    },

    /// A state, or a change to one, that would pass
    /// [`Limits::max_state_bytes`](crate::Limits::max_state_bytes): refused,
    /// and the state is unchanged.
    #[error("the state would pass the limit of {max} bytes: refused")]
    StateTooLarge {
        /// The limit, in bytes of compact JSON.
        max: usize,
    },

    /// A snapshot older than the state the resource already shows (a cache
    /// or a replica that lags the source): refused, so that the resource
    /// never goes backward; it fetches again, with backoff. Should the source
    /// serve nothing newer three times in a row (its versions really went
    /// back: a hub with a fixed first version, restarted), the latest is
    /// taken as a new history.
    #[error(
        "a snapshot at version {version} is older than the state at version {current}: refused"
    )]
    StaleSnapshot {
        /// The snapshot's version.
        version: u64,
        /// The version of the state shown.
        current: u64,
    },

    /// The topic does not exist.
    #[error("unknown topic `{topic}`")]
    UnknownTopic {
        /// The topic asked for.
        topic: String,
    },

    /// The hub is a local replica of a backplane's topics (the
    /// [`Hub`](crate::Hub) of a `RedisHub`, feature `redis`): its topics change
    /// through the backplane, which numbers every change for every process.
    #[error(
        "topic `{topic}` follows a backplane: change it through the backplane, not the local hub"
    )]
    ReadOnly {
        /// The topic a change was asked for.
        topic: String,
    },

    /// The backplane (Redis) could not be reached, or refused a command:
    /// the change was not published, and nothing of it is kept anywhere.
    #[error("the backplane failed")]
    Backplane(#[source] BoxError),

    /// One row of a table (see [`collection`](crate::collection)) was
    /// refused, for the reason its source gives; the rest of the table stays
    /// live. A client keeps the row's last good value; a server publishes
    /// nothing of the change that held it.
    #[error("row `{key}` was refused")]
    Row {
        /// The row's id: its member name in the table's object.
        key: String,
        /// The version of the table the row was read from (`None` on a
        /// server, where the change was refused before it had one).
        version: Option<u64>,
        /// What was wrong with it.
        #[source]
        problem: RowError,
    },

    /// A change that depends on the topic's state (a `set`, an `update`, a
    /// JSON Patch) lost the race for the topic's next version to other
    /// processes this many times in a row; nothing was published.
    #[error("topic `{topic}` changed under {attempts} attempts in a row to change it")]
    Contended {
        /// The topic.
        topic: String,
        /// How many times the change was tried.
        attempts: u32,
    },
}

impl Error {
    /// Whether updates were lost ([`Error::Gap`], [`Error::Behind`]) and the
    /// state needs a resync.
    ///
    /// ```
    /// # use live_resource::Error;
    /// assert!(Error::Gap { expected: 3, received: 5 }.is_gap());
    /// ```
    pub fn is_gap(&self) -> bool {
        matches!(self, Self::Gap { .. } | Self::Behind { .. })
    }

    /// Whether the error is about one inbound message that broke a limit or the
    /// wire form ([`Error::Malformed`], [`Error::TooLarge`], [`Error::TooDeep`]),
    /// itself or as the cause of an [`Error::Updates`]: a transport reports a
    /// bad message on its update stream, and the stream goes on.
    ///
    /// ```
    /// # use live_resource::Error;
    /// assert!(Error::TooLarge { size: 10, max: 5 }.is_bad_message());
    /// let on_the_stream = Error::Updates(Box::new(Error::TooDeep { max: 4 }));
    /// assert!(on_the_stream.is_bad_message() && on_the_stream.is_transport());
    /// assert!(!Error::Updates("connection reset".into()).is_bad_message());
    /// ```
    pub fn is_bad_message(&self) -> bool {
        match self {
            Self::Malformed(_) | Self::TooLarge { .. } | Self::TooDeep { .. } => true,
            // Transports may wrap the crate's error in their own: look down
            // the chain of causes.
            Self::Updates(inner) => causes(&**inner).any(|error| {
                error
                    .downcast_ref::<Error>()
                    .is_some_and(Error::is_bad_message)
            }),
            _ => false,
        }
    }

    /// Whether the source said that the topic does not exist (or no longer
    /// does): [`Error::UnknownTopic`], itself or as a cause, as every source
    /// of this crate reports it. A [`Hub`](crate::Hub)'s source fails with
    /// it; the HTTP and SSE clients' `404` of a topic, and the WebSocket and
    /// Socket.IO clients' `unknown_topic` refusal, carry it as the cause of
    /// their own error.
    ///
    /// A [`LiveResource`](crate::LiveResource) retries it, or ends on it, as
    /// its [`UnknownTopic`](crate::UnknownTopic) setting says.
    ///
    /// ```
    /// # use live_resource::Error;
    /// let unknown = Error::UnknownTopic { topic: "jobs/42".into() };
    /// assert!(unknown.is_unknown_topic());
    /// assert!(Error::Subscribe(Box::new(unknown)).is_unknown_topic());
    /// assert!(!Error::Subscribe("connection refused".into()).is_unknown_topic());
    /// ```
    pub fn is_unknown_topic(&self) -> bool {
        match self {
            Self::UnknownTopic { .. } => true,
            Self::Snapshot(cause) | Self::Updates(cause) | Self::Subscribe(cause) => {
                causes(&**cause).any(|error| {
                    matches!(
                        error.downcast_ref::<Error>(),
                        Some(Self::UnknownTopic { .. })
                    )
                })
            }
            _ => false,
        }
    }

    /// Whether a resource made by [`LiveResource::connect`](crate::LiveResource::connect)
    /// ends after this item: it gave up ([`Error::GaveUp`]), or the source
    /// said retrying cannot help (a [`Permanent`](crate::source::Permanent)
    /// cause: 401 or 403, `forbidden`, a refused namespace, a bad URL, a
    /// server certificate refused; an
    /// unknown topic when the resource was told to end then, with
    /// [`UnknownTopic::End`](crate::UnknownTopic::End)). Every
    /// other error item is followed by a retry, or is about one message and
    /// the stream goes on: "reconnecting, nothing to do".
    ///
    /// (A resource made by [`LiveResource::new`](crate::LiveResource::new)
    /// cannot fetch again: it ends after any error that needs a new fetch.)
    ///
    /// ```
    /// use live_resource::Error;
    /// use live_resource::source::Permanent;
    ///
    /// assert!(Error::GaveUp { attempts: 10 }.is_final());
    /// assert!(Error::Subscribe(Permanent::new("403 forbidden").into()).is_final());
    /// assert!(!Error::Subscribe("connection refused".into()).is_final());
    /// assert!(!Error::Gap { expected: 3, received: 5 }.is_final());
    /// ```
    pub fn is_final(&self) -> bool {
        match self {
            Self::GaveUp { .. } => true,
            Self::Snapshot(cause) | Self::Updates(cause) | Self::Subscribe(cause) => {
                Permanent::is_permanent(&**cause)
            }
            _ => false,
        }
    }

    /// This error, marked [`is_final`](Error::is_final): its cause wrapped in
    /// [`Permanent`](crate::source::Permanent), which shows the same message
    /// and causes.
    pub(crate) fn into_final(self) -> Self {
        match self {
            Self::Snapshot(cause) => Self::Snapshot(Permanent::new(cause).into()),
            Self::Updates(cause) => Self::Updates(Permanent::new(cause).into()),
            Self::Subscribe(cause) => Self::Subscribe(Permanent::new(cause).into()),
            other => other,
        }
    }

    /// Whether the error came from the transport: the snapshot fetch or the update stream.
    ///
    /// ```
    /// # use live_resource::Error;
    /// let err = Error::Snapshot("connection refused".into());
    /// assert!(err.is_transport());
    /// ```
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Self::Snapshot(_) | Self::Updates(_) | Self::Subscribe(_) | Self::IdleTimeout { .. }
        )
    }
}

/// `error` and its causes, outermost first. A [`Permanent`] mark is looked
/// through: it shows its error's message and causes as its own.
///
/// [`Permanent`]: crate::source::Permanent
pub(crate) fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&error| {
        match error.downcast_ref::<Permanent>() {
            Some(permanent) => Some(permanent.get_ref() as &(dyn StdError + 'static)),
            None => error.source(),
        }
    })
}

/// An error with its causes, `: `-separated, for logs and for messages sent
/// on: each level's own message is short and leaves its cause out.
#[cfg_attr(
    not(any(
        feature = "server",
        feature = "ws",
        feature = "socketio-client",
        feature = "redis"
    )),
    allow(dead_code)
)]
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn StdError + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut levels = causes(self.0).filter(|error| !error.is::<Permanent>());
        if let Some(first) = levels.next() {
            write!(f, "{first}")?;
        }
        levels.try_for_each(|error| write!(f, ": {error}"))
    }
}
