//! RFC 6902 JSON Patch, all or nothing, on a `serde_json::Value` or a
//! [`Document`](crate::Document).
//!
//! Each operation costs what its paths cost, never a copy of the target:
//! what it displaces goes into an undo log, and when an operation fails the
//! log is played backwards, members going back to their places in their
//! object's order. Every undo step acts on a place that was just written, so
//! taking a patch back cannot fail. (The
//! `json-patch` crate's own undo can: after a `move` to the root, a failing
//! later operation makes it panic, which a test here found.)

use json_patch::PatchOperation;
use json_patch::jsonptr::index::Index;
use json_patch::jsonptr::{Pointer, PointerBuf, Token};

use super::tree::{Tree, item_position};
use super::{ApplyError, ApplyErrorKind as Kind};
use crate::Error;

/// How to take back one change.
enum Undo<T> {
    /// Put back the whole value a root `add`, `replace` or `move` replaced.
    Root(T),
    /// Set the place at the pointer back to the value it had.
    Set(PointerBuf, T),
    /// Take out the member or item an operation added at the pointer.
    Take(PointerBuf),
    /// Put back a member or item an operation removed, where it was.
    Insert(Place, T),
    /// Put back where it was the value a `move` took: the step taken back
    /// just before this one (the move's `add`) hands it over.
    MoveBack(Place),
}

/// Where a removed member or item was.
struct Place {
    parent: PointerBuf,
    slot: Slot,
}

enum Slot {
    Item(usize),
    /// A member, and its place in its object's order.
    Member(String, usize),
}

/// Applies `ops` to `target`: all of them, or, on error, none.
pub(crate) fn apply<T: Tree>(target: &mut T, ops: &[PatchOperation]) -> Result<(), Error> {
    let mut undo = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        if let Err(kind) = apply_one(target, op, &mut undo) {
            let mut handed_over = None;
            while let Some(step) = undo.pop() {
                handed_over = take_back(target, step, handed_over);
            }
            let path = match op {
                PatchOperation::Add(op) => &op.path,
                PatchOperation::Remove(op) => &op.path,
                PatchOperation::Replace(op) => &op.path,
                PatchOperation::Move(op) => &op.path,
                PatchOperation::Copy(op) => &op.path,
                PatchOperation::Test(op) => &op.path,
            };
            return Err(Error::Apply(ApplyError::new(index, path.as_str(), kind)));
        }
    }
    Ok(())
}

fn apply_one<T: Tree>(
    target: &mut T,
    op: &PatchOperation,
    undo: &mut Vec<Undo<T>>,
) -> Result<(), Kind> {
    match op {
        PatchOperation::Add(op) => {
            add(target, &op.path, T::from_value(&op.value), undo).map_err(|(kind, _)| kind)
        }
        PatchOperation::Remove(op) => {
            let (place, removed) = remove(target, &op.path, Kind::InvalidPath)?;
            undo.push(Undo::Insert(place, removed));
            Ok(())
        }
        PatchOperation::Replace(op) => {
            let slot = target.at_mut(&op.path).ok_or(Kind::InvalidPath)?;
            let old = std::mem::replace(slot, T::from_value(&op.value));
            undo.push(match op.path.is_root() {
                true => Undo::Root(old),
                false => Undo::Set(op.path.clone(), old),
            });
            Ok(())
        }
        PatchOperation::Move(op) => {
            if op.path.starts_with(&op.from) && op.path.count() != op.from.count() {
                return Err(Kind::MoveIntoItself);
            }
            let (place, value) = remove(target, &op.from, Kind::InvalidFrom)?;
            match add(target, &op.path, value, undo) {
                Ok(()) => {
                    // Taken back after the add's own step, which gives the
                    // value back: no copy of what moved is kept.
                    let add_step = undo.len() - 1;
                    undo.insert(add_step, Undo::MoveBack(place));
                    Ok(())
                }
                Err((kind, value)) => {
                    put(target, place, value);
                    Err(kind)
                }
            }
        }
        PatchOperation::Copy(op) => {
            let value = target.at(&op.from).ok_or(Kind::InvalidFrom)?.clone();
            add(target, &op.path, value, undo).map_err(|(kind, _)| kind)
        }
        PatchOperation::Test(op) => match target.at(&op.path) {
            Some(found) if found.equals(&op.value) => Ok(()),
            Some(_) => Err(Kind::TestFailed),
            None => Err(Kind::InvalidPath),
        },
    }
}

/// RFC 6902 `add`: sets an object member, inserts an array item (`-`
/// appends), or replaces the whole target at the root pointer. A failed add
/// gives its value back.
fn add<T: Tree>(
    target: &mut T,
    path: &Pointer,
    value: T,
    undo: &mut Vec<Undo<T>>,
) -> Result<(), (Kind, T)> {
    let Some((parent_path, last)) = path.split_back() else {
        undo.push(Undo::Root(std::mem::replace(target, value)));
        return Ok(());
    };
    let Some(parent) = target.at_mut(parent_path) else {
        return Err((Kind::InvalidPath, value));
    };
    if let Some(items) = parent.items_mut() {
        let index = match insert_position(&last, items.len()) {
            Ok(index) => index,
            Err(kind) => return Err((kind, value)),
        };
        items.insert(index, value);
        undo.push(Undo::Take(item_pointer(parent_path, index)));
        return Ok(());
    }
    match parent.insert_member(&last.decoded(), value) {
        Ok(Some(old)) => undo.push(Undo::Set(path.to_buf(), old)),
        Ok(None) => undo.push(Undo::Take(path.to_buf())),
        Err(value) => return Err((Kind::InvalidPath, value)),
    }
    Ok(())
}

/// RFC 6902 `remove`: the value at `path`, taken out, and where it was.
fn remove<T: Tree>(target: &mut T, path: &Pointer, invalid: Kind) -> Result<(Place, T), Kind> {
    let (parent_path, last) = path.split_back().ok_or(invalid)?;
    let parent = target.at_mut(parent_path).ok_or(invalid)?;
    let parent_path = parent_path.to_buf();
    if let Some(items) = parent.items_mut() {
        let index = item_position(&last, items.len()).ok_or(invalid)?;
        let slot = Slot::Item(index);
        return Ok((
            Place {
                parent: parent_path,
                slot,
            },
            items.remove(index),
        ));
    }
    let key = last.decoded();
    let (index, removed) = parent.remove_member(&key).ok_or(invalid)?;
    let slot = Slot::Member(key.into_owned(), index);
    Ok((
        Place {
            parent: parent_path,
            slot,
        },
        removed,
    ))
}

/// Puts a removed member or item back where it was.
fn put<T: Tree>(target: &mut T, place: Place, value: T) {
    let parent = target.at_mut(&place.parent);
    debug_assert!(parent.is_some(), "a place just emptied is still there");
    let Some(parent) = parent else { return };
    match place.slot {
        Slot::Item(index) => {
            if let Some(items) = parent.items_mut() {
                items.insert(index.min(items.len()), value);
            }
        }
        Slot::Member(key, index) => parent.restore_member(index, &key, value),
    }
}

/// Takes back one step, and returns the value the step displaced: what a
/// `move` put there, for the [`Undo::MoveBack`] that comes next.
fn take_back<T: Tree>(target: &mut T, step: Undo<T>, handed_over: Option<T>) -> Option<T> {
    // Each step names a place that the operation it takes back has just
    // acted on, so it resolves; the debug assertions say so in tests, and a
    // release build would rather leave the target as it is than panic.
    match step {
        Undo::Root(old) => Some(std::mem::replace(target, old)),
        Undo::Set(path, old) => {
            let slot = target.at_mut(&path);
            debug_assert!(slot.is_some(), "{path} was just written");
            slot.map(|slot| std::mem::replace(slot, old))
        }
        Undo::Take(path) => {
            let taken = remove(target, &path, Kind::InvalidPath);
            debug_assert!(taken.is_ok(), "{path} was just added");
            taken.ok().map(|(_, value)| value)
        }
        Undo::Insert(place, value) => {
            put(target, place, value);
            None
        }
        Undo::MoveBack(place) => {
            debug_assert!(handed_over.is_some(), "a move's add hands its value back");
            if let Some(value) = handed_over {
                put(target, place, value);
            }
            None
        }
    }
}

/// Where a token says to insert into an array of `len` items: `-` is the end.
fn insert_position(token: &Token<'_>, len: usize) -> Result<usize, Kind> {
    match token.to_index().map_err(|_| Kind::InvalidPath)? {
        Index::Num(index) if index <= len => Ok(index),
        Index::Next => Ok(len),
        Index::Num(_) => Err(Kind::InvalidPath),
    }
}

fn item_pointer(parent: &Pointer, index: usize) -> PointerBuf {
    let mut pointer = parent.to_buf();
    pointer.push_back(index);
    pointer
}
