//! Update envelopes in the form socketioxide takes them, made once per update
//! and shared by every socket that sends it.

use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;

use crate::hub::Frame;

/// How many recent updates are kept ready: enough for the topics that
/// publish at the same moment; a miss only costs one more check of the bytes.
const SLOTS: usize = 64;

/// The envelopes of recent updates, by update.
///
/// socketioxide serializes what it emits, so an update goes to it as a
/// [`RawValue`], which serializes as the bytes it holds. Making one checks
/// the bytes are JSON; this does it once per update rather than once per
/// subscriber. The slot of an update is chosen by its address, and holds
/// that update alive until another takes the slot.
pub(super) struct Envelopes {
    slots: Box<[Mutex<Option<Ready>>]>,
}

struct Ready {
    frame: Arc<Frame>,
    raw: Arc<RawValue>,
}

impl Default for Envelopes {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }
}

impl Envelopes {
    /// The envelope of `frame`, `{"type":"update","topic":..,"seq":..,..}`.
    pub(super) fn get(&self, frame: &Arc<Frame>) -> Arc<RawValue> {
        // Frames are heap objects of some tens of bytes: the low bits of their
        // address carry no information.
        let address = Arc::as_ptr(frame) as usize;
        let index = (address >> 6).wrapping_mul(0x9E37_79B9) % self.slots.len();
        let mut slot = self.slots[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(ready) = slot
            .as_ref()
            .filter(|ready| Arc::ptr_eq(&ready.frame, frame))
        {
            return Arc::clone(&ready.raw);
        }
        let raw: Box<RawValue> =
            serde_json::from_slice(frame.envelope()).expect("the hub writes JSON");
        let raw = Arc::<RawValue>::from(raw);
        *slot = Some(Ready {
            frame: Arc::clone(frame),
            raw: Arc::clone(&raw),
        });
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hub;
    use crate::hub::Delivery;
    use futures::StreamExt;
    use serde_json::json;

    #[tokio::test]
    async fn an_update_is_made_ready_once_and_keeps_its_bytes() {
        let hub = Hub::new();
        hub.set("quotes", json!({})).unwrap();
        let mut subscription = hub.subscribe("quotes", None).unwrap();
        hub.merge("quotes", json!({"AAPL": 1.5})).unwrap();
        let Some(Delivery::Update(frame)) = subscription.next().await else {
            panic!("an update")
        };
        let envelopes = Envelopes::default();
        let first = envelopes.get(&frame);
        let second = envelopes.get(&frame);
        assert!(Arc::ptr_eq(&first, &second), "made once");
        assert_eq!(first.get().as_bytes(), &frame.envelope()[..]);
    }
}
