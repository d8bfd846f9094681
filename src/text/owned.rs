//! [`OwnedText`]: wire text copied to be kept, in a buffer used again.

use std::fmt;
use std::ops::Deref;

use super::spare;

/// A copy of wire text (an update's patch, or the whole message), kept
/// until the update is merged: when dropped, its buffer is kept for the next
/// copy made on the thread (see `text::spare`), instead of freed.
#[derive(Clone)]
pub(crate) struct OwnedText(String);

impl OwnedText {
    /// A copy of `text`.
    pub(crate) fn copy_of(text: &str) -> Self {
        let mut copy = spare::take_text();
        copy.push_str(text);
        Self(copy)
    }
}

impl Deref for OwnedText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OwnedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Drop for OwnedText {
    fn drop(&mut self) {
        spare::keep_text(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_reads_as_its_text_and_its_buffer_serves_again() {
        let copy = OwnedText::copy_of("{\"seq\":1}");
        assert_eq!(&*copy, "{\"seq\":1}");
        assert_eq!(format!("{copy:?}"), r#""{\"seq\":1}""#);
        let place = copy.as_ptr();
        drop(copy);
        let again = OwnedText::copy_of("{}");
        assert_eq!(&*again, "{}");
        assert_eq!(again.as_ptr(), place);
        assert_eq!(&*again.clone(), "{}");
    }
}
