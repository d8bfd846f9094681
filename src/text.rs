//! JSON text read without building values: the one text layer under every
//! reader of wire messages (updates, envelopes, patches kept as text).
//!
//! It knows JSON and nothing of the protocol or of patches: it gives spans
//! and tokens of the text (or a tape of them, recorded as the text is
//! checked), and the callers decide what they mean. It also keeps, per
//! thread, the buffers of the last update's text and tape for the next.

mod depth;
mod owned;
mod reader;
mod spare;
mod tape;

pub(crate) use depth::{openers, text_depth};
pub(crate) use owned::OwnedText;
pub(crate) use reader::{GiveUp, Reader, Token, arbitrary_precision};
pub(crate) use tape::{Entry, LONGEST_TAPED, Tape};
