//! [`Body`]: a snapshot response's body, read in chunks within the limits,
//! then as a snapshot or as text for a resource to read in pages.

use serde_json::Value;

use super::Format;
use crate::source::{Fetched, SnapshotText};
use crate::{Limits, Snapshot};

/// A snapshot response's body as it comes in, in chunks: refused as soon as
/// it is known to pass [`Limits::max_snapshot_bytes`], without being held
/// whole, then read in its format.
pub(super) struct Body<'a> {
    format: &'a Format,
    /// What came so far.
    buffer: Vec<u8>,
    max: usize,
    /// The `Content-Length` the response announced.
    length: Option<u64>,
}

impl<'a> Body<'a> {
    pub(super) fn new(format: &'a Format, limits: &Limits, length: Option<u64>) -> Self {
        Self {
            format,
            buffer: Vec::new(),
            max: limits.max_snapshot_bytes,
            length,
        }
    }

    /// Refuses a body announced larger than the bound before any of it is
    /// read, and makes room for one within it.
    pub(super) fn check_length(&mut self) -> Result<(), crate::Error> {
        if let Some(length) = self.length {
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            if length > self.max {
                return Err(self.too_large(length));
            }
            self.buffer.reserve(length);
        }
        Ok(())
    }

    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<(), crate::Error> {
        let size = self.buffer.len().saturating_add(chunk.len());
        if size > self.max {
            return Err(self.too_large(size));
        }
        self.buffer.extend_from_slice(chunk);
        Ok(())
    }

    fn too_large(&self, size: usize) -> crate::Error {
        crate::Error::TooLarge {
            size,
            max: self.max,
        }
    }

    /// The snapshot the whole body holds; `version` is a REST endpoint's,
    /// from its header.
    pub(super) fn finish(
        self,
        limits: &Limits,
        version: Option<u64>,
    ) -> Result<Snapshot, crate::Error> {
        match self.format {
            Format::Live => limits.parse_snapshot(&self.buffer),
            Format::Rest { .. } => {
                // The body is the state alone; its size was checked as it
                // was read.
                limits.check_state_text(&self.buffer)?;
                let data: Value =
                    serde_json::from_slice(&self.buffer).map_err(crate::Error::Malformed)?;
                Ok(Snapshot { version, data })
            }
        }
    }

    /// The whole body as text, for a resource to read a page a poll
    /// ([`Fetched::Text`]); `version` is a REST endpoint's, from its header.
    /// A body that is not UTF-8 is read as [`finish`](Body::finish) reads
    /// it, which says what is wrong with it.
    pub(super) fn finish_text(
        self,
        limits: &Limits,
        version: Option<u64>,
    ) -> Result<Fetched, crate::Error> {
        let Ok(text) = std::str::from_utf8(&self.buffer) else {
            return self.finish(limits, version).map(Fetched::Snapshot);
        };
        match self.format {
            Format::Live => SnapshotText::read(text, limits).map(Fetched::Text),
            Format::Rest { .. } => {
                limits.check_state_text(text.as_bytes())?;
                Ok(Fetched::Text(SnapshotText::bare(text.into(), version)))
            }
        }
    }
}
