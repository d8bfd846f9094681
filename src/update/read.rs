//! Updates and snapshots read from wire text, within [`Limits`]: the
//! checked reader ([`Limits::parse_update`], the one the transports use for
//! messages up to 16 KB), the lazy one ([`Limits::parse_update_lazy`], theirs
//! for longer ones), and the hand-written path for the common `merge` update
//! under both.

use serde::de::DeserializeOwned;

use crate::patch::{MergePatch, MergeText, Message};
use crate::text::{GiveUp, LONGEST_TAPED, Reader, Tape};
use crate::{Error, Limits, Patch, Snapshot, Update};

impl Limits {
    /// Parses one update in the wire form, after checking its size and depth.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::TooDeep`], or [`Error::Malformed`] when
    /// the text is not JSON or not an update.
    pub fn parse_update(&self, bytes: &[u8]) -> Result<Update, Error> {
        self.check_size(bytes, self.max_message_bytes)?;
        let read = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| Update::read_merge_measured(text, false));
        if let Some((update, depth)) = read {
            // The reader measured the nesting the depth check would scan
            // for: it is the same for text the reader accepts.
            self.check_measured_depth(depth)?;
            return Ok(self.checked_depth(update));
        }
        self.check_text(bytes, self.max_message_bytes)?;
        serde_json::from_slice(bytes).map_err(Error::Malformed)
    }

    /// Reads an update as this crate's transports do past 16 KB: a `merge` update
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
    /// [`MergePatch`](crate::patch::MergePatch)); an update dropped as one the
    /// state already has is never read further.
    ///
    /// It pays for a long patch applied to a [`Document`](crate::Document):
    /// one pass over its text, not a check and then a merge. For the usual
    /// patch of a few fields, [`Limits::parse_update`] records what its check
    /// finds and the merge walks that, which costs less; applied to a
    /// `serde_json::Value`, the text is read by `serde_json` anyway, and
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
    /// assert_eq!(update.patch, Patch::Merge(json!({"done": 40}).into()));
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

    /// `text`, checked, read by `read`, or else by `serde_json`.
    pub(crate) fn parse_lazy(
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
        if let Some(text) = match &mut update.patch {
            crate::Patch::Merge(patch) => patch.as_text_mut(),
            _ => None,
        } {
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

    /// A state's JSON text (no envelope), checked against the snapshot
    /// bounds, as a `Value`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn parse_state(&self, bytes: &[u8]) -> Result<serde_json::Value, Error> {
        self.check_text(bytes, self.max_snapshot_bytes)?;
        serde_json::from_slice(bytes).map_err(Error::Malformed)
    }
}

impl Update {
    /// Reads the common wire form, `{"seq":18,"merge":{..}}` with any other
    /// members, into a merge patch kept as its text, without building a `Value`;
    /// `lazy`, only as far as the patch (see [`Limits::parse_update_lazy`]).
    /// `None` for anything else (`patch`, `replace`, text it is not sure
    /// of), which the caller reads with `serde_json`.
    pub(crate) fn read_merge(text: &str, lazy: bool) -> Option<Update> {
        Self::read_merge_measured(text, lazy).map(|(update, _)| update)
    }

    /// [`Update::read_merge`], and how deep the message nests (`{}` is 1),
    /// as far as it was read: the whole message unless it was read lazily.
    pub(crate) fn read_merge_measured(text: &str, lazy: bool) -> Option<(Update, usize)> {
        let mut reader = Reader::new(text);
        reader.expect(b'{').ok()?;
        Self::read_members(text, reader, false, lazy)
    }

    /// The members of an update message from where `reader` is, just past
    /// the `{`, or past the envelope's `type` and `topic` if `enveloped`
    /// (a WebSocket client that read them to route the message: they are
    /// not read again).
    #[cfg_attr(
        not(any(feature = "ws", feature = "socketio-client")),
        allow(dead_code)
    )]
    pub(crate) fn read_merge_from(
        text: &str,
        reader: Reader<'_>,
        enveloped: bool,
        lazy: bool,
    ) -> Option<Update> {
        Self::read_members(text, reader, enveloped, lazy).map(|(update, _)| update)
    }

    /// [`Update::read_merge_from`], and how deep the message nests, as far
    /// as it was read.
    fn read_members(
        text: &str,
        mut reader: Reader<'_>,
        enveloped: bool,
        lazy: bool,
    ) -> Option<(Update, usize)> {
        // The deepest member value: the message is one level more.
        let mut deepest = 0;
        let (mut seq, mut patch) = (None, None);
        let (mut kind, mut topic) = (enveloped, enveloped);
        let mut first = !enveloped;
        // The order and spacing this crate's servers write, `"seq":18,"merge":`:
        // both keys passed at once, and the `merge` taken as the next key.
        let mut known_key = None;
        if reader.exactly(if first { br#""seq":"# } else { br#","seq":"# }) {
            seq = Some(reader.optional_u64().ok()?);
            first = false;
            if reader.exactly(br#","merge":"#) {
                known_key = Some("merge");
            }
        }
        while let Some(key) = match known_key.take() {
            Some(key) => Some(key),
            // The message's end, right after the patch as it mostly is.
            None if !first && reader.exactly(b"}") => None,
            None => reader.plain_key(first).ok()?,
        } {
            first = false;
            match key {
                "seq" if seq.is_none() => seq = Some(reader.optional_u64().ok()?),
                // Numbered before its patch, as this crate's servers write
                // it: the patch, and what follows, are read when applied.
                // A message cut short mostly does not end its object, and is
                // still refused here.
                "merge"
                    if lazy
                        && patch.is_none()
                        && matches!(seq, Some(Some(_)))
                        && ends_an_object(text) =>
                {
                    let patch = MergeText::in_update(text, reader.value_start(), &UPDATE);
                    let update = Update {
                        seq: seq.flatten(),
                        patch: Patch::Merge(MergePatch::text(patch)),
                    };
                    return Some((update, 1 + deepest));
                }
                // Short enough to record: the merge walks what the check
                // found instead of reading the text again.
                "merge" if patch.is_none() && text.len() <= LONGEST_TAPED => {
                    let mut tape = Tape::for_text(text.len());
                    let (span, depth) = reader.recorded_value(&mut tape).ok()?;
                    deepest = deepest.max(depth);
                    let checked = &text[span];
                    patch = Some(match tape.kept_for(checked.len()) {
                        Some(tape) => MergeText::recorded(checked, tape),
                        None => MergeText::checked(checked),
                    });
                }
                "merge" if patch.is_none() => {
                    let (span, depth) = reader.checked_value().ok()?;
                    deepest = deepest.max(depth);
                    patch = Some(MergeText::checked(&text[span]));
                }
                "type" if !kind => {
                    kind = true;
                    deepest = deepest.max(reader.skip_value().ok()?);
                }
                "topic" if !topic => {
                    topic = true;
                    deepest = deepest.max(reader.skip_value().ok()?);
                }
                // Twice, or another kind of patch: `serde_json` decides.
                key if MEMBERS.contains(&key) => return None,
                _ => deepest = deepest.max(reader.skip_value().ok()?),
            }
        }
        if !reader.at_end() {
            return None;
        }
        let update = Update {
            seq: seq.flatten(),
            patch: Patch::Merge(MergePatch::text(patch?)),
        };
        Some((update, 1 + deepest))
    }
}

/// What an update message may hold around a patch read lazily, for the
/// patch to check when it is applied.
static UPDATE: Message = Message {
    check_rest,
    read_whole: patch_of_whole_update,
};

/// The patch of the update message `text`, read whole by `serde_json`: its
/// error says what is wrong with the message.
fn patch_of_whole_update(text: &str) -> Result<serde_json::Value, Error> {
    match serde_json::from_str::<Update>(text) {
        Ok(Update {
            patch: Patch::Merge(patch),
            ..
        }) => patch.into_value(),
        Ok(_) => unreachable!("the message was read as far as its `merge`"),
        Err(error) => Err(Error::Malformed(error)),
    }
}

/// The members an update gives a meaning to: an update's own, and the
/// WebSocket envelope's.
const MEMBERS: [&str; 6] = ["seq", "merge", "patch", "replace", "type", "topic"];

/// Checks what follows an update's `merge`, from where `reader` is: other
/// members, none of them one the update has had (`seq`, `merge`), may not
/// have beside it (`patch`, `replace`), or may have had (the envelope's
/// `type` and `topic`: `serde_json` decides those), up to the closing `}`.
fn check_rest(reader: &mut Reader<'_>) -> Result<(), GiveUp> {
    while let Some(key) = reader.plain_key(false)? {
        if MEMBERS.contains(&key) {
            return Err(GiveUp);
        }
        reader.skip_value()?;
    }
    Ok(())
}

/// Whether the last byte of `text` but JSON whitespace is a `}`.
fn ends_an_object(text: &str) -> bool {
    text.trim_end_matches([' ', '\n', '\r', '\t'])
        .ends_with('}')
}
