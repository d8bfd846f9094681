//! Tables: keyed collections of typed rows, live.
//!
//! A table is a topic whose state is a JSON object keyed by row id. A server
//! writes it row by row with a [`hub::Collection`](crate::hub::Collection):
//! each change is one numbered update that carries only the rows it
//! touches, a merge patch keyed by row id (`null` removes a row). A client
//! follows it as a [`LiveCollection`]: rows decoded one by one (a change
//! costs its rows, not the table), row events (added, modified with the
//! row's patch, removed, and a reset with the rows a new snapshot changed),
//! and [`View`]s, filtered, ordered and limited, kept incrementally. A
//! [`SharedCollection`] follows a table once for many consumers.

mod event;
mod key;
mod live;
mod shared;
mod sorted;
mod table;
mod view;

pub use crate::error::RowError;
pub use event::{Event, RowChange};
pub use key::{RowId, RowKey};
pub use live::LiveCollection;
pub use shared::{CollectionSubscriber, SharedCollection};
pub use view::{View, ViewChange, ViewChangeKind};
