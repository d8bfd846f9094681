//! [`Sorted`]: a sorted sequence in blocks, with positions.
//!
//! A view must say where in its order each row was and is. A balanced tree
//! with subtree sizes says it in O(log n) but costs a node, and a pointer
//! chase, per row; a sorted `Vec` costs a move of half the rows per change.
//! Blocks of at most [`BLOCK`] sorted items sit between: a change finds its
//! block by binary search over the blocks' last items, moves at most a
//! block's items, and counts its position by adding the sizes of the blocks
//! before it. A view with a limit of `n` stops counting once past `n`, so a
//! top-100 view pays O(log n) for the search, one block's move, and a
//! block or two of counting, whatever the number of rows.

use std::cmp::Ordering;

/// The most items a block holds before it splits in two.
const BLOCK: usize = 512;

/// Items in the order of a comparison, in blocks.
#[derive(Debug)]
pub(crate) struct Sorted<E> {
    blocks: Vec<Vec<E>>,
    /// A copy of each block's last item, side by side: the search for a
    /// block reads this one array rather than a block per step.
    lasts: Vec<E>,
    len: usize,
}

impl<E> Default for Sorted<E> {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            lasts: Vec::new(),
            len: 0,
        }
    }
}

impl<E: Clone> Sorted<E> {
    /// Items already sorted.
    pub(crate) fn from_sorted(items: Vec<E>) -> Self {
        let len = items.len();
        let mut blocks: Vec<Vec<E>> = Vec::with_capacity(len / BLOCK + 1);
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            blocks.push(items.by_ref().take(BLOCK / 2).collect());
        }
        let lasts = blocks.iter().map(|block| last(block).clone()).collect();
        Self { blocks, lasts, len }
    }

    /// Puts `item` in its place; returns its position, or any number at
    /// least `cap` when that is at least `cap`.
    pub(crate) fn insert(
        &mut self,
        item: E,
        cmp: impl Fn(&E, &E) -> Ordering,
        cap: usize,
    ) -> usize {
        self.len += 1;
        if self.blocks.is_empty() {
            self.lasts.push(item.clone());
            self.blocks.push(vec![item]);
            return 0;
        }
        let block = self
            .lasts
            .partition_point(|last| cmp(last, &item).is_lt())
            .min(self.blocks.len() - 1);
        let at = self.blocks[block].partition_point(|other| cmp(other, &item).is_lt());
        if at == self.blocks[block].len() {
            self.lasts[block] = item.clone();
        }
        self.blocks[block].insert(at, item);
        let position = self.position(block, at, cap);
        if self.blocks[block].len() > BLOCK {
            let upper = self.blocks[block].split_off(BLOCK / 2);
            self.lasts[block] = last(&self.blocks[block]).clone();
            self.lasts.insert(block + 1, last(&upper).clone());
            self.blocks.insert(block + 1, upper);
        }
        position
    }

    /// Takes out the item that `place` finds equal, where `place` says how
    /// an item compares with it; returns the item and its position (or a
    /// number at least `cap`, as [`Sorted::insert`]).
    pub(crate) fn remove(
        &mut self,
        place: impl Fn(&E) -> Ordering,
        cap: usize,
    ) -> Option<(E, usize)> {
        let block = self.lasts.partition_point(|last| place(last).is_lt());
        let at = self.blocks.get(block)?.binary_search_by(&place).ok()?;
        let position = self.position(block, at, cap);
        let removed = self.blocks[block].remove(at);
        if self.blocks[block].is_empty() {
            self.blocks.remove(block);
            self.lasts.remove(block);
        } else if at == self.blocks[block].len() {
            self.lasts[block] = last(&self.blocks[block]).clone();
        }
        self.len -= 1;
        Some((removed, position))
    }
}

fn last<E>(block: &[E]) -> &E {
    block.last().expect("no empty block")
}

impl<E> Sorted<E> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The position of the item `at` in `block`, counted only up to `cap`.
    fn position(&self, block: usize, at: usize, cap: usize) -> usize {
        let mut before = 0;
        for earlier in &self.blocks[..block] {
            if before >= cap {
                break;
            }
            before += earlier.len();
        }
        before + at
    }

    /// The item at `index`.
    pub(crate) fn get(&self, mut index: usize) -> Option<&E> {
        for block in &self.blocks {
            if index < block.len() {
                return Some(&block[index]);
            }
            index -= block.len();
        }
        None
    }

    /// The items in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &E> {
        self.blocks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn positions_agree_with_a_sorted_vec(ops in prop::collection::vec((any::<bool>(), 0u16..3000), 1..4000)) {
            let mut sorted = Sorted::default();
            let mut model: Vec<u16> = Vec::new();
            for (insert, value) in ops {
                let found = model.binary_search(&value);
                match (insert, found) {
                    (true, Err(at)) => {
                        model.insert(at, value);
                        prop_assert_eq!(sorted.insert(value, u16::cmp, usize::MAX), at);
                    }
                    (false, Ok(at)) => {
                        model.remove(at);
                        prop_assert_eq!(sorted.remove(|other| other.cmp(&value), usize::MAX), Some((value, at)));
                    }
                    (false, Err(_)) => prop_assert_eq!(sorted.remove(|other| other.cmp(&value), usize::MAX), None),
                    (true, Ok(_)) => {}
                }
                prop_assert_eq!(sorted.len(), model.len());
            }
            prop_assert_eq!(sorted.iter().copied().collect::<Vec<_>>(), model.clone());
            for (index, value) in model.iter().enumerate() {
                prop_assert_eq!(sorted.get(index), Some(value));
            }
            let rebuilt = Sorted::from_sorted(model.clone());
            prop_assert_eq!(rebuilt.iter().copied().collect::<Vec<_>>(), model);
        }
    }
}
