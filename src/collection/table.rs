//! [`Table`]: the typed rows of a table, each at its member's place in the
//! order of the table's JSON object, changed row by row as the journal of
//! its JSON state says.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde::de::{DeserializeOwned, Error as _};

use super::{Event, RowChange, RowKey};
use crate::document::Map;
use crate::error::RowError;
use crate::replica::{Changes, Shift};
use crate::{Document, Error, Patch};

/// What a table's changes give its consumer, in order.
pub(crate) type Items<K, T> = VecDeque<Result<Event<K, T>, Error>>;

/// Rows decoded into `T`.
///
/// Each row sits at the place its member has in the order of the state's
/// object: a change finds its row where the state's own lookup found the
/// member, with no hash table of the table's own (at a million rows, that
/// lookup was three or four of the twenty cache lines a change missed, and
/// a second copy of every key). The table repeats the [`Shift`]s each
/// change made to the object's order, so that it stays in step. Ordered by
/// key beside, in a tree that only rows added and removed change.
#[derive(Debug)]
pub(crate) struct Table<K, T> {
    /// `slots[i]`: the row of the object's `i`-th member, with its key;
    /// `None` while that member has never decoded into `T`, or its name
    /// is no `K`.
    slots: Vec<Option<(K, Arc<T>)>>,
    /// The keys of the rows, in order, each with its row's place.
    order: BTreeMap<K, usize>,
    /// Rows replaced by newer values, dropped [`RETIRED`] at a time.
    retired: Vec<Arc<T>>,
}

/// How many replaced rows are dropped together.
const RETIRED: usize = 32;

impl<K, T> Default for Table<K, T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            order: BTreeMap::new(),
            retired: Vec::new(),
        }
    }
}

impl<K, T> Table<K, T> {
    /// A table with room for `rows` rows: filled without growing.
    fn with_capacity(rows: usize) -> Self {
        Self {
            slots: Vec::with_capacity(rows),
            order: BTreeMap::new(),
            retired: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Drops `row`, a row's value replaced by a newer one, together with
    /// the rows replaced before it, once there are [`RETIRED`]: up to 31
    /// wait (an `Arc` of one, handed out in an event, may show one more
    /// owner meanwhile).
    ///
    /// A row replaced is far from the cache at a million rows: dropping
    /// it, its `Arc`'s count is a line to miss, then (in a count's atomic
    /// decrement, which waits for it) each of its strings' allocations.
    /// Dropped one by one, each waits for the last; dropped together, the
    /// counts are read first, one after the other with no wait between, so
    /// that their misses overlap. The rows dropped late are few, and their
    /// memory bounded.
    fn retire(&mut self, row: Arc<T>) {
        self.retired.push(row);
        if self.retired.len() >= RETIRED {
            for row in &self.retired {
                std::hint::black_box(Arc::strong_count(row));
            }
            self.retired.clear();
        }
    }
}

impl<K: RowKey, T> Table<K, T> {
    /// The row `key`; `state` is the table's JSON state, whose lookup says
    /// where the row is. (While a new state's rows are decoded, the table
    /// still has the rows of the state before, whose places may differ:
    /// then the row is found by its key in the order.)
    pub(crate) fn get(&self, key: &K, state: &Document) -> Option<&Arc<T>> {
        let place = state
            .as_object()
            .and_then(|members| members.index_of(&key.to_key()));
        match place.and_then(|place| self.slots.get(place)) {
            Some(Some((found, row))) if found == key => Some(row),
            _ => self.find(key),
        }
    }

    /// Reads the slot at `place`, told ahead of a change to its row (see
    /// [`Ahead`](crate::replica::Ahead)), and the count of the row it
    /// holds: reads that miss the cache at a million rows, made while the
    /// state's member is being read, so that the misses are waited for
    /// together (the count is read again when the row, replaced, is
    /// [retired](Table::retire)). A hint: the slot may hold another row, or
    /// none (during a reload), and nothing changes.
    pub(crate) fn touch(&self, place: usize) {
        if let Some(Some((_, row))) = self.slots.get(place) {
            std::hint::black_box(Arc::strong_count(row));
        }
    }

    /// The row `key`, found by its key in the order.
    fn find(&self, key: &K) -> Option<&Arc<T>> {
        let place = *self.order.get(key)?;
        self.slots[place].as_ref().map(|(_, row)| row)
    }

    /// The rows in key order.
    pub(crate) fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = (&K, &Arc<T>)> + DoubleEndedIterator {
        self.order.iter().map(|(key, &place)| {
            let (_, row) = self.slots[place]
                .as_ref()
                .expect("every key ordered has a row at its place");
            (key, row)
        })
    }

    /// Puts the row `key` at `place`, which had none.
    fn put(&mut self, place: usize, key: K, row: Arc<T>) {
        debug_assert!(self.slots[place].is_none(), "a place taken");
        if let Some(was) = self
            .order
            .insert(key.clone(), place)
            .filter(|&was| was != place)
        {
            // Two member names for one key (a `RowKey` that breaks its
            // contract): the row keeps one place.
            self.slots[was] = None;
        }
        self.slots[place] = Some((key, row));
    }

    /// Makes the move the state's object made, putting a row it removed
    /// into `gone` until its change is told.
    fn shift(&mut self, shift: Shift, gone: &mut Gone<K, T>) {
        match shift {
            Shift::Appended => self.slots.push(None),
            Shift::Removed(place) if place < self.slots.len() => {
                if let Some((key, row)) = self.slots.swap_remove(place) {
                    self.order.remove(&key);
                    gone.get_or_insert_with(HashMap::default).insert(key, row);
                }
                if let Some(Some((moved, _))) = self.slots.get(place) {
                    if let Some(at) = self.order.get_mut(moved) {
                        *at = place;
                    }
                }
            }
            Shift::Removed(_) => debug_assert!(false, "a table out of step with its state"),
        }
    }
}

/// The rows a change removed from their places, by key, until the change
/// of each is told (as removed, or as modified when the change put the
/// member back).
type Gone<K, T> = Option<HashMap<K, Arc<T>, foldhash::fast::RandomState>>;

/// A new state's rows being decoded, a few at a time, into a table of
/// their own, swapped in whole when all are.
#[derive(Debug)]
pub(crate) struct Reload<K, T> {
    /// The state before, to decode again only the rows that differ from it.
    previous: Option<Document>,
    version: Option<u64>,
    /// The index of the next member of the new state to look at.
    next: usize,
    /// Once every member is: the last key of the table looked at for rows
    /// that are gone.
    gone_after: Option<K>,
    /// The new table.
    fresh: Table<K, T>,
    /// What the new table changes, in the order of the [`Event::Reset`].
    changes: Vec<RowChange<K, T>>,
    errors: Vec<Error>,
    /// Once swapped: the table before, to free with `previous` a page at a
    /// time ([`Reload::shed`]).
    retired: Table<K, T>,
}

impl<K: RowKey, T> Reload<K, T> {
    /// Frees up to `budget` more rows of the table and the state before the
    /// reload; whether all are. At 100,000 rows they are a million
    /// allocations: freed at once, they would stall the poll that swaps.
    pub(crate) fn shed(&mut self, budget: usize) -> bool {
        let mut left = budget;
        match &mut self.previous {
            Some(Document::Object(before)) if !before.is_empty() => {
                let freed = before.len().min(left);
                before.truncate(before.len() - freed);
                left -= freed;
            }
            _ => self.previous = None,
        }
        let retired = &mut self.retired;
        let freed = retired.slots.len().min(left);
        retired.slots.truncate(retired.slots.len() - freed);
        left -= freed;
        while left > 0 && retired.order.pop_first().is_some() {
            left -= 1;
        }
        left > 0
    }
}

impl<K: RowKey, T: DeserializeOwned> Table<K, T> {
    /// Follows `changes`, which left the JSON state `state` at `version`:
    /// decodes again only the rows they touched, and pushes the events and
    /// the row errors onto `out`. A state replaced whole is not decoded
    /// here: the [`Reload`] returned is, by [`Table::reload`].
    pub(crate) fn apply(
        &mut self,
        changes: Changes,
        state: &Document,
        version: Option<u64>,
        out: &mut Items<K, T>,
    ) -> Option<Reload<K, T>> {
        match changes {
            Changes::Quiet => {}
            Changes::Rows { rows, shifts } => {
                let mut gone = None;
                for shift in shifts {
                    self.shift(shift, &mut gone);
                }
                let members = state.as_object();
                let len = members.map_or(0, Map::len);
                debug_assert_eq!(self.slots.len(), len, "in step with the state");
                if self.slots.len() < len {
                    // Never, as the shifts are worked out; were it to
                    // happen, rows would be missed, not read out of bounds.
                    self.slots.resize_with(len, || None);
                }
                for (id, patch) in rows {
                    let now = members.and_then(|members| members.get_full(&id));
                    match self.change(id, now, version, patch, &mut gone) {
                        Ok(Some(change)) => out.push_back(Ok(Event::Row { version, change })),
                        Ok(None) => {}
                        Err(error) => out.push_back(Err(error)),
                    }
                }
            }
            Changes::Whole { previous } => {
                if state.as_object().is_none() {
                    // The rows stay as they were.
                    out.push_back(Err(Error::Decode {
                        version,
                        source: serde_json::Error::custom(
                            "a table's state is a JSON object keyed by row id",
                        ),
                    }));
                    return None;
                }
                return Some(Reload {
                    previous,
                    version,
                    next: 0,
                    gone_after: None,
                    // Grown at once rather than at a page that doubles it.
                    fresh: Table::with_capacity(state.as_object().map_or(0, Map::len)),
                    changes: Vec::new(),
                    errors: Vec::new(),
                    retired: Table::default(),
                });
            }
        }
        None
    }

    /// Decodes up to `budget` more rows of `state` for `reload` into its
    /// own table, then looks for the rows that are gone, `budget` a call;
    /// when done, swaps the new table in, pushes the errors and one
    /// [`Event::Reset`] onto `out`, and says so. The table is unchanged
    /// until then, and each call costs its `budget`, not the table; the old
    /// one is left in `reload`, to [`shed`](Reload::shed).
    pub(crate) fn reload(
        &mut self,
        reload: &mut Reload<K, T>,
        state: &Document,
        budget: usize,
        out: &mut Items<K, T>,
    ) -> bool {
        let members = state.as_object().expect("a reload is of an object");
        if reload.next < members.len() {
            let end = members.len().min(reload.next.saturating_add(budget));
            for index in reload.next..end {
                let (id, json) = members.get_index(index).expect("a member");
                self.reload_row(reload, id, json);
            }
            reload.next = end;
            return false;
        }
        if !self.find_gone(reload, budget) {
            return false;
        }
        reload.retired = std::mem::replace(self, std::mem::take(&mut reload.fresh));
        out.extend(reload.errors.drain(..).map(Err));
        out.push_back(Ok(Event::Reset {
            version: reload.version,
            changes: std::mem::take(&mut reload.changes),
        }));
        true
    }

    /// Takes the row `id`, now `json`, into the new table of `reload`, at
    /// the next place.
    fn reload_row(&self, reload: &mut Reload<K, T>, id: &str, json: &Document) {
        let place = reload.fresh.slots.len();
        reload.fresh.slots.push(None);
        let was = reload
            .previous
            .as_ref()
            .and_then(Document::as_object)
            .and_then(|before| before.get_full(id));
        // The row before: at the member's place in the state before (which
        // this table follows), else found by key.
        let before = |key: &K| match was.and_then(|(at, _)| self.slots.get(at)) {
            Some(Some((found, row))) if found == key => Some(row),
            _ => self.find(key),
        };
        if was.map(|(_, was)| was) == Some(json) {
            // Unchanged: as it was, decoded or not (its error was told).
            if let Some((key, row)) =
                K::from_key(id).and_then(|key| Some((key.clone(), before(&key)?)))
            {
                reload.fresh.put(place, key, Arc::clone(row));
            }
            return;
        }
        let refused = |problem| Error::Row {
            key: id.to_owned(),
            version: reload.version,
            problem,
        };
        let Some(key) = K::from_key(id) else {
            reload.errors.push(refused(RowError::Key));
            return;
        };
        let row = match T::deserialize(json) {
            Ok(row) => Arc::new(row),
            Err(e) => {
                reload.errors.push(refused(RowError::Decode(e)));
                // The row's last good value stays.
                if let Some(row) = before(&key) {
                    reload.fresh.put(place, key, Arc::clone(row));
                }
                return;
            }
        };
        let existed = before(&key).is_some();
        reload.fresh.put(place, key.clone(), Arc::clone(&row));
        reload.changes.push(if existed {
            let patch = was
                .and_then(|(_, was)| Patch::diff(&was.to_value(), &json.to_value()))
                .unwrap_or_else(|| Patch::Replace(json.to_value()));
            RowChange::Modified { key, row, patch }
        } else {
            RowChange::Added { key, row }
        });
    }

    /// Looks at up to `budget` more rows of the table for those the new
    /// table of `reload` does not have; whether it has looked at them all.
    /// Both are in key order: they are walked side by side.
    fn find_gone(&self, reload: &mut Reload<K, T>, budget: usize) -> bool {
        let after = reload
            .gone_after
            .as_ref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        let mut kept = reload
            .fresh
            .order
            .range((after, Bound::Unbounded))
            .map(|(key, _)| key)
            .peekable();
        let mut last = None;
        for (key, &place) in self.order.range((after, Bound::Unbounded)).take(budget) {
            while kept.next_if(|kept| *kept < key).is_some() {}
            let row = self.slots[place].as_ref().map(|(_, row)| row);
            if let Some(row) = row.filter(|_| kept.peek() != Some(&key)) {
                reload.changes.push(RowChange::Removed {
                    key: key.clone(),
                    row: Arc::clone(row),
                });
            }
            last = Some(key);
        }
        match last {
            Some(key) => {
                reload.gone_after = Some(key.clone());
                false
            }
            None => true,
        }
    }

    /// Takes the row `id` to `now`, its place and JSON (`None`: gone).
    /// `patch` is the change's own patch of the row, when it has one.
    fn change(
        &mut self,
        id: String,
        now: Option<(usize, &Document)>,
        version: Option<u64>,
        patch: Option<Patch>,
        gone: &mut Gone<K, T>,
    ) -> Result<Option<RowChange<K, T>>, Error> {
        let refused = |id, problem| Error::Row {
            key: id,
            version,
            problem,
        };
        let key = K::from_owned_key(id).map_err(|id| refused(id, RowError::Key))?;
        let mut taken_out = || gone.as_mut().and_then(|gone| gone.remove(&key));
        let Some((place, json)) = now else {
            return Ok(taken_out().map(|row| RowChange::Removed { key, row }));
        };
        let decoded = T::deserialize(json);
        if let Some((_, slot)) = &mut self.slots[place] {
            // A row changed in place: no lookup of its own, no key copied.
            let row = match decoded {
                Ok(row) => Arc::new(row),
                // The row's last good value stays.
                Err(e) => return Err(refused(key.to_key().into_owned(), RowError::Decode(e))),
            };
            let old = std::mem::replace(slot, Arc::clone(&row));
            self.retire(old);
            return Ok(Some(RowChange::Modified {
                key,
                row,
                patch: patch.unwrap_or_else(|| Patch::Replace(json.to_value())),
            }));
        }
        // A row new to its place: new, or taken out and put back by this
        // change.
        let before = taken_out();
        let row = match decoded {
            Ok(row) => Arc::new(row),
            Err(e) => {
                let error = refused(key.to_key().into_owned(), RowError::Decode(e));
                if let Some(before) = before {
                    self.put(place, key, before);
                }
                return Err(error);
            }
        };
        self.put(place, key.clone(), Arc::clone(&row));
        Ok(Some(match before {
            Some(_) => RowChange::Modified {
                key,
                row,
                patch: patch.unwrap_or_else(|| Patch::Replace(json.to_value())),
            },
            None => RowChange::Added { key, row },
        }))
    }
}
