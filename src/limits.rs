//! Bounds on what a live resource accepts from the outside.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, Snapshot, Update};

/// The bounds every inbound message is checked against.
///
/// A message that breaks a bound is refused with a clear error before it is
/// parsed or applied; the state is never touched by it.
///
/// | bound | default | error |
/// | --- | --- | --- |
/// | [`max_message_bytes`](Limits::max_message_bytes): size of one update on the wire | 1 MiB | [`Error::TooLarge`] |
/// | [`max_snapshot_bytes`](Limits::max_snapshot_bytes): size of one snapshot on the wire | 64 MiB | [`Error::TooLarge`] |
/// | [`max_depth`](Limits::max_depth): JSON nesting of a message or patch | 64 | [`Error::TooDeep`] |
/// | [`max_buffered_updates`](Limits::max_buffered_updates): updates held while the snapshot is fetched | 4096 | [`Error::BufferOverflow`] |
///
/// # Examples
///
/// ```
/// use live_resource::{Error, Limits};
///
/// let limits = Limits::default().max_message_bytes(64).max_depth(4);
///
/// let update = limits.parse_update(br#"{"seq":1,"merge":{"price":1.5}}"#)?;
/// assert_eq!(update.seq, Some(1));
///
/// let deep = br#"{"seq":2,"merge":{"a":{"b":{"c":{"d":{"e":1}}}}}}"#;
/// assert!(matches!(limits.parse_update(deep), Err(Error::TooDeep { max: 4 })));
///
/// let big = format!(r#"{{"seq":3,"merge":{{"note":"{}"}}}}"#, "x".repeat(100));
/// assert!(matches!(limits.parse_update(big.as_bytes()), Err(Error::TooLarge { max: 64, .. })));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    max_message_bytes: usize,
    max_snapshot_bytes: usize,
    max_depth: usize,
    max_buffered_updates: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1 << 20,
            max_snapshot_bytes: 64 << 20,
            max_depth: 64,
            max_buffered_updates: 4096,
        }
    }
}

impl Limits {
    /// Sets the largest update message accepted, in bytes.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets the largest snapshot accepted, in bytes.
    pub fn max_snapshot_bytes(mut self, bytes: usize) -> Self {
        self.max_snapshot_bytes = bytes;
        self
    }

    /// Sets the deepest JSON nesting accepted in a message or patch.
    ///
    /// `serde_json` refuses nesting past 128 levels on its own; a larger
    /// value here has no further effect when parsing.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets how many updates may wait for the snapshot before the handoff fails.
    pub fn max_buffered_updates(mut self, updates: usize) -> Self {
        self.max_buffered_updates = updates;
        self
    }

    /// The largest update message accepted, in bytes.
    pub fn message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// The largest snapshot accepted, in bytes.
    pub fn snapshot_bytes(&self) -> usize {
        self.max_snapshot_bytes
    }

    /// The deepest JSON nesting accepted.
    pub fn depth(&self) -> usize {
        self.max_depth
    }

    /// How many updates may wait for the snapshot.
    pub fn buffered_updates(&self) -> usize {
        self.max_buffered_updates
    }

    /// Parses one update in the wire form, after checking its size and depth.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::TooDeep`], or [`Error::Malformed`] when
    /// the text is not JSON or not an update.
    pub fn parse_update(&self, bytes: &[u8]) -> Result<Update, Error> {
        self.check_text(bytes, self.max_message_bytes)?;
        if let Some(update) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| Update::read_merge(text, false))
        {
            return Ok(self.checked_depth(update));
        }
        serde_json::from_slice(bytes).map_err(Error::Malformed)
    }

    /// Reads an update as this crate's transports do: a `merge` update
    /// numbered before its patch (`{"seq":18,"merge":..}`, the order its
    /// servers write) is read only as far as the patch, which is read when
    /// it is applied, in one pass that merges as it reads.
    ///
    /// Only `merge` updates with a number (`seq` not `null`) before the
    /// patch are read so; anything else is read as [`Limits::parse_update`]
    /// reads it. For these, what `parse_update` refuses in the text before
    /// the patch, or in the size and depth of the whole, is refused here
    /// too, and so is a message whose last byte but whitespace is not `}`.
    /// Anything wrong in the patch or after it (a message cut short just
    /// after a `}`, a second `seq`, a `patch` beside the `merge`) is found
    /// when the patch is applied: applying it then fails with
    /// [`Error::Malformed`] and changes nothing (see
    /// [`MergeText`](crate::patch::MergeText)); an update dropped as one the
    /// state already has is never read further.
    ///
    /// It pays where the patch is applied to a [`Document`](crate::Document);
    /// to a `serde_json::Value` the text is read by `serde_json` anyway, and
    /// [`Limits::parse_update`] finds every error at once. It takes text, as
    /// the transports that use it have it (a WebSocket text frame, an event's
    /// data) and checking UTF-8 again would cost as much as what it saves.
    ///
    /// # Errors
    ///
    /// As [`Limits::parse_update`].
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::{Document, Error, Limits, Patch};
    /// use serde_json::json;
    ///
    /// let limits = Limits::default();
    /// let update = limits.parse_update_lazy(r#"{"seq":4,"merge":{"done":40}}"#)?;
    /// assert_eq!(update.seq, Some(4));
    /// assert_eq!(update.patch, Patch::Merge(json!({"done": 40})));
    ///
    /// let mut state = Document::from(json!({"done": 30, "total": 100}));
    /// state.apply(&update.patch)?;
    /// assert_eq!(state, json!({"done": 40, "total": 100}));
    ///
    /// // Cut short: refused at once. Malformed inside: refused when applied.
    /// assert!(limits.parse_update_lazy(r#"{"seq":5,"merge":{"done":"#).is_err());
    /// let bad = limits.parse_update_lazy(r#"{"seq":5,"merge":{"done":}}"#)?;
    /// assert!(matches!(state.apply(&bad.patch), Err(Error::Malformed(_))));
    /// assert_eq!(state, json!({"done": 40, "total": 100}));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse_update_lazy(&self, text: &str) -> Result<Update, Error> {
        self.parse_lazy(text, || Update::read_merge(text, true))
    }

    /// [`Limits::parse_update_lazy`] of a WebSocket envelope whose `{`,
    /// `type` and `topic` `envelope` has read already.
    #[cfg(feature = "ws")]
    pub(crate) fn parse_envelope_update_lazy(
        &self,
        text: &str,
        envelope: crate::patch::Reader<'_>,
    ) -> Result<Update, Error> {
        self.parse_lazy(text, || Update::read_merge_after_envelope(text, envelope))
    }

    /// `text`, checked, read by `read`, or else by `serde_json`.
    fn parse_lazy(
        &self,
        text: &str,
        read: impl FnOnce() -> Option<Update>,
    ) -> Result<Update, Error> {
        self.check_text(text.as_bytes(), self.max_message_bytes)?;
        if let Some(update) = read() {
            return Ok(self.checked_depth(update));
        }
        serde_json::from_str(text).map_err(Error::Malformed)
    }

    /// `update`, read from a message that [`Limits::check_text`] checked:
    /// its patch text records the nesting bound it is within.
    fn checked_depth(&self, mut update: Update) -> Update {
        if let crate::Patch::MergeText(text) = &mut update.patch {
            // The message is one level: its patch is within the bound.
            text.set_within_depth(self.max_depth);
        }
        update
    }

    /// Parses one snapshot in the wire form `{"version":17,"data":..}`, after
    /// checking its size and depth.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::TooDeep`], or [`Error::Malformed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::{Limits, Snapshot};
    ///
    /// let snapshot: Snapshot = Limits::default().parse_snapshot(br#"{"version":17,"data":{"a":1}}"#)?;
    /// assert_eq!(snapshot.version, Some(17));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn parse_snapshot<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<Snapshot<T>, Error> {
        self.check_text(bytes, self.max_snapshot_bytes)?;
        serde_json::from_slice(bytes).map_err(Error::Malformed)
    }

    /// Parses any message from a peer (a WebSocket envelope, a control
    /// request) after checking its size against
    /// [`max_message_bytes`](Limits::max_message_bytes) and its depth: the
    /// building block for transports of one's own.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::TooDeep`], or [`Error::Malformed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::Limits;
    /// use serde_json::Value;
    ///
    /// let message: Value = Limits::default().parse_message(br#"{"type":"resync","topic":"quotes"}"#)?;
    /// assert_eq!(message["topic"], "quotes");
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn parse_message<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, Error> {
        self.check_text(bytes, self.max_message_bytes)?;
        serde_json::from_slice(bytes).map_err(Error::Malformed)
    }

    /// Checks an in-memory patch against [`max_depth`](Limits::max_depth).
    ///
    /// # Errors
    ///
    /// [`Error::TooDeep`].
    pub fn check_patch(&self, patch: &crate::Patch) -> Result<(), Error> {
        // A text checked when it was read, or shorter than the bound, is not
        // read again here: this runs for every update applied.
        if let crate::Patch::MergeText(text) = patch
            && text.known_within(self.max_depth)
        {
            return Ok(());
        }
        if patch.depth() > self.max_depth {
            return Err(Error::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(())
    }

    /// Checks that applying `patch` to `target` stays within the bounds: a
    /// JSON Patch can write a small value far down a deep path, or copy what
    /// is already there (see `patch::effect::check_json_ops`).
    pub(crate) fn check_write<T: crate::patch::tree::Tree>(
        &self,
        target: &T,
        patch: &crate::Patch,
    ) -> Result<(), Error> {
        self.check_patch(patch)?;
        match patch {
            crate::Patch::Json(ops) => crate::patch::effect::check_json_ops(
                target,
                ops,
                self.max_depth,
                self.max_message_bytes,
            ),
            _ => Ok(()),
        }
    }

    fn check_text(&self, bytes: &[u8], max: usize) -> Result<(), Error> {
        if bytes.len() > max {
            return Err(Error::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        // The envelope itself is one level: allow the payload `max_depth` below
        // it. Text cannot nest deeper than it is long, so short messages skip
        // the scan.
        if bytes.len() > self.max_depth + 1 && text_depth(bytes) > self.max_depth + 1 {
            return Err(Error::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(())
    }
}

/// The deepest bracket nesting of JSON text, found by a scan that skips
/// strings. Malformed text gets a number too; the parser refuses it later.
pub(crate) fn text_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The nesting of an in-memory value (a scalar is 0), walked without recursion
/// so that a hostile value cannot exhaust the stack here.
pub(crate) fn value_depth(value: &Value) -> usize {
    crate::patch::tree::Tree::depth(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_depth_skips_brackets_inside_strings() {
        assert_eq!(text_depth(br#"{"a":"[[[{{{\"]]"}"#), 1);
        assert_eq!(text_depth(br#"[[1],[[2]]]"#), 3);
        assert_eq!(text_depth(b"17"), 0);
    }

    #[test]
    fn value_depth_matches_text_depth() {
        for text in [r#"{"a":{"b":[1,{"c":[]}]}}"#, "[]", "1", r#"{"x":"{"}"#] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(value_depth(&value), text_depth(text.as_bytes()), "{text}");
        }
        assert_eq!(value_depth(&json!({"a": 1})), 1);
    }
}
