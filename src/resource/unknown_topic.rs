//! [`UnknownTopic`]: what a resilient resource does when its topic does not exist.

/// What a resource made by [`LiveResource::connect`](crate::LiveResource::connect)
/// does when the source says that its topic does not exist
/// ([`Error::is_unknown_topic`](crate::Error::is_unknown_topic): a
/// [`Hub`](crate::Hub) without the topic, a `404` from the HTTP and SSE
/// clients, `unknown_topic` from the WebSocket and Socket.IO servers), at
/// the start or later, when the topic is removed. Set it with
/// [`LiveResource::unknown_topic`](crate::LiveResource::unknown_topic).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use live_resource::{Hub, LiveResource, Status, UnknownTopic};
/// use serde_json::Value;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let hub = Hub::new();
/// let mut resource = LiveResource::<Value>::connect(hub.source("no-such-topic"))
///     .unknown_topic(UnknownTopic::End);
/// let error = resource.next().await.unwrap().unwrap_err();
/// assert!(error.is_unknown_topic() && error.is_final());
/// assert!(resource.next().await.is_none());
/// assert_eq!(*resource.status().borrow(), Status::Failed);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownTopic {
    /// Retry, spaced by the [`Backoff`](crate::Backoff), each retry an error
    /// item, until the topic is made (or made again) or the backoff's
    /// attempts run out: for topics made on demand, such as a job's progress
    /// that a client may follow before the job starts. The default.
    #[default]
    Retry,
    /// End the stream: its last item is the unknown-topic error, marked
    /// [`is_final`](crate::Error::is_final), and the status becomes
    /// [`Status::Failed`](crate::Status::Failed). For topics that exist for
    /// as long as they matter, where a missing one is a mistake.
    End,
}
