//! What a change to a sorted, limited [`View`] costs, counted rather than
//! timed: the comparisons of rows it makes grow with the logarithm of the
//! table's size, not with the size (the "O(log n) per change").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use live_resource::collection::{Event, RowChange, View};
use serde_json::Value;

use crate::support::rng::Rng;

#[derive(Debug)]
struct Ranked {
    value: u64,
}

/// A top-100 view by value over `rows` rows, counting every comparison of
/// two sort keys it makes into `compared`.
fn top_100(rows: u64, compared: &Arc<AtomicUsize>) -> View<u64, Ranked, u64> {
    let count = Arc::clone(compared);
    let mut view = View::<u64, Ranked>::new()
        .order_by_key_with(
            |row: &Ranked| row.value,
            move |a: &u64, b: &u64| {
                count.fetch_add(1, Ordering::Relaxed);
                b.cmp(a)
            },
        )
        .limit(100);
    let changes = (0..rows)
        .map(|key| RowChange::Added {
            key,
            row: Arc::new(Ranked {
                value: key.wrapping_mul(2_654_435_761) % 1_000_003,
            }),
        })
        .collect();
    view.apply(&Event::Reset {
        version: Some(0),
        changes,
    });
    view
}

/// The comparisons per change, on average, over `changes` random changes of
/// one row's value each.
fn comparisons_per_change(rows: u64, changes: u64) -> f64 {
    let compared = Arc::new(AtomicUsize::new(0));
    let mut view = top_100(rows, &compared);
    let mut rng = Rng::new(rows);
    compared.store(0, Ordering::Relaxed);
    for seq in 1..=changes {
        let change = RowChange::Modified {
            key: rng.below(rows),
            row: Arc::new(Ranked {
                value: rng.below(1_100_000),
            }),
            patch: live_resource::Patch::Merge(Value::Null.into()),
        };
        view.apply(&Event::Row {
            version: Some(seq),
            change,
        });
    }
    assert_eq!(view.len(), 100);
    compared.load(Ordering::Relaxed) as f64 / changes as f64
}

#[test]
fn a_change_to_a_sorted_limited_view_makes_logarithmically_many_comparisons() {
    let mut last = 0.0;
    for rows in [1_000u64, 10_000, 100_000] {
        let per_change = comparisons_per_change(rows, 2_000);
        let log = (rows as f64).log2();
        // Taking the row out and putting it back: a binary search over the
        // blocks and one within a block each, so about 2 log2(n).
        println!("{rows} rows: {per_change:.1} comparisons a change");
        assert!(
            per_change <= 2.5 * log + 8.0,
            "{per_change:.1} comparisons a change at {rows} rows (log2 {log:.1})"
        );
        // A hundred times the rows adds a few comparisons, not a hundredfold.
        if last > 0.0 {
            assert!(
                per_change - last <= 2.5 * 10f64.log2() + 2.0,
                "{last:.1} then {per_change:.1} comparisons a change at {rows} rows"
            );
        }
        last = per_change;
    }
}
