//! [`Collection`]: a table on a topic, written row by row.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::Publish;
use crate::Error;
use crate::collection::RowId;
use crate::patch::rows::RowWrite;

/// A table on a topic: a JSON object keyed by row id, written row by row.
/// Made by [`Hub::collection`](super::Hub::collection) or
/// [`Publish::collection`] (a `RedisHub` too).
///
/// Each call is one numbered update of the topic that carries only the rows
/// it touches: a merge patch keyed by row id, `{"r1": {"status": "done"},
/// "r2": null}` (`null` removes a row). Where a merge patch cannot say it (a
/// row that holds an explicit `null` in an object, a member set to `null`, a
/// row that is `null`) the update is JSON Patch operations on those rows'
/// paths instead. So every transport, the replay ring, resume and a
/// backplane carry a table as they carry any topic, and a front end that
/// knows nothing of tables follows it. A [`Batch`] of row changes is one
/// update. Only the rows written are copied and compared: a change costs
/// what its rows cost, not the table.
///
/// The topic is made, as `{}`, by the first row written to it. Follow it
/// typed, row by row, with a
/// [`LiveCollection`](crate::collection::LiveCollection).
///
/// # Errors
///
/// Every method fails as the hub's change methods do
/// ([`Error::TooDeep`], [`Error::TooLarge`], [`Error::StateTooLarge`],
/// [`Error::Encode`], a backplane's errors), and with [`Error::Row`] naming
/// the row when a row is not as the change needs it; nothing is published
/// then.
///
/// # Examples
///
/// ```
/// use live_resource::Hub;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> live_resource::Result<()> {
/// let hub = Hub::new();
/// let records = hub.collection("records");
/// records.insert("r1", json!({"status": "generated", "value": 1})).await?;
/// records.insert("r2", json!({"status": "generated", "value": 2})).await?;
/// records.patch_row("r1", json!({"status": "done"})).await?;
/// records.remove("r2").await?;
/// assert_eq!(
///     hub.snapshot("records").unwrap().data,
///     json!({"r1": {"status": "done", "value": 1}})
/// );
///
/// // A row that is not there is an error that names it.
/// let missing = records.patch_row("r9", json!({"status": "done"})).await.unwrap_err();
/// assert_eq!(missing.to_string(), "row `r9` was refused");
/// # Ok(())
/// # }
/// ```
pub struct Collection<'h, P: ?Sized> {
    hub: &'h P,
    topic: String,
}

impl<'h, P: Publish + ?Sized> Collection<'h, P> {
    /// The table on `topic` of `hub`.
    pub fn new(hub: &'h P, topic: impl Into<String>) -> Self {
        Self {
            hub,
            topic: topic.into(),
        }
    }

    /// The topic the table is on.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Adds the row `key`, which must not be there yet ([`RowError::Exists`](crate::collection::RowError::Exists)
    /// otherwise). Returns the topic's version.
    ///
    /// # Errors
    ///
    /// See the type's.
    pub async fn insert(&self, key: impl RowId, row: impl Serialize) -> Result<u64, Error> {
        self.write(Batch::new().insert(key, row)).await
    }

    /// Sets the row `key` to `row`, whether it is there or not. Returns the
    /// topic's version (unchanged when the row was `row` already).
    ///
    /// # Errors
    ///
    /// See the type's.
    pub async fn upsert(&self, key: impl RowId, row: impl Serialize) -> Result<u64, Error> {
        self.write(Batch::new().upsert(key, row)).await
    }

    /// Merges `patch`, an RFC 7396 merge patch, into the row `key`, which
    /// must be there ([`RowError::Missing`](crate::collection::RowError::Missing) otherwise).
    /// Returns the topic's version.
    ///
    /// # Errors
    ///
    /// See the type's.
    pub async fn patch_row(&self, key: impl RowId, patch: impl Serialize) -> Result<u64, Error> {
        self.write(Batch::new().patch_row(key, patch)).await
    }

    /// Removes the row `key`, if it is there. Returns the topic's version.
    ///
    /// # Errors
    ///
    /// See the type's.
    pub async fn remove(&self, key: impl RowId) -> Result<u64, Error> {
        self.write(Batch::new().remove(key)).await
    }

    /// Removes every row: one update. Returns the topic's version.
    ///
    /// # Errors
    ///
    /// See the type's.
    pub async fn clear(&self) -> Result<u64, Error> {
        self.hub
            .set(&self.topic, Value::Object(Default::default()))
            .await
    }

    /// Makes every change of `batch`, in order, as one update. Returns the
    /// topic's version.
    ///
    /// # Errors
    ///
    /// See the type's; the first row refused refuses the batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::Hub;
    /// use live_resource::hub::Batch;
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> live_resource::Result<()> {
    /// let hub = Hub::new();
    /// let users = hub.collection("users/online");
    /// let first = users.upsert(7u64, json!({"name": "ada"})).await?;
    /// let batch = Batch::new()
    ///     .upsert(8u64, json!({"name": "bob"}))
    ///     .patch_row(7u64, json!({"away": true}))
    ///     .remove(9u64);
    /// assert_eq!(users.write(batch).await?, first + 1, "one update");
    /// assert_eq!(
    ///     hub.snapshot("users/online").unwrap().data,
    ///     json!({"7": {"name": "ada", "away": true}, "8": {"name": "bob"}})
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write(&self, batch: Batch) -> Result<u64, Error> {
        if let Some(error) = batch.error {
            return Err(error);
        }
        self.hub.write_rows(&self.topic, &batch).await
    }
}

impl<P: ?Sized> fmt::Debug for Collection<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// Row changes to make as one update, in order: see
/// [`Collection::write`].
///
/// A row that does not serialize to JSON makes the batch fail when it is
/// written ([`Error::Encode`]).
#[derive(Debug, Default)]
#[must_use = "a batch does nothing until it is written"]
pub struct Batch {
    pub(crate) writes: Vec<RowWrite>,
    error: Option<Error>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the row `key`, which must not be there yet.
    pub fn insert(self, key: impl RowId, row: impl Serialize) -> Self {
        self.push(key, row, RowWrite::Insert)
    }

    /// Sets the row `key` to `row`.
    pub fn upsert(self, key: impl RowId, row: impl Serialize) -> Self {
        self.push(key, row, RowWrite::Upsert)
    }

    /// Merges a merge patch into the row `key`, which must be there.
    pub fn patch_row(self, key: impl RowId, patch: impl Serialize) -> Self {
        self.push(key, patch, RowWrite::Merge)
    }

    /// Removes the row `key`, if it is there.
    pub fn remove(mut self, key: impl RowId) -> Self {
        self.writes
            .push(RowWrite::Remove(key.row_id().into_owned()));
        self
    }

    /// How many row changes the batch holds.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether the batch holds no change.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    fn push(
        mut self,
        key: impl RowId,
        value: impl Serialize,
        write: fn(String, Value) -> RowWrite,
    ) -> Self {
        match serde_json::to_value(value) {
            Ok(value) => self.writes.push(write(key.row_id().into_owned(), value)),
            Err(error) => {
                self.error.get_or_insert(Error::Encode(error));
            }
        }
        self
    }
}
