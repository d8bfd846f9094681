//! [`Table`]: the typed rows of a table, kept in key order, changed row by
//! row as the journal of its JSON state says.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::de::{DeserializeOwned, Error as _};

use super::{Event, RowChange, RowKey};
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

impl<K: RowKey, T: DeserializeOwned> Table<K, T> {
    /// Follows `changes`, which left the JSON state `state` at `version`:
    /// decodes again only the rows they touched, and pushes the events and
    /// the row errors onto `out`.
    pub(crate) fn apply(
        &mut self,
        changes: Changes,
        state: &Document,
        version: Option<u64>,
        out: &mut Items<K, T>,
    ) {
        match changes {
            Changes::Quiet => {}
            Changes::Rows(rows) => {
                for (id, patch) in rows {
                    let now = state.get(&id);
                    match self.change(id, now, version, || patch) {
                        Ok(Some(change)) => out.push_back(Ok(Event::Row { version, change })),
                        Ok(None) => {}
                        Err(error) => out.push_back(Err(error)),
                    }
                }
            }
            Changes::Whole { previous } => self.reset(previous.as_ref(), state, version, out),
        }
    }

    /// Takes the row `id` to `now` (`None`: gone). `patch` is the change's
    /// own patch of the row, when it has one.
    fn change(
        &mut self,
        id: String,
        now: Option<&Document>,
        version: Option<u64>,
        patch: impl FnOnce() -> Option<Patch>,
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
                patch: patch().unwrap_or_else(|| Patch::Replace(json.to_value())),
            }));
        }
        self.insert(key.clone(), Arc::clone(&row));
        Ok(Some(RowChange::Added { key, row }))
    }

    /// Follows a state replaced whole: decodes the rows whose JSON differs
    /// from `previous`, removes those that are gone, as one reset.
    fn reset(
        &mut self,
        previous: Option<&Document>,
        state: &Document,
        version: Option<u64>,
        out: &mut Items<K, T>,
    ) {
        let Some(members) = state.as_object() else {
            // The rows stay as they were.
            out.push_back(Err(Error::Decode {
                version,
                source: serde_json::Error::custom(
                    "a table's state is a JSON object keyed by row id",
                ),
            }));
            return;
        };
        let before = previous.and_then(Document::as_object);
        let mut changes = Vec::new();
        for (id, json) in members {
            let was = before.and_then(|before| before.get(id));
            if was == Some(json) {
                continue;
            }
            let patch = || was.and_then(|was| Patch::diff(&was.to_value(), &json.to_value()));
            match self.change(id.to_owned(), Some(json), version, patch) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(error) => out.push_back(Err(error)),
            }
        }
        let gone: Vec<K> = self
            .order
            .iter()
            .filter(|key| !members.contains_key(&key.to_key()))
            .cloned()
            .collect();
        for key in gone {
            if let Some(row) = self.remove(&key) {
                changes.push(RowChange::Removed { key, row });
            }
        }
        out.push_back(Ok(Event::Reset { version, changes }));
    }
}
