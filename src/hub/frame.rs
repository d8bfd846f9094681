//! An update as the hub publishes it: serialized once, shared by every subscriber.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::value::RawValue;

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
/// let hub = Hub::builder().first_version(0).build();
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
    topic: Arc<str>,
    update: Update,
    bytes: Bytes,
    envelope: OnceLock<Bytes>,
    /// The envelope as serializers embed it (the Socket.IO layer does),
    /// made by the first that asks.
    raw_envelope: OnceLock<Box<RawValue>>,
}

impl Frame {
    pub(crate) fn new(topic: Arc<str>, update: Update, bytes: Bytes) -> Self {
        Self {
            topic,
            update,
            bytes,
            envelope: OnceLock::new(),
            raw_envelope: OnceLock::new(),
        }
    }

    /// The topic this update belongs to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The update in the WebSocket envelope form,
    /// `{"type":"update","topic":"quotes","seq":18,"merge":{..}}`: built from
    /// [`bytes`](Frame::bytes) on first use, once, and shared after that.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> live_resource::Result<()> {
    /// # use futures::StreamExt;
    /// let hub = Hub::builder().first_version(0).build();
    /// hub.set("quotes", json!({}))?;
    /// let mut subscription = hub.subscribe("quotes", None)?;
    /// hub.merge("quotes", json!({"AAPL": 1.5}))?;
    /// let live_resource::hub::Delivery::Update(frame) = subscription.next().await.unwrap() else { panic!() };
    /// assert_eq!(
    ///     &frame.envelope()[..],
    ///     br#"{"type":"update","topic":"quotes","seq":1,"merge":{"AAPL":1.5}}"#
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn envelope(&self) -> &Bytes {
        self.envelope
            .get_or_init(|| crate::protocol::update_envelope(&self.topic, &self.bytes))
    }

    /// The [`envelope`](Frame::envelope) as a [`RawValue`], which serializers
    /// copy as it is into a larger message: made on first use, once, so that
    /// the bytes are checked as JSON once per update, not once per
    /// subscriber. The Socket.IO layer sends it so; a transport of your own
    /// can too.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use futures::StreamExt;
    /// let hub = Hub::builder().first_version(0).build();
    /// hub.set("quotes", json!({}))?;
    /// let mut subscription = hub.subscribe("quotes", None)?;
    /// hub.merge("quotes", json!({"AAPL": 1.5}))?;
    /// let live_resource::hub::Delivery::Update(frame) = subscription.next().await.unwrap() else { panic!() };
    ///
    /// #[derive(serde::Serialize)]
    /// struct Batch<'a> {
    ///     updates: Vec<&'a serde_json::value::RawValue>,
    /// }
    /// let batch = serde_json::to_string(&Batch { updates: vec![frame.raw_envelope()] })?;
    /// assert_eq!(
    ///     batch,
    ///     r#"{"updates":[{"type":"update","topic":"quotes","seq":1,"merge":{"AAPL":1.5}}]}"#
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn raw_envelope(&self) -> &RawValue {
        self.raw_envelope
            .get_or_init(|| serde_json::from_slice(self.envelope()).expect("the hub writes JSON"))
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
