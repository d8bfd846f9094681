//! Large text messages as a sequence of frames (RFC 6455 §5.4).
//!
//! tungstenite formats a frame whole into its write buffer, and the buffer
//! keeps its largest size for as long as the connection lives: one 1 MB
//! snapshot would cost its subscriber 1 MB until it disconnects. Sent as
//! frames of at most [`FRAGMENT`] bytes, each flushed before the next, the
//! buffer never holds more than one of them. Every conforming client gives
//! the frames back as one message.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The most payload one frame carries: with its 4-byte header, such a frame
/// fills the connection's 8 KiB write buffer exactly, so a large message
/// leaves behind no more than a burst of small ones does. The extra writes
/// cost little beside making the message.
pub(super) const FRAGMENT: usize = 8 * 1024 - HEADER;

/// The header of an unmasked frame of 126 to 65535 bytes.
pub(super) const HEADER: usize = 4;

/// The frames of `text` when it is larger than [`FRAGMENT`]; `None` when it
/// fits in one frame and is best sent as a plain message.
pub(super) fn fragments(text: &Utf8Bytes) -> Option<Fragments> {
    (text.len() > FRAGMENT).then(|| Fragments::of([Bytes::from(text.clone())]))
}

/// An iterator over the frames of one text message: a `Text` frame, then
/// `Continue` frames, the last of them final. The frames share the message's
/// bytes rather than copying them.
pub(super) struct Fragments {
    /// What the frames given so far have not carried, in parts, each valid
    /// UTF-8 on its own.
    rest: VecDeque<Bytes>,
    /// Whether the next frame is the first, which names the message's type.
    first: bool,
}

impl Fragments {
    /// The frames of the message that is `parts` one after the other. No
    /// frame spans two parts, so the parts are never joined: a snapshot goes
    /// out as its envelope around the topic's shared text, copied nowhere.
    pub(super) fn of(parts: impl IntoIterator<Item = Bytes>) -> Self {
        Self {
            rest: parts.into_iter().filter(|part| !part.is_empty()).collect(),
            first: true,
        }
    }
}

impl Iterator for Fragments {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        if self.rest.is_empty() && !self.first {
            return None;
        }
        let piece = match self.rest.front_mut() {
            Some(part) => {
                let piece = part.split_to(char_boundary(part, FRAGMENT));
                if part.is_empty() {
                    self.rest.pop_front();
                }
                piece
            }
            None => Bytes::new(),
        };
        let data = if self.first {
            Data::Text
        } else {
            Data::Continue
        };
        self.first = false;
        Some(Frame::message(
            piece,
            OpCode::Data(data),
            self.rest.is_empty(),
        ))
    }
}

/// The largest index no greater than `at` that starts a character of the
/// UTF-8 `text` (or its end). RFC 6455 lets a character span two frames, but
/// a client that checks each frame on its own is spared a false alarm.
fn char_boundary(text: &[u8], at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    // A UTF-8 continuation byte is `10xx_xxxx`; a character has at most three.
    let mut at = at;
    while at > 0 && text[at] & 0b1100_0000 == 0b1000_0000 {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(text: &str) -> (String, Vec<Frame>) {
        let frames: Vec<Frame> = fragments(&Utf8Bytes::from(text))
            .expect("larger than one fragment")
            .collect();
        let mut whole = Vec::new();
        for frame in &frames {
            whole.extend_from_slice(frame.payload());
        }
        (String::from_utf8(whole).expect("valid UTF-8"), frames)
    }

    #[test]
    fn small_messages_are_not_fragmented() {
        assert!(fragments(&Utf8Bytes::from("x".repeat(FRAGMENT))).is_none());
    }

    #[test]
    fn frames_carry_the_whole_message_once_marked_as_rfc_6455_asks() {
        let text = "x".repeat(2 * FRAGMENT + 1);
        let (whole, frames) = reassemble(&text);
        assert_eq!(whole, text);
        let shapes: Vec<_> = frames
            .iter()
            .map(|frame| {
                let header = frame.header();
                (header.opcode, header.is_final, frame.payload().len())
            })
            .collect();
        assert_eq!(
            shapes,
            [
                (OpCode::Data(Data::Text), false, FRAGMENT),
                (OpCode::Data(Data::Continue), false, FRAGMENT),
                (OpCode::Data(Data::Continue), true, 1),
            ]
        );
    }

    #[test]
    fn an_exact_multiple_ends_with_a_full_final_frame() {
        let text = "y".repeat(3 * FRAGMENT);
        let (whole, frames) = reassemble(&text);
        assert_eq!(whole, text);
        assert_eq!(frames.len(), 3);
        assert!(frames[2].header().is_final);
    }

    #[test]
    fn parts_go_out_in_order_without_a_frame_spanning_two() {
        let parts = [
            Bytes::from_static(b"{\"data\":"),
            Bytes::from("z".repeat(FRAGMENT + 3)),
            Bytes::new(),
            Bytes::from_static(b"}"),
        ];
        let frames: Vec<Frame> = Fragments::of(parts.clone()).collect();
        let sizes: Vec<_> = frames.iter().map(|frame| frame.payload().len()).collect();
        assert_eq!(sizes, [8, FRAGMENT, 3, 1]);
        let whole: Vec<u8> = frames
            .iter()
            .flat_map(|frame| frame.payload().to_vec())
            .collect();
        assert_eq!(whole, parts.concat());
        assert!(frames[..3].iter().all(|frame| !frame.header().is_final));
        assert!(frames[3].header().is_final);
        assert_eq!(frames[0].header().opcode, OpCode::Data(Data::Text));
    }

    #[test]
    fn characters_are_never_split_between_frames() {
        // Shifted by one byte each time, so that some frame boundary falls
        // inside a four-byte character at every offset.
        for shift in 0..4 {
            let text = format!("{}{}", "a".repeat(shift), "🦀".repeat(FRAGMENT));
            let (whole, frames) = reassemble(&text);
            assert_eq!(whole, text);
            for frame in &frames {
                assert!(std::str::from_utf8(frame.payload()).is_ok());
                assert!(frame.payload().len() <= FRAGMENT);
            }
        }
    }
}
