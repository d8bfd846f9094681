//! The check of a value that records what it found on a [`Tape`].

use std::ops::Range;

use super::{GiveUp, Reader};
use crate::text::tape::{Entry, Span, Tape};

impl Reader<'_> {
    /// Reads one value through, checking it as [`Reader::checked_value`]
    /// does, and records its tokens on `tape`: the span of its text, to
    /// which the tape's spans are relative, and how deep it nests.
    ///
    /// Objects are followed in a loop with a count of those open rather
    /// than by recursion: a patch is mostly a few small objects one inside
    /// the other, and a call per object would cost more than its members.
    // Inlined into the update reader, its one caller on the strict path:
    // 20-35 instructions an update less (callgrind), which the codegen
    // units' split had stopped doing on its own.
    #[inline]
    pub(crate) fn recorded_value(
        &mut self,
        tape: &mut Tape,
    ) -> Result<(Range<usize>, usize), GiveUp> {
        // A copy, read through and put back: what is rare (an array, a long
        // number, an escape) is read on copies of it in turn, so that its
        // place never leaves a register in the common case.
        let mut reader = self.clone();
        let recorded = reader.record(tape)?;
        self.at = reader.at;
        Ok(recorded)
    }

    /// [`Reader::recorded_value`], on a reader of its own.
    #[inline(always)]
    fn record(&mut self, tape: &mut Tape) -> Result<(Range<usize>, usize), GiveUp> {
        self.whitespace();
        let base = self.at;
        let (mut open, mut deepest) = (0, 0);
        loop {
            // At a value: an object's opening, or a value recorded whole.
            self.whitespace();
            let entry = match self.next_byte()? {
                b'{' => {
                    open = self.nest(open)?;
                    deepest = deepest.max(open);
                    tape.push(Entry::Object);
                    if self.member_start(true)? {
                        tape.push(Entry::Key(self.recorded_key(base)?));
                        continue;
                    }
                    open -= 1;
                    Entry::End
                }
                b'[' => {
                    let start = self.at - 1;
                    let mut inside = 0;
                    self.at = self.aside(|reader| {
                        reader.at = start;
                        inside = reader.check_value(open)?;
                        Ok(())
                    })?;
                    deepest = deepest.max(inside);
                    Entry::Array(Span::new(base, start, self.at, false))
                }
                b'"' => Entry::String(self.recorded_string(base)?),
                b't' => self.literal(b"rue", Entry::Bool(true))?,
                b'f' => self.literal(b"alse", Entry::Bool(false))?,
                b'n' => self.literal(b"ull", Entry::Null)?,
                b'-' | b'0'..=b'9' => {
                    self.at -= 1;
                    Entry::Number(self.recorded_number()?)
                }
                _ => return Err(GiveUp),
            };
            tape.push(entry);
            // After a value: the next member's key, or the end of objects.
            loop {
                if open == 0 {
                    return Ok((base..self.at, deepest));
                }
                if self.member_start(false)? {
                    tape.push(Entry::Key(self.recorded_key(base)?));
                    break;
                }
                tape.push(Entry::End);
                open -= 1;
            }
        }
    }

    /// Runs `read` on a copy of the reader: where the copy ends.
    #[inline(always)]
    fn aside<T>(&self, read: impl FnOnce(&mut Self) -> Result<T, GiveUp>) -> Result<usize, GiveUp> {
        let mut copy = self.clone();
        read(&mut copy)?;
        Ok(copy.at)
    }

    /// A number, as [`Reader::number`] reads it.
    #[inline(always)]
    fn recorded_number(&mut self) -> Result<serde_json::Number, GiveUp> {
        if !super::arbitrary_precision() {
            if let Some((number, len)) = super::short_number::short_number(&self.bytes[self.at..]) {
                self.at += len;
                return Ok(number);
            }
        }
        let mut number = None;
        self.at = self.aside(|reader| {
            number = Some(reader.any_number()?);
            Ok(())
        })?;
        number.ok_or(GiveUp)
    }

    /// A member's key, its opening quote read, and the `:` after it.
    #[inline(always)]
    fn recorded_key(&mut self, base: usize) -> Result<Span, GiveUp> {
        let key = self.recorded_string(base)?;
        self.expect(b':')?;
        Ok(key)
    }

    /// Passes a string whose opening quote has been read, checking it as
    /// [`Reader::string`] reads it: the span of its content.
    #[inline(always)]
    fn recorded_string(&mut self, base: usize) -> Result<Span, GiveUp> {
        let start = self.at;
        let escaped = self.scan_string()?;
        if escaped {
            self.aside(|reader| reader.escaped(start))?;
        }
        Ok(Span::new(base, start, self.at - 1, escaped))
    }
}

#[cfg(test)]
mod tests {
    use std::slice;

    use serde_json::{Map, Value};

    use super::*;

    /// The value `entries` record, built back from them and `text`.
    fn value_of(text: &str, entries: &mut slice::Iter<'_, Entry>) -> Value {
        match entries.next().expect("a whole value") {
            Entry::Object => {
                let mut members = Map::new();
                loop {
                    match entries.next().expect("a key or the end") {
                        Entry::Key(key) => {
                            let key = key.string(text).into_owned();
                            let value = value_of(text, entries);
                            members.insert(key, value);
                        }
                        Entry::End => return Value::Object(members),
                        other => panic!("{other:?} in an object"),
                    }
                }
            }
            Entry::Null => Value::Null,
            Entry::Bool(value) => Value::Bool(*value),
            Entry::Number(number) => Value::Number(number.clone()),
            Entry::String(span) => Value::String(span.string(text).into_owned()),
            Entry::Array(span) => serde_json::from_str(span.text(text)).expect("a checked array"),
            other => panic!("{other:?} where a value starts"),
        }
    }

    /// `text` recorded and checked: both give up, or both end at the same
    /// place, and the tape then says what `serde_json` reads.
    fn records_as_it_checks(text: &str) -> Result<(), String> {
        let mut tape = Tape::for_text(text.len());
        let (mut recording, mut checking) = (Reader::new(text), Reader::new(text));
        let recorded = recording.recorded_value(&mut tape);
        let checked = checking.checked_value();
        match (recorded, checked) {
            (Err(GiveUp), Err(GiveUp)) => Ok(()),
            (Ok(recorded), Ok(checked)) if recorded == checked => {
                let span = &text[recorded.0];
                let expected: Value = serde_json::from_str(span).map_err(|e| e.to_string())?;
                let read = value_of(span, &mut tape.entries().iter());
                (read == expected)
                    .then_some(())
                    .ok_or_else(|| format!("{text}: read {read}, serde_json {expected}"))
            }
            (recorded, checked) => Err(format!("{text}: {recorded:?} against {checked:?}")),
        }
    }

    #[test]
    fn records_what_serde_json_reads() {
        for text in [
            r#"{"SYM00012":{"price":1.23,"change":-0.42,"volume":1234567,"ts":1718000000123456}}"#,
            r#" { "a" : { "b" : [ 1 , { "c" : null } ] } , "d" : "x" } "#,
            r#"{"esc\"aped":"a\nb\u00e9\ud83d\ude00","plain":"héllo","k":{}}"#,
            r#"{"twice":1,"twice":{"inner":true}}"#,
            r#"{"e":1e3,"f":-0,"g":-0.0,"big":18446744073709551616,"low":-9223372036854775809}"#,
            // Rounded correctly, where `serde_json` without its
            // `float_roundtrip` feature is a unit off.
            "-0.18446744073709551616",
            "{}",
            "[]",
            "17",
            r#""text""#,
            "null",
            "false",
        ] {
            records_as_it_checks(text).unwrap();
        }
    }

    #[test]
    fn gives_up_where_the_check_does() {
        let deep = |levels: usize| format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels));
        for text in [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":"\x"}"#,
            r#"{"\ud800":1}"#,
            r#"{"a":1e400}"#,
            r#"{"a":01}"#,
            &deep(super::super::DEEPEST),
            &deep(super::super::DEEPEST + 1),
        ] {
            records_as_it_checks(text).unwrap();
        }
        assert!(
            Reader::new(&deep(super::super::DEEPEST + 1))
                .recorded_value(&mut Tape::default())
                .is_err()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Recording gives up, accepts and ends exactly where checking
        /// does, and what it records is what `serde_json` reads.
        #[test]
        fn recording_agrees_with_checking(text in super::super::tests::jsonish()) {
            let wrapped = format!(r#"{{"k":{text}}}"#);
            for text in [&text, &wrapped] {
                proptest::prop_assert_eq!(records_as_it_checks(text), Ok(()));
            }
        }
    }
}
