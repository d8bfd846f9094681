//! [`View`]: the rows of a table that match a filter, in an order, perhaps
//! only the first few, kept as the table changes.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use super::sorted::Sorted;
use super::{Event, RowChange};

type Filter<K, T> = Box<dyn Fn(&K, &T) -> bool + Send + Sync>;
type SortKey<T, S> = Box<dyn Fn(&Arc<T>) -> S + Send + Sync>;
type Order<S> = Box<dyn Fn(&S, &S) -> Ordering + Send + Sync>;

/// A row in a view's order: its sort key kept beside it, so that ordering
/// rows compares keys in place, without a visit to each row.
#[derive(Debug)]
struct Entry<S, K, T> {
    sort: S,
    key: K,
    row: Arc<T>,
}

impl<S: Clone, K: Clone, T> Clone for Entry<S, K, T> {
    fn clone(&self) -> Self {
        Self {
            sort: self.sort.clone(),
            key: self.key.clone(),
            row: Arc::clone(&self.row),
        }
    }
}

/// A window on a table: the rows that match a filter, in an order, at most
/// a limit of them (top-N), kept incrementally from the table's
/// [`Event`]s.
///
/// Feed it every event of a [`LiveCollection`](super::LiveCollection) with
/// [`View::apply`]; each returns what changed in the view, each change with
/// the row's old and new index in it (as Firestore's `docChanges()` does).
/// A row that stops matching, or falls past the limit, is
/// [`ViewChangeKind::Removed`] from the view; one that starts matching, or
/// rises within the limit, [`ViewChangeKind::Added`]. The indexes of a list
/// of changes are those of the view as each change finds it, so a list
/// applied in order to a copy of the view (remove at `old_index`, insert at
/// `new_index`) keeps the copy equal to the view.
///
/// Rows of equal order are ordered by key. A change costs a hash lookup
/// and O(log n) comparisons to find the row's place, plus at most one block
/// of 512 rows to move and, for its index, the sizes of the blocks before
/// it: with a limit, only up to the limit. A view shares the table's rows
/// (`Arc`), it does not copy them.
///
/// `S` is what a row is ordered by, kept beside it: the row itself for
/// [`View::order_by`], a key taken from it for [`View::order_by_key`] and
/// [`View::order_by_key_with`]. A key kept in place is the fast one on a
/// large table: comparisons read the view's own arrays, not the rows.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use live_resource::collection::{Event, RowChange, View, ViewChangeKind};
///
/// #[derive(Debug)]
/// struct Order { total: f64, open: bool }
///
/// // The three largest open orders.
/// let mut top = View::new()
///     .filter(|_id: &u32, order: &Order| order.open)
///     .order_by(|a: &Order, b: &Order| b.total.total_cmp(&a.total))
///     .limit(3);
///
/// let added = |key, total| RowChange::Added { key, row: Arc::new(Order { total, open: true }) };
/// let first = Event::Reset { version: Some(1), changes: vec![added(1, 10.0), added(2, 30.0), added(3, 20.0), added(4, 5.0)] };
/// let changes = top.apply(&first);
/// assert_eq!(changes.iter().map(|c| (c.key, c.new_index)).collect::<Vec<_>>(), [(2, Some(0)), (3, Some(1)), (1, Some(2))]);
///
/// // Order 4 grows past the others: it enters at the top, order 1 falls out.
/// let grew = Event::Row { version: Some(2), change: RowChange::Modified {
///     key: 4, row: Arc::new(Order { total: 50.0, open: true }), patch: live_resource::Patch::Merge(serde_json::json!({"total": 50.0}).into()),
/// } };
/// let changes = top.apply(&grew);
/// assert_eq!((changes[0].kind, changes[0].key, changes[0].new_index), (ViewChangeKind::Added, 4, Some(0)));
/// assert_eq!((changes[1].kind, changes[1].key, changes[1].old_index), (ViewChangeKind::Removed, 1, Some(3)));
/// assert_eq!(top.iter().map(|(key, _)| *key).collect::<Vec<_>>(), [4, 2, 3]);
/// ```
pub struct View<K, T, S = Arc<T>> {
    filter: Option<Filter<K, T>>,
    sort_key: SortKey<T, S>,
    order: Order<S>,
    limit: usize,
    /// The rows that match, by key, with their sort keys.
    members: HashMap<K, S, foldhash::fast::RandomState>,
    /// The same rows, in the view's order.
    sorted: Sorted<Entry<S, K, T>>,
}

/// What happened to a row in a [`View`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewChangeKind {
    /// It came into the view: it started to match, or rose within the limit.
    Added,
    /// It changed, and stays in the view (perhaps at another index).
    Modified,
    /// It left the view: it stopped matching, fell past the limit, or is gone.
    Removed,
}

/// One change of a [`View`], as [`View::apply`] gives it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ViewChange<K, T> {
    /// What happened.
    pub kind: ViewChangeKind,
    /// The row's key.
    pub key: K,
    /// The row (its last value, for a row removed from the view).
    pub row: Arc<T>,
    /// Where it was in the view; `None` for a row added.
    pub old_index: Option<usize>,
    /// Where it is in the view; `None` for a row removed.
    pub new_index: Option<usize>,
}

impl<K: Ord + Hash + Clone, T> Default for View<K, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Hash + Clone, T> View<K, T> {
    /// Every row, in key order, without a limit.
    // A closure, not `Arc::clone` itself: the function's type names `T`,
    // and would need `T: 'static` to be boxed.
    #[allow(clippy::redundant_closure)]
    pub fn new() -> Self {
        Self {
            filter: None,
            sort_key: Box::new(|row| Arc::clone(row)),
            order: Box::new(|_, _| Ordering::Equal),
            limit: usize::MAX,
            members: HashMap::default(),
            sorted: Sorted::default(),
        }
    }

    /// Orders the rows by `order` (rows it finds equal by key). Set it
    /// before the first event.
    ///
    /// Each comparison reads both rows; on a large table,
    /// [`View::order_by_key`] is faster.
    ///
    /// ```
    /// # use live_resource::collection::View;
    /// struct Quote { price: f64 }
    /// // Highest price first: a field that is a float, compared in full.
    /// let view = View::<String, Quote>::new().order_by(|a, b| b.price.total_cmp(&a.price));
    /// # let _ = view;
    /// ```
    pub fn order_by(mut self, order: impl Fn(&T, &T) -> Ordering + Send + Sync + 'static) -> Self {
        self.order = Box::new(move |a, b| order(a, b));
        self
    }
}

impl<K: Ord + Hash + Clone, T, S: Clone> View<K, T, S> {
    /// Keeps only the rows for which `filter` is true. Set it before the
    /// first event.
    pub fn filter(mut self, filter: impl Fn(&K, &T) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// Orders the rows by a key that `key` takes from each (a field, or
    /// something made of fields; `std::cmp::Reverse` for descending), kept
    /// beside the row. Set it before the first event.
    ///
    /// ```
    /// # use live_resource::collection::View;
    /// struct User { name: String, last_seen: u64 }
    /// // The most recently seen first.
    /// let view = View::<u64, User>::new().order_by_key(|user| std::cmp::Reverse(user.last_seen));
    /// # let _ = view;
    /// ```
    pub fn order_by_key<O: Ord + Clone>(
        self,
        key: impl Fn(&T) -> O + Send + Sync + 'static,
    ) -> View<K, T, O> {
        self.order_by_key_with(key, |a, b| a.cmp(b))
    }

    /// Orders the rows by a key that `key` takes from each, kept beside the
    /// row, compared by `order`: for a key that is not [`Ord`], a float.
    /// Set it before the first event.
    ///
    /// ```
    /// # use live_resource::collection::View;
    /// struct Quote { price: f64 }
    /// // Highest price first.
    /// let view = View::<String, Quote>::new().order_by_key_with(|quote| quote.price, |a, b| b.total_cmp(a));
    /// # let _ = view;
    /// ```
    pub fn order_by_key_with<O: Clone>(
        self,
        key: impl Fn(&T) -> O + Send + Sync + 'static,
        order: impl Fn(&O, &O) -> Ordering + Send + Sync + 'static,
    ) -> View<K, T, O> {
        View {
            filter: self.filter,
            sort_key: Box::new(move |row| key(row)),
            order: Box::new(order),
            limit: self.limit,
            members: HashMap::default(),
            sorted: Sorted::default(),
        }
    }

    /// Shows at most `limit` rows: the first in the order.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// How many rows the view shows: those that match, up to the limit.
    pub fn len(&self) -> usize {
        self.sorted.len().min(self.limit)
    }

    /// Whether the view shows no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many rows match the filter, shown or past the limit.
    pub fn matching(&self) -> usize {
        self.sorted.len()
    }

    /// The row at `index` in the view.
    pub fn get(&self, index: usize) -> Option<(&K, &Arc<T>)> {
        if index >= self.limit {
            return None;
        }
        self.sorted.get(index).map(|entry| (&entry.key, &entry.row))
    }

    /// The rows the view shows, in its order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Arc<T>)> {
        self.sorted
            .iter()
            .take(self.limit)
            .map(|entry| (&entry.key, &entry.row))
    }

    /// Follows one event of the table: what it changed in the view, in
    /// order. A reset that finds the view empty (the first event) fills it
    /// at once, sorted once rather than row by row.
    pub fn apply(&mut self, event: &Event<K, T>) -> Vec<ViewChange<K, T>> {
        if event.is_reset() && self.members.is_empty() {
            let rows = event.changes().iter().filter_map(|change| match change {
                RowChange::Removed { .. } => None,
                change => Some((change.key(), change.row())),
            });
            return self.load(rows);
        }
        let mut out = Vec::new();
        for change in event.changes() {
            let now = match change {
                RowChange::Removed { .. } => None,
                change => Some(change.row()),
            };
            self.change(change.key(), now, &mut out);
        }
        out
    }

    /// Empties the view and fills it with `rows` (a table's current rows, for
    /// a view made late: [`LiveCollection::iter_shared`](super::LiveCollection::iter_shared)):
    /// every row shown, added in order.
    pub fn load<'a>(
        &mut self,
        rows: impl IntoIterator<Item = (&'a K, &'a Arc<T>)>,
    ) -> Vec<ViewChange<K, T>>
    where
        K: 'a,
        T: 'a,
    {
        // What was shown leaves, each from the top in turn.
        let mut out: Vec<ViewChange<K, T>> = self
            .iter()
            .map(|(key, row)| ViewChange {
                kind: ViewChangeKind::Removed,
                key: key.clone(),
                row: Arc::clone(row),
                old_index: Some(0),
                new_index: None,
            })
            .collect();
        self.members.clear();
        let mut entries = Vec::new();
        for (key, row) in rows {
            if self.filter.as_ref().is_none_or(|filter| filter(key, row)) {
                let sort = (self.sort_key)(row);
                self.members.insert(key.clone(), sort.clone());
                entries.push(Entry {
                    sort,
                    key: key.clone(),
                    row: Arc::clone(row),
                });
            }
        }
        let order = &self.order;
        entries.sort_unstable_by(|a, b| order(&a.sort, &b.sort).then_with(|| a.key.cmp(&b.key)));
        self.sorted = Sorted::from_sorted(entries);
        out.extend(
            self.iter()
                .enumerate()
                .map(|(index, (key, row))| ViewChange {
                    kind: ViewChangeKind::Added,
                    key: key.clone(),
                    row: Arc::clone(row),
                    old_index: None,
                    new_index: Some(index),
                }),
        );
        out
    }

    /// Moves the row `key` to `now` (`None`: gone from the table).
    fn change(&mut self, key: &K, now: Option<&Arc<T>>, out: &mut Vec<ViewChange<K, T>>) {
        let limit = self.limit;
        let order = &self.order;
        let now = now.filter(|row| self.filter.as_ref().is_none_or(|filter| filter(key, row)));
        let sort = now.map(|row| (self.sort_key)(row));
        // One lookup of the member, whether it stays, goes or comes.
        let was = match (self.members.get_mut(key), &sort) {
            (Some(member), Some(sort)) => Some(std::mem::replace(member, sort.clone())),
            (Some(_), None) => self.members.remove(key),
            (None, Some(sort)) => {
                self.members.insert(key.clone(), sort.clone());
                None
            }
            (None, None) => None,
        };
        let old = was.map(|sort| {
            self.sorted
                .remove(
                    |entry| order(&entry.sort, &sort).then_with(|| entry.key.cmp(key)),
                    limit,
                )
                .expect("a member is in the order")
        });
        let new = now.zip(sort).map(|(row, sort)| {
            let entry = Entry {
                sort,
                key: key.clone(),
                row: Arc::clone(row),
            };
            let cmp = |a: &Entry<S, K, T>, b: &Entry<S, K, T>| {
                order(&a.sort, &b.sort).then_with(|| a.key.cmp(&b.key))
            };
            (Arc::clone(row), self.sorted.insert(entry, cmp, limit))
        });
        let shown = |index: &usize| *index < limit;
        let change = |kind, row, old_index, new_index| ViewChange {
            kind,
            key: key.clone(),
            row,
            old_index,
            new_index,
        };
        match (
            old.filter(|(_, index)| shown(index)),
            new.filter(|(_, index)| shown(index)),
        ) {
            (Some((_, was)), Some((row, is))) => {
                out.push(change(ViewChangeKind::Modified, row, Some(was), Some(is)));
            }
            (Some((entry, was)), None) => {
                out.push(change(ViewChangeKind::Removed, entry.row, Some(was), None));
                // The first row past the limit comes in at its end.
                if let Some(entry) = self.sorted.get(limit - 1) {
                    out.push(ViewChange {
                        kind: ViewChangeKind::Added,
                        key: entry.key.clone(),
                        row: Arc::clone(&entry.row),
                        old_index: None,
                        new_index: Some(limit - 1),
                    });
                }
            }
            (None, Some((row, is))) => {
                out.push(change(ViewChangeKind::Added, row, None, Some(is)));
                // The last row shown is pushed out past the limit.
                if let Some(entry) = self.sorted.get(limit) {
                    out.push(ViewChange {
                        kind: ViewChangeKind::Removed,
                        key: entry.key.clone(),
                        row: Arc::clone(&entry.row),
                        old_index: Some(limit),
                        new_index: None,
                    });
                }
            }
            (None, None) => {}
        }
    }
}

impl<K, T, S> fmt::Debug for View<K, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("filtered", &self.filter.is_some())
            .field("limit", &self.limit)
            .field("matching", &self.sorted.len())
            .finish_non_exhaustive()
    }
}
