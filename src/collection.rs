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
//!
//! # What a row change costs
//!
//! A change to one row decodes that row alone into `T`, and drops the row
//! it replaces: at a million rows, where every line a change reads misses
//! the cache, a large part of what is left is `T`'s own allocations, each
//! one allocated by the decode and each one of the old row freed (a cache
//! miss apiece). A row type whose short strings sit in place (say
//! `compact_str::CompactString`, or `smol_str::SmolStr`, for ids, statuses
//! and names) costs less: a twelve-field row with six `String`s and a
//! `Vec<String>` of two took 1.5 µs a change at 100,000 rows, and with
//! `CompactString`s (three allocations a row, not ten) 1.2 µs; on an older
//! processor, 2.2 and 1.7 µs (`benches/tables.rs`, `TABLE_FIELDS=12c`;
//! `benches/peers/RESULTS.md`).
//!
//! A large table's state spans hundreds of megabytes (a million
//! five-field rows, 336 MB), far more than the processor maps at once in
//! 4 KiB pages: each line a change misses costs a walk of the page tables
//! too. Huge pages take most of that walk away. On Linux, where transparent
//! huge pages are `madvise` (`/sys/kernel/mm/transparent_hugepage/enabled`),
//! glibc's malloc asks for them when the process runs with
//! `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` in its environment (glibc 2.35
//! or later); where they are `always`, the kernel gives them unasked. On
//! the machines the benches ran on, a change took 0.05–0.5 µs less at a
//! million rows (the wider the row and the older the processor, the
//! more), up to 0.2 µs less at 100,000, the same at 1,000.

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
