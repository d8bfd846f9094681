//! The check of a value that records what it found on a [`Tape`].

use std::ops::Range;

use super::{GiveUp, Reader};
use crate::text::tape::{Entry, Span, Tape};

impl Reader<'_> {
    /// Reads one value through, checking it as [`Reader::checked_value`]
    /// does, and records its tokens on `tape`: the span of its text, to
    /// which the tape's spans are relative.
    pub(crate) fn recorded_value(&mut self, tape: &mut Tape) -> Result<Range<usize>, GiveUp> {
        self.whitespace();
        let start = self.at;
        self.record_value(start, 0, tape)?;
        Ok(start..self.at)
    }

    /// [`Reader::check_value`], recording: `base` is where the recorded
    /// text starts, `depth` the nesting the value sits in.
    fn record_value(&mut self, base: usize, depth: usize, tape: &mut Tape) -> Result<(), GiveUp> {
        self.whitespace();
        let entry = match self.next_byte()? {
            b'{' => {
                let inner = self.nest(depth)?;
                tape.push(Entry::Object);
                let mut first = true;
                while self.member_start(first)? {
                    first = false;
                    let key = self.recorded_string(base)?;
                    tape.push(Entry::Key(key));
                    self.expect(b':')?;
                    self.record_value(base, inner, tape)?;
                }
                Entry::End
            }
            b'[' => {
                let start = self.at - 1;
                self.at = start;
                self.check_value(depth)?;
                Entry::Array(Span::new(base, start, self.at, false))
            }
            b'"' => Entry::String(self.recorded_string(base)?),
            b't' => self.literal(b"rue", Entry::Bool(true))?,
            b'f' => self.literal(b"alse", Entry::Bool(false))?,
            b'n' => self.literal(b"ull", Entry::Null)?,
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                Entry::Number(self.number()?)
            }
            _ => return Err(GiveUp),
        };
        tape.push(entry);
        Ok(())
    }

    /// Passes a string whose opening quote has been read, checking it as
    /// [`Reader::string`] reads it: the span of its content.
    fn recorded_string(&mut self, base: usize) -> Result<Span, GiveUp> {
        let start = self.at;
        let escaped = self.scan_string()?;
        if escaped {
            self.escaped(start)?;
        }
        Ok(Span::new(base, start, self.at - 1, escaped))
    }
}
