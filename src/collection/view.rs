//! [`View`]: the rows of a table that match a filter, in an order, perhaps
//! only the first few, kept as the table changes.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::sorted::Sorted;
use super::{Event, RowChange};

type Filter<K, T> = Box<dyn Fn(&K, &T) -> bool + Send + Sync>;
type Order<T> = Box<dyn Fn(&T, &T) -> Ordering + Send + Sync>;

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
/// Rows of equal order are ordered by key. A change costs O(log n) to find
/// the row's place, plus at most one block of 512 rows to move and, for its
/// index, the sizes of the blocks before it: with a limit, only up to the
/// limit. A view shares the table's rows (`Arc`), it does not copy them.
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
pub struct View<K, T> {
    filter: Option<Filter<K, T>>,
    order: Order<T>,
    limit: usize,
    /// The rows that match, by key.
    members: BTreeMap<K, Arc<T>>,
    /// The same rows, in the view's order.
    sorted: Sorted<(Arc<T>, K)>,
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

impl<K: Ord + Clone, T> Default for View<K, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Clone, T> View<K, T> {
    /// Every row, in key order, without a limit.
    pub fn new() -> Self {
        Self {
            filter: None,
            order: Box::new(|_, _| Ordering::Equal),
            limit: usize::MAX,
            members: BTreeMap::new(),
            sorted: Sorted::default(),
        }
    }

    /// Keeps only the rows for which `filter` is true. Set it before the
    /// first event.
    pub fn filter(mut self, filter: impl Fn(&K, &T) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// Orders the rows by `order` (rows it finds equal by key). Set it
    /// before the first event.
    ///
    /// ```
    /// # use live_resource::collection::View;
    /// struct Quote { price: f64 }
    /// // Highest price first: a field that is a float, compared in full.
    /// let view = View::<String, Quote>::new().order_by(|a, b| b.price.total_cmp(&a.price));
    /// # let _ = view;
    /// ```
    pub fn order_by(mut self, order: impl Fn(&T, &T) -> Ordering + Send + Sync + 'static) -> Self {
        self.order = Box::new(order);
        self
    }

    /// Orders the rows by a key that `key` takes from each (a field, or
    /// something made of fields; `std::cmp::Reverse` for descending).
    ///
    /// ```
    /// # use live_resource::collection::View;
    /// struct User { name: String, last_seen: u64 }
    /// // The most recently seen first.
    /// let view = View::<u64, User>::new().order_by_key(|user| std::cmp::Reverse(user.last_seen));
    /// # let _ = view;
    /// ```
    pub fn order_by_key<S: Ord>(self, key: impl Fn(&T) -> S + Send + Sync + 'static) -> Self {
        self.order_by(move |a, b| key(a).cmp(&key(b)))
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
        self.sorted.get(index).map(|(row, key)| (key, row))
    }

    /// The rows the view shows, in its order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Arc<T>)> {
        self.sorted
            .iter()
            .take(self.limit)
            .map(|(row, key)| (key, row))
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
        for (key, row) in rows {
            if self.filter.as_ref().is_none_or(|filter| filter(key, row)) {
                self.members.insert(key.clone(), Arc::clone(row));
            }
        }
        let mut rows: Vec<(Arc<T>, K)> = self
            .members
            .iter()
            .map(|(key, row)| (Arc::clone(row), key.clone()))
            .collect();
        let order = &self.order;
        // Members come in key order: a stable sort keeps it among equals.
        rows.sort_by(|a, b| order(&a.0, &b.0));
        self.sorted = Sorted::from_sorted(rows);
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
        let cmp = |a: &(Arc<T>, K), b: &(Arc<T>, K)| order(&a.0, &b.0).then_with(|| a.1.cmp(&b.1));
        let now = now.filter(|row| self.filter.as_ref().is_none_or(|filter| filter(key, row)));
        let old = self.members.remove(key).map(|row| {
            self.sorted
                .remove(&(row, key.clone()), cmp, limit)
                .expect("a member is in the order")
        });
        let new = now.map(|row| {
            self.members.insert(key.clone(), Arc::clone(row));
            (
                Arc::clone(row),
                self.sorted
                    .insert((Arc::clone(row), key.clone()), cmp, limit),
            )
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
            (Some(((row, _), was)), None) => {
                out.push(change(ViewChangeKind::Removed, row, Some(was), None));
                // The first row past the limit comes in at its end.
                if let Some((row, key)) = self.sorted.get(limit - 1) {
                    out.push(ViewChange {
                        kind: ViewChangeKind::Added,
                        key: key.clone(),
                        row: Arc::clone(row),
                        old_index: None,
                        new_index: Some(limit - 1),
                    });
                }
            }
            (None, Some((row, is))) => {
                out.push(change(ViewChangeKind::Added, row, None, Some(is)));
                // The last row shown is pushed out past the limit.
                if let Some((row, key)) = self.sorted.get(limit) {
                    out.push(ViewChange {
                        kind: ViewChangeKind::Removed,
                        key: key.clone(),
                        row: Arc::clone(row),
                        old_index: Some(limit),
                        new_index: None,
                    });
                }
            }
            (None, None) => {}
        }
    }
}

impl<K, T> fmt::Debug for View<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("filtered", &self.filter.is_some())
            .field("limit", &self.limit)
            .field("matching", &self.sorted.len())
            .finish_non_exhaustive()
    }
}
