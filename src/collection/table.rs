//! [`Table`]: the typed rows of a table, kept in key order, changed row by
//! row as the journal of its JSON state says.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde::de::{DeserializeOwned, Error as _};

use super::{Event, RowChange, RowKey};
use crate::document::Map;
use crate::error::RowError;
use crate::replica::Changes;
use crate::{Document, Error, Patch};

/// What a table's changes give its consumer, in order.
pub(crate) type Items<K, T> = VecDeque<Result<Event<K, T>, Error>>;

/// Rows decoded into `T`, by key.
///
/// Found by hash, so that a change to a row of a large table costs a hash
/// and a lookup rather than a descent of a tree, each level a cache miss;
/// ordered by key beside, in a tree that only rows added and removed change.
#[derive(Debug)]
pub(crate) struct Table<K, T> {
    rows: HashMap<K, Arc<T>, foldhash::fast::RandomState>,
    order: BTreeSet<K>,
}

impl<K, T> Default for Table<K, T> {
    fn default() -> Self {
        Self {
            rows: HashMap::default(),
            order: BTreeSet::new(),
        }
    }
}

impl<K, T> Table<K, T> {
    /// A table with room for `rows` rows: filled without growing.
    fn with_capacity(rows: usize) -> Self {
        Self {
            rows: HashMap::with_capacity_and_hasher(rows, Default::default()),
            order: BTreeSet::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }
}

impl<K: RowKey, T> Table<K, T> {
    pub(crate) fn get(&self, key: &K) -> Option<&Arc<T>> {
        self.rows.get(key)
    }

    /// The rows in key order.
    pub(crate) fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = (&K, &Arc<T>)> + DoubleEndedIterator {
        self.order.iter().map(|key| {
            (
                key,
                self.rows.get(key).expect("every key ordered has a row"),
            )
        })
    }

    fn insert(&mut self, key: K, row: Arc<T>) -> Option<Arc<T>> {
        let old = self.rows.insert(key.clone(), row);
        if old.is_none() {
            self.order.insert(key);
        }
        old
    }

    fn remove(&mut self, key: &K) -> Option<Arc<T>> {
        let old = self.rows.remove(key);
        if old.is_some() {
            self.order.remove(key);
        }
        old
    }
}

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
        while left > 0 {
            let Some(key) = self.retired.order.pop_first() else {
                break;
            };
            self.retired.rows.remove(&key);
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
            Changes::Rows(rows) => {
                for (id, patch) in rows {
                    let now = state.get(&id);
                    match self.change(id, now, version, patch) {
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

    /// Takes the row `id`, now `json`, into the new table of `reload`.
    fn reload_row(&self, reload: &mut Reload<K, T>, id: &str, json: &Document) {
        let was = reload
            .previous
            .as_ref()
            .and_then(Document::as_object)
            .and_then(|before| before.get(id));
        let keep = |reload: &mut Reload<K, T>, key: K| {
            if let Some(row) = self.rows.get(&key) {
                reload.fresh.insert(key, Arc::clone(row));
            }
        };
        if was == Some(json) {
            // Unchanged: as it was, decoded or not (its error was told).
            if let Some(key) = K::from_key(id) {
                keep(reload, key);
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
                keep(reload, key);
                return;
            }
        };
        reload.fresh.insert(key.clone(), Arc::clone(&row));
        reload.changes.push(if self.rows.contains_key(&key) {
            let patch = was
                .and_then(|was| Patch::diff(&was.to_value(), &json.to_value()))
                .unwrap_or_else(|| Patch::Replace(json.to_value()));
            RowChange::Modified { key, row, patch }
        } else {
            RowChange::Added { key, row }
        });
    }

    /// Looks at up to `budget` more rows of the table for those the new
    /// table of `reload` does not have; whether it has looked at them all.
    fn find_gone(&self, reload: &mut Reload<K, T>, budget: usize) -> bool {
        let after = reload
            .gone_after
            .as_ref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        let mut last = None;
        for key in self.order.range((after, Bound::Unbounded)).take(budget) {
            if !reload.fresh.rows.contains_key(key) {
                let row = Arc::clone(self.rows.get(key).expect("every key ordered has a row"));
                reload.changes.push(RowChange::Removed {
                    key: key.clone(),
                    row,
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

    /// Takes the row `id` to `now` (`None`: gone). `patch` is the change's
    /// own patch of the row, when it has one.
    fn change(
        &mut self,
        id: String,
        now: Option<&Document>,
        version: Option<u64>,
        patch: Option<Patch>,
    ) -> Result<Option<RowChange<K, T>>, Error> {
        let refused = |id, problem| Error::Row {
            key: id,
            version,
            problem,
        };
        let key = K::from_owned_key(id).map_err(|id| refused(id, RowError::Key))?;
        let Some(json) = now else {
            return Ok(self.remove(&key).map(|row| RowChange::Removed { key, row }));
        };
        // The row's last good value stays when this one does not decode.
        let row = match T::deserialize(json) {
            Ok(row) => Arc::new(row),
            Err(e) => return Err(refused(key.to_key().into_owned(), RowError::Decode(e))),
        };
        // A row changed is replaced in place: one lookup, no key copied.
        if let Some(slot) = self.rows.get_mut(&key) {
            *slot = Arc::clone(&row);
            return Ok(Some(RowChange::Modified {
                key,
                row,
                patch: patch.unwrap_or_else(|| Patch::Replace(json.to_value())),
            }));
        }
        self.insert(key.clone(), Arc::clone(&row));
        Ok(Some(RowChange::Added { key, row }))
    }
}
