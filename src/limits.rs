//! Bounds on what a live resource accepts from the outside.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

/// The bounds every inbound message is checked against.
///
/// A message that breaks a bound is refused with a clear error before it is
/// parsed or applied; the state is never touched by it.
///
/// Each bound is a field, read as `limits.max_depth`, and set by the builder
/// method of the same name, `Limits::default().max_depth(8)`.
///
/// | bound | default | error |
/// | --- | --- | --- |
/// | [`max_message_bytes`](Limits::max_message_bytes): size of one update on the wire | 1 MiB | [`Error::TooLarge`] |
/// | [`max_snapshot_bytes`](Limits::max_snapshot_bytes): size of one snapshot on the wire | 64 MiB | [`Error::TooLarge`] |
/// | [`max_depth`](Limits::max_depth): JSON nesting of a message or patch | 64 | [`Error::TooDeep`] |
/// | [`max_buffered_updates`](Limits::max_buffered_updates): updates held while the snapshot is fetched | 4096 | [`Error::BufferOverflow`] |
/// | [`max_state_bytes`](Limits::max_state_bytes): size of the state kept, as compact JSON | 64 MiB | [`Error::StateTooLarge`] |
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
#[non_exhaustive]
pub struct Limits {
    /// The largest update message accepted, in bytes.
    pub max_message_bytes: usize,
    /// The largest snapshot accepted, in bytes.
    pub max_snapshot_bytes: usize,
    /// The deepest JSON nesting accepted in a message or patch.
    pub max_depth: usize,
    /// How many updates may wait for the snapshot before the handoff fails.
    pub max_buffered_updates: usize,
    /// The largest state kept, as compact JSON, in bytes: a hub's topic or
    /// a resource's state.
    pub max_state_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1 << 20,
            max_snapshot_bytes: 64 << 20,
            max_depth: 64,
            max_buffered_updates: 4096,
            max_state_bytes: 64 << 20,
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

    /// Sets the largest state kept, as compact JSON, in bytes: a value a
    /// hub is given, or a change that would take a state past it, is refused
    /// with [`Error::StateTooLarge`] and the state is unchanged.
    ///
    /// The bound is kept at the cost of each change, not of the state: the
    /// state is measured when it is made, and again only when the changes
    /// since (each counted as what it could add at most) might have taken it
    /// past the bound. So a change that could take a state within its own
    /// size of the bound past it may be refused although applying it would
    /// have added less.
    pub fn max_state_bytes(mut self, bytes: usize) -> Self {
        self.max_state_bytes = bytes;
        self
    }

    /// Sets how many updates may wait for the snapshot before the handoff fails.
    pub fn max_buffered_updates(mut self, updates: usize) -> Self {
        self.max_buffered_updates = updates;
        self
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
        let text = match patch {
            crate::Patch::Merge(patch) => patch.as_text(),
            _ => None,
        };
        if text.is_some_and(|text| text.known_within(self.max_depth)) {
            return Ok(());
        }
        self.check_depth(patch.depth())
    }

    fn check_depth(&self, depth: usize) -> Result<(), Error> {
        if depth > self.max_depth {
            return Err(Error::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(())
    }

    /// Checks `patch` as [`check_write`](Self::check_write) does, and
    /// returns the most applying it can add to `target`'s size as compact
    /// JSON: its [`growth_bound`](crate::Patch::growth_bound) and what it
    /// copies. An in-memory value's depth and length are found in one walk:
    /// this runs for every update a replica applies.
    pub(crate) fn check_growth<T: crate::patch::tree::Tree>(
        &self,
        target: &T,
        patch: &crate::Patch,
    ) -> Result<usize, Error> {
        let value = match patch {
            crate::Patch::Merge(patch) => patch.as_value(),
            crate::Patch::Replace(value) => Some(value),
            crate::Patch::Json(_) => None,
        };
        if let Some((depth, bound)) = value.and_then(crate::patch::length::depth_and_bound) {
            self.check_depth(depth)?;
            return Ok(bound.saturating_add(self.check_reach(target, patch)?));
        }
        let copied = self.check_write(target, patch)?;
        Ok(patch.growth_bound().saturating_add(copied))
    }

    /// Checks that applying `patch` to `target` stays within the bounds: a
    /// JSON Patch can write a small value far down a deep path, or copy what
    /// is already there (see `patch::effect::check_json_ops`). Returns how
    /// many bytes the patch copies from the state: with the patch's own
    /// length, the most it can add to the state's size.
    pub(crate) fn check_write<T: crate::patch::tree::Tree>(
        &self,
        target: &T,
        patch: &crate::Patch,
    ) -> Result<usize, Error> {
        self.check_patch(patch)?;
        self.check_reach(target, patch)
    }

    /// [`check_write`](Self::check_write) for a patch whose depth was
    /// checked already: what a JSON Patch's writes reach, and how many bytes
    /// it copies.
    pub(crate) fn check_reach<T: crate::patch::tree::Tree>(
        &self,
        target: &T,
        patch: &crate::Patch,
    ) -> Result<usize, Error> {
        match patch {
            crate::Patch::Json(ops) => crate::patch::effect::check_json_ops(
                target,
                ops,
                self.max_depth,
                self.max_message_bytes,
            ),
            _ => Ok(0),
        }
    }

    /// Checks wire text against the size bound `max`.
    pub(crate) fn check_size(&self, bytes: &[u8], max: usize) -> Result<(), Error> {
        if bytes.len() > max {
            return Err(Error::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        Ok(())
    }

    /// Checks how deep a message nests, as its reader measured it (`{}` is
    /// 1), against the depth bound, as [`Limits::check_text`] does.
    pub(crate) fn check_measured_depth(&self, depth: usize) -> Result<(), Error> {
        // The envelope itself is one level, as in `check_text`.
        if depth > self.max_depth + 1 {
            return Err(Error::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(())
    }

    /// Checks wire text against the size bound `max` and the depth bound.
    pub(crate) fn check_text(&self, bytes: &[u8], max: usize) -> Result<(), Error> {
        self.check_size(bytes, max)?;
        // The envelope itself is one level: allow the payload `max_depth` below
        // it.
        self.check_nesting(bytes, self.max_depth + 1)
    }

    /// Checks the text of a state with no message around it (a REST
    /// body) against the depth bound, as [`Limits::check_text`] checks the
    /// state within a message. (Its size is checked as it is read.)
    #[cfg(feature = "http")]
    pub(crate) fn check_state_text(&self, bytes: &[u8]) -> Result<(), Error> {
        self.check_nesting(bytes, self.max_depth)
    }

    /// Refuses text that nests deeper than `bound`.
    fn check_nesting(&self, bytes: &[u8], bound: usize) -> Result<(), Error> {
        // Text cannot nest deeper than it is long, nor than it has opening
        // brackets: short messages, and most others after a count of their
        // brackets (far cheaper), skip the scan.
        if bytes.len() > bound
            && crate::text::openers(bytes) > bound
            && crate::text::text_depth(bytes) > bound
        {
            return Err(Error::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(())
    }
}

/// An upper bound on a state's size as compact JSON, kept as changes apply,
/// so that [`Limits::max_state_bytes`] costs what a change costs: the state is
/// measured (no further than the bound) when it is made, and again only when
/// the changes since might have taken it past the bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateSize {
    at_most: usize,
}

impl StateSize {
    /// The size of a new state.
    ///
    /// # Errors
    ///
    /// [`Error::StateTooLarge`] when it is past the bound.
    pub(crate) fn measure(state: &impl serde::Serialize, limits: &Limits) -> Result<Self, Error> {
        let max = limits.max_state_bytes;
        match crate::patch::length::encoded_len_below(state, max.saturating_add(1)) {
            Some(size) if size <= max => Ok(Self { at_most: size }),
            _ => Err(Error::StateTooLarge { max }),
        }
    }

    /// The size of a new state counted as it was built: `size` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::StateTooLarge`] when it is past the bound.
    pub(crate) fn counted(size: usize, limits: &Limits) -> Result<Self, Error> {
        let max = limits.max_state_bytes;
        if size > max {
            return Err(Error::StateTooLarge { max });
        }
        Ok(Self { at_most: size })
    }

    /// Makes room for a change to `state` that adds at most `growth` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::StateTooLarge`] when it could take the state past the bound;
    /// nothing is counted then.
    pub(crate) fn admit(
        &mut self,
        state: &impl serde::Serialize,
        growth: usize,
        limits: &Limits,
    ) -> Result<(), Error> {
        let max = limits.max_state_bytes;
        if self.at_most.saturating_add(growth) > max {
            // Changes that replaced what was there counted as growth too:
            // see what the state really is before refusing.
            *self = Self::measure(state, limits)?;
            if self.at_most.saturating_add(growth) > max {
                return Err(Error::StateTooLarge { max });
            }
        }
        self.at_most += growth;
        Ok(())
    }
}

/// The nesting of an in-memory value (a scalar is 0), walked without recursion
/// so that a hostile value cannot exhaust the stack here.
pub(crate) fn value_depth(value: &Value) -> usize {
    crate::patch::tree::Tree::depth(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::text_depth;
    use serde_json::json;

    /// One walk or two, the same patches pass with the same growth, and
    /// the same are refused: below, at and past the recursion's depth and
    /// the limit's.
    #[test]
    fn check_growth_is_check_write_and_the_growth_bound() {
        use crate::Patch;
        use crate::patch::tree::SHALLOW;
        let state = json!({"a": 1});
        for max_depth in [4, 64] {
            let limits = Limits::default().max_depth(max_depth);
            for depth in [0, 1, 4, 5, SHALLOW, SHALLOW + 1, 64, 65] {
                let value = (0..depth).fold(json!(1.5), |inner, _| json!({"x": inner, "y": "z"}));
                for patch in [Patch::Merge(value.clone().into()), Patch::Replace(value)] {
                    let two_walks = limits
                        .check_write(&state, &patch)
                        .map(|copied| patch.growth_bound() + copied);
                    let one_walk = limits.check_growth(&state, &patch);
                    match (two_walks, one_walk) {
                        (Ok(two), Ok(one)) => assert_eq!(two, one, "{depth} in {max_depth}"),
                        (Err(Error::TooDeep { .. }), Err(Error::TooDeep { .. })) => {
                            assert!(depth > max_depth);
                        }
                        other => panic!("{depth} in {max_depth}: {other:?}"),
                    }
                }
            }
        }
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
