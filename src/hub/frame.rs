//! An update as the hub publishes it: serialized once, shared by every subscriber.

use bytes::Bytes;

use crate::Update;

/// One published update with its wire text, made once per update and shared
/// (behind an `Arc`) by every subscriber, replay ring and network adapter.
///
/// # Examples
///
/// ```
/// use live_resource::Hub;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> live_resource::Result<()> {
/// let hub = Hub::new();
/// hub.set("quotes", json!({"AAPL": 189.5}))?;
/// let mut subscription = hub.subscribe("quotes", Some(0))?;
/// hub.merge("quotes", json!({"AAPL": 190.25}))?;
///
/// use futures::StreamExt;
/// let live_resource::hub::Delivery::Update(frame) = subscription.next().await.unwrap() else { panic!() };
/// assert_eq!(frame.seq(), 1);
/// assert_eq!(&frame.bytes()[..], br#"{"seq":1,"merge":{"AAPL":190.25}}"#);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Frame {
    update: Update,
    bytes: Bytes,
}

impl Frame {
    pub(crate) fn new(update: Update, bytes: Bytes) -> Self {
        Self { update, bytes }
    }

    /// The version this update brings its topic to.
    pub fn seq(&self) -> u64 {
        self.update.seq.expect("the hub numbers every update")
    }

    /// The update.
    pub fn update(&self) -> &Update {
        &self.update
    }

    /// The update in its wire form, `{"seq":18,"merge":{..}}`.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}
