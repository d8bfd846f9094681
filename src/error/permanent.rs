//! [`Permanent`]: the mark of an error that retrying cannot fix.

use std::fmt;

use super::BoxError;

/// Marks a source error that retrying cannot fix (a topic that does not
/// exist, a subscription that is denied). A resilient resource that meets one
/// stops retrying, reports it and ends.
///
/// # Examples
///
/// ```
/// use live_resource::source::Permanent;
/// use live_resource::BoxError;
///
/// let error: BoxError = Permanent::new("403 forbidden").into();
/// assert!(Permanent::is_permanent(&*error));
/// assert_eq!(error.to_string(), "403 forbidden");
/// ```
#[derive(Debug)]
pub struct Permanent(BoxError);

impl Permanent {
    /// Marks `error` as permanent.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }

    /// The error that was marked permanent.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The error that was marked permanent, unmarked.
    pub fn into_inner(self) -> BoxError {
        self.0
    }

    /// Whether `error` is, or is caused by, a [`Permanent`] error.
    pub fn is_permanent(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if error.is::<Permanent>() {
                return true;
            }
            cause = error.source();
        }
        false
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Permanent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
