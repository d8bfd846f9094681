//! [`Load`]: a new snapshot made into a [`Replica`], a page at a time.
//!
//! A snapshot that comes as text ([`SnapshotText`]) is read member by
//! member of its state, each member parsed straight into a [`Document`]
//! and measured, so that a table of 100,000 rows (20 MB) costs some 160
//! short polls instead of one long one. Anything the page reader is not
//! sure of (a state that is not an object, a member it cannot read, text
//! after the state) is read whole by `serde_json`, which accepts it or says
//! precisely what is wrong, as a snapshot read in one piece always was.

use super::Replica;
use crate::document::Map;
use crate::limits::StateSize;
use crate::patch::length::encoded_len_below;
use crate::source::{Fetched, SnapshotText};
use crate::text::{GiveUp, Reader};
use crate::{Document, Error, Limits, Snapshot};

/// A new state being read, to be swapped in whole once it all is.
#[derive(Debug)]
pub(crate) struct Load {
    version: Option<u64>,
    pending: Pending,
}

#[derive(Debug)]
enum Pending {
    /// Read already: made into a replica by the first step.
    Parsed(Option<Snapshot>),
    /// Text whose state is read a page a step.
    Text(Pages),
}

/// The state of a [`SnapshotText`] read so far.
#[derive(Debug)]
struct Pages {
    text: SnapshotText,
    /// Where the next member (or the end of the state) is.
    at: usize,
    /// The members read; `None` before the state's `{`.
    members: Option<Map>,
    /// The size of those members as compact JSON, braces and commas too.
    size: usize,
}

/// Why a page stopped before the state's end.
enum Stop {
    /// The text needs `serde_json`: read it whole.
    Whole,
    Refused(Error),
}

impl From<GiveUp> for Stop {
    fn from(GiveUp: GiveUp) -> Self {
        Self::Whole
    }
}

impl Load {
    /// The load of a snapshot read already: one step.
    pub(crate) fn parsed(snapshot: Snapshot) -> Self {
        Self {
            version: snapshot.version,
            pending: Pending::Parsed(Some(snapshot)),
        }
    }

    /// The load of a snapshot as its source fetched it.
    pub(crate) fn fetched(fetched: Fetched) -> Self {
        match fetched {
            Fetched::Snapshot(snapshot) => Self::parsed(snapshot),
            Fetched::Text(text) => Self::text(text),
        }
    }

    /// The load of a snapshot's text, a page a step.
    pub(crate) fn text(text: SnapshotText) -> Self {
        Self {
            version: text.version(),
            pending: Pending::Text(Pages {
                at: text.data_start().unwrap_or(0),
                text,
                members: None,
                size: 0,
            }),
        }
    }

    /// Reads about `budget` more bytes of the state: `None` while there is
    /// more, then the replica, or why the snapshot is refused.
    pub(crate) fn step(
        &mut self,
        budget: usize,
        limits: &Limits,
    ) -> Option<Result<Replica, Error>> {
        match &mut self.pending {
            Pending::Parsed(snapshot) => {
                let snapshot = snapshot.take().expect("a load is not stepped once done");
                Some(Replica::new(snapshot, limits))
            }
            Pending::Text(pages) => {
                match pages.read(budget, limits) {
                    Ok(false) => None,
                    Ok(true) => {
                        let members = pages.members.take().unwrap_or_default();
                        let size = StateSize::counted(pages.size, limits);
                        Some(size.map(|size| {
                            Replica::sized(Document::Object(members), self.version, size)
                        }))
                    }
                    Err(Stop::Refused(error)) => Some(Err(error)),
                    Err(Stop::Whole) => Some(pages.whole(limits)),
                }
            }
        }
    }
}

impl Pages {
    /// Reads members until `budget` bytes are passed or the state ends;
    /// whether it has.
    fn read(&mut self, budget: usize, limits: &Limits) -> Result<bool, Stop> {
        let text = self.text.text();
        let stop = self.at.saturating_add(budget);
        if self.text.data_start().is_none() {
            return Err(Stop::Whole);
        }
        let mut reader = Reader::starting_at(text, self.at);
        let members = match &mut self.members {
            Some(members) => members,
            None => {
                // Only an object is read in pages: a table's rows.
                reader.expect(b'{')?;
                self.size = 2;
                self.members.insert(Map::new())
            }
        };
        let max = limits.max_state_bytes;
        while let Some(key) = reader.next_member(members.is_empty())? {
            let start = reader.value_start();
            let mut values =
                serde_json::Deserializer::from_str(&text[start..]).into_iter::<Document>();
            let Some(Ok(value)) = values.next() else {
                return Err(Stop::Whole);
            };
            let end = start + values.byte_offset();
            // The key, its colon, the value, and a comma or a brace: one
            // comma too many is counted until the end.
            // Past the bound, or a member named twice (the last one stays,
            // and what the first counted no longer is): the text is read
            // whole, which measures the state as it is and refuses it only
            // if that is too large.
            let room = max.saturating_add(2).saturating_sub(self.size);
            let size = encoded_len_below(&key, room)
                .zip(encoded_len_below(&value, room))
                .map(|(key, value)| key + value + 2)
                .filter(|&size| size <= room)
                .ok_or(Stop::Whole)?;
            self.size += size;
            if members.insert(&key, value).is_some() {
                return Err(Stop::Whole);
            }
            reader = Reader::starting_at(text, end);
            if end >= stop {
                self.at = end;
                return Ok(false);
            }
        }
        // The first member has no comma before it.
        self.size -= usize::from(!members.is_empty());
        if self.size > max {
            return Err(Stop::Refused(Error::StateTooLarge { max }));
        }
        if self.text.is_bare() {
            // The state alone: nothing may follow it.
            return match reader.at_end() {
                true => Ok(true),
                false => Err(Stop::Whole),
            };
        }
        // What follows the state: other members of the message, none of
        // them one it has had already, and its end.
        while let Some(key) = reader.plain_key(false)? {
            if ["version", "data", "type", "topic"].contains(&key) {
                return Err(Stop::Whole);
            }
            reader.skip_value()?;
        }
        if !reader.at_end() {
            return Err(Stop::Whole);
        }
        Ok(true)
    }

    /// The snapshot read whole, by `serde_json`.
    fn whole(&self, limits: &Limits) -> Result<Replica, Error> {
        let snapshot: Snapshot<Document> = self.text.read_whole()?;
        Replica::measured(snapshot.data, snapshot.version, limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// The state of `text` as a load reads it, `budget` bytes a step.
    fn paged(text: &str, budget: usize) -> Result<(Option<u64>, Document), Error> {
        let limits = Limits::default();
        let mut load = Load::text(SnapshotText::read(text, &limits)?);
        loop {
            if let Some(replica) = load.step(budget, &limits) {
                let replica = replica?;
                return Ok((replica.version(), replica.into_state()));
            }
        }
    }

    /// The state of `text`, a state alone (a REST body) at `version`, as a
    /// load reads it, `budget` bytes a step.
    fn paged_bare(
        text: &str,
        version: u64,
        budget: usize,
    ) -> Result<(Option<u64>, Document), Error> {
        let limits = Limits::default();
        let mut load = Load::text(SnapshotText::bare(text.into(), Some(version)));
        loop {
            if let Some(replica) = load.step(budget, &limits) {
                let replica = replica?;
                return Ok((replica.version(), replica.into_state()));
            }
        }
    }

    /// `text` loaded in pages of `budget` bytes within `limits`.
    fn paged_within(text: &str, budget: usize, limits: &Limits) -> Result<Document, Error> {
        let mut load = Load::text(SnapshotText::read(text, limits)?);
        loop {
            if let Some(replica) = load.step(budget, limits) {
                return Ok(replica?.into_state());
            }
        }
    }

    #[test]
    fn a_member_named_twice_counts_once_toward_the_state_bound() {
        // The first `a` alone is past the bound; the state keeps the last.
        let text = format!(
            r#"{{"version":1,"data":{{"a":"{}","a":1}}}}"#,
            "x".repeat(100)
        );
        let limits = Limits::default().max_state_bytes(50);
        for budget in [1, 16, 1 << 20] {
            let state = paged_within(&text, budget, &limits).unwrap();
            assert_eq!(state, serde_json::json!({"a": 1}), "budget {budget}");
        }
        // Too large whatever is named twice: refused, by the exact measure.
        let text = format!(
            r#"{{"version":1,"data":{{"a":1,"a":"{}"}}}}"#,
            "x".repeat(100)
        );
        for budget in [1, 16, 1 << 20] {
            let refused = paged_within(&text, budget, &limits);
            assert!(
                matches!(refused, Err(Error::StateTooLarge { max: 50 })),
                "budget {budget}: {refused:?}"
            );
        }
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-c\"\\\\é]{0,4}".prop_map(Value::from),
        ];
        crate::testing::json(leaf, "[a-c\"]{0,2}", 3, 5)
    }

    /// Mostly tables: objects of rows, which are read in pages.
    fn state() -> impl Strategy<Value = Value> {
        let table = prop::collection::btree_map("[a-c\"é]{0,3}", json(), 0..12)
            .prop_map(|rows| Value::Object(rows.into_iter().collect()));
        prop_oneof![3 => table, 1 => json()]
    }

    /// `text` with `piece` put in at a place `insert` picks, then cut at a
    /// place `cut` picks (each only at a character's boundary).
    fn spoiled(
        mut text: String,
        insert: Option<(prop::sample::Index, String)>,
        cut: Option<prop::sample::Index>,
    ) -> String {
        if let Some((at, piece)) = insert {
            let at = at.index(text.len() + 1);
            if text.is_char_boundary(at) {
                text.insert_str(at, &piece);
            }
        }
        if let Some(cut) = cut {
            let at = cut.index(text.len() + 1);
            if text.is_char_boundary(at) {
                text.truncate(at);
            }
        }
        text
    }

    proptest! {
        /// Read a page at a time, any text gives what `serde_json` reads
        /// whole: the same state and version, or an error for both.
        #[test]
        fn pages_read_what_serde_json_reads_whole(
            state in state(),
            version in prop::option::of(0u64..100),
            cut in any::<prop::sample::Index>(),
            insert in prop::option::of((any::<prop::sample::Index>(), "[ ,:{}\\[\\]\"x0]")),
            truncate in any::<bool>(),
            budget in 1usize..64,
        ) {
            let version = version.map_or(String::new(), |version| format!(r#""version":{version},"#));
            let text = format!(r#"{{{version}"data":{state}}}"#);
            let text = spoiled(text, insert, truncate.then_some(cut));
            let whole = serde_json::from_str::<Snapshot>(&text);
            match (paged(&text, budget), whole) {
                (Ok((version, document)), Ok(whole)) => {
                    prop_assert_eq!(version, whole.version);
                    prop_assert_eq!(document, whole.data);
                }
                (Err(_), Err(_)) => {}
                (paged, whole) => prop_assert!(false, "{text}: paged {paged:?}, whole {whole:?}"),
            }
        }

        /// A state alone (a REST body), read a page at a time, is what
        /// `serde_json` reads whole, at the version it came with; or an
        /// error for both: what follows the state is no member of a
        /// message, not even a `version`.
        #[test]
        fn a_bare_state_in_pages_is_what_serde_json_reads_whole(
            state in state(),
            cut in any::<prop::sample::Index>(),
            insert in prop::option::of((any::<prop::sample::Index>(), "[ ,:{}\\[\\]\"x0]|,\"version\":9|,\"x\":2")),
            truncate in any::<bool>(),
            budget in 1usize..64,
        ) {
            let text = spoiled(state.to_string(), insert, truncate.then_some(cut));
            let whole = serde_json::from_str::<Value>(&text);
            match (paged_bare(&text, 5, budget), whole) {
                (Ok((version, document)), Ok(whole)) => {
                    prop_assert_eq!(version, Some(5));
                    prop_assert_eq!(document, whole);
                }
                (Err(_), Err(_)) => {}
                (paged, whole) => prop_assert!(false, "{text}: paged {paged:?}, whole {whole:?}"),
            }
        }
    }

    #[test]
    fn members_after_a_bare_state_refuse_it() {
        for text in [
            r#"{"a":1},"x":2"#,
            r#"{"a":1},"x":2}"#,
            r#"{"a":1},"version":99}"#,
            r#"{"a":1},"version":99"#,
            r#"[1],"version":99"#,
            r#"{"a":1}}"#,
            r#"{"a":1} x"#,
        ] {
            for budget in [1, 4, 1 << 20] {
                let paged = paged_bare(text, 5, budget);
                assert!(
                    matches!(paged, Err(Error::Malformed(_))),
                    "{text}: {paged:?}"
                );
            }
        }
        let (version, state) = paged_bare(" {\"a\":1} \n", 5, 1).unwrap();
        assert_eq!(
            (version, state),
            (Some(5), Document::from(serde_json::json!({"a": 1})))
        );
    }
}
