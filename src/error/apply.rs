//! Why a JSON Patch did not apply.

use std::fmt;

/// A JSON Patch (RFC 6902) operation that could not be applied: which one,
/// where, and why. The whole patch was then undone.
///
/// # Examples
///
/// ```
/// use live_resource::patch::ApplyErrorKind;
/// use live_resource::{Error, Patch};
/// use serde_json::json;
///
/// let ops = serde_json::from_value(json!([
///     {"op": "add", "path": "/n", "value": 1},
///     {"op": "test", "path": "/n", "value": 2},
/// ]))?;
/// let Err(Error::Apply(error)) = Patch::Json(ops).apply(&mut json!({})) else { panic!() };
/// assert_eq!(error.operation(), 1);
/// assert_eq!(error.path(), "/n");
/// assert_eq!(error.kind(), ApplyErrorKind::TestFailed);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError {
    operation: usize,
    path: String,
    kind: ApplyErrorKind,
}

/// What went wrong with a JSON Patch operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyErrorKind {
    /// A `test` found a different value.
    TestFailed,
    /// The `path` does not lead to a place the operation can act on.
    InvalidPath,
    /// The `from` of a `move` or `copy` does not lead to a value.
    InvalidFrom,
    /// A `move` into a place inside the value it moves.
    MoveIntoItself,
}

impl ApplyError {
    pub(crate) fn new(operation: usize, path: impl Into<String>, kind: ApplyErrorKind) -> Self {
        Self {
            operation,
            path: path.into(),
            kind,
        }
    }

    /// The position of the failed operation in the patch, from 0.
    pub fn operation(&self) -> usize {
        self.operation
    }

    /// The operation's `path`, as a JSON Pointer.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> ApplyErrorKind {
        self.kind
    }
}

impl From<json_patch::PatchError> for ApplyError {
    fn from(error: json_patch::PatchError) -> Self {
        use json_patch::PatchErrorKind as Kind;
        let kind = match error.kind {
            Kind::TestFailed => ApplyErrorKind::TestFailed,
            Kind::InvalidFromPointer => ApplyErrorKind::InvalidFrom,
            Kind::CannotMoveInsideItself => ApplyErrorKind::MoveIntoItself,
            _ => ApplyErrorKind::InvalidPath,
        };
        Self::new(error.operation, error.path.as_str(), kind)
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.kind {
            ApplyErrorKind::TestFailed => "the value did not match",
            ApplyErrorKind::InvalidPath => "the path leads nowhere it can act",
            ApplyErrorKind::InvalidFrom => "the \"from\" path leads to no value",
            ApplyErrorKind::MoveIntoItself => "a value cannot move inside itself",
        };
        write!(
            f,
            "operation {} at \"{}\": {why}",
            self.operation, self.path
        )
    }
}

impl std::error::Error for ApplyError {}
