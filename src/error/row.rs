//! [`RowError`]: what was wrong with one row of a table.

/// Why one row of a table was refused: the cause of an
/// [`Error::Row`](crate::Error::Row), which names the row.
///
/// A refused row leaves the rest of the table live: a client keeps the
/// row's last good value (if it had one) and the next change that makes the
/// row good again brings it back; a server publishes nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The row's JSON does not decode into the table's row type.
    #[error("the row does not decode into the row type")]
    Decode(#[source] serde_json::Error),
    /// The row's id, a member name of the table's object, is no key of the
    /// table's key type (see [`RowKey`](crate::collection::RowKey)).
    #[error("the row id is no key of the key type")]
    Key,
    /// A change to a row asked for a row that is not there.
    #[error("there is no such row")]
    Missing,
    /// An insert asked for a row that is there already.
    #[error("the row is there already")]
    Exists,
}
