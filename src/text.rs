//! JSON text read without building values: the one text layer under every
//! reader of wire messages (updates, envelopes, patches kept as text).
//!
//! It knows JSON and nothing of the protocol or of patches: it gives spans
//! and tokens of the text, and the callers decide what they mean.

mod depth;
mod owned;
mod reader;
mod spare;
mod tape;

pub(crate) use depth::{openers, text_depth};
pub(crate) use owned::OwnedText;
pub(crate) use reader::{GiveUp, Reader, Token};
pub(crate) use tape::{Entry, LONGEST_TAPED, Tape};
