//! RFC 6902 JSON Patch, all or nothing, on a `serde_json::Value` or a
//! [`Document`](crate::Document).
//!
//! Each operation costs what its paths cost, never a copy of the target:
//! what it displaces goes into an undo log, and when an operation fails the
//! log is played backwards. Every undo step puts a value back at a place
//! that was just written, so taking a patch back cannot fail. (The
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
    /// Put back the member or item an operation removed from the pointer.
    Insert(PointerBuf, T),
}

/// Applies `ops` to `target`: all of them, or, on error, none.
pub(crate) fn apply<T: Tree>(target: &mut T, ops: &[PatchOperation]) -> Result<(), Error> {
    let mut undo = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        if let Err(kind) = apply_one(target, op, &mut undo) {
            while let Some(step) = undo.pop() {
                take_back(target, step);
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
        PatchOperation::Add(op) => add(target, &op.path, T::from_value(&op.value), undo),
        PatchOperation::Remove(op) => {
            let (at, removed) = remove(target, &op.path, Kind::InvalidPath)?;
            undo.push(Undo::Insert(at, removed));
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
            let (from, value) = remove(target, &op.from, Kind::InvalidFrom)?;
            // Taking back the add that follows drops what it put there, so
            // the way back to `from` keeps a copy of its own. Moves are rare,
            // and the copy is the size of what moved.
            undo.push(Undo::Insert(from, value.clone()));
            add(target, &op.path, value, undo)
        }
        PatchOperation::Copy(op) => {
            let value = target.at(&op.from).ok_or(Kind::InvalidFrom)?.clone();
            add(target, &op.path, value, undo)
        }
        PatchOperation::Test(op) => match target.at(&op.path) {
            Some(found) if found.equals(&op.value) => Ok(()),
            Some(_) => Err(Kind::TestFailed),
            None => Err(Kind::InvalidPath),
        },
    }
}

/// RFC 6902 `add`: sets an object member, inserts an array item (`-`
/// appends), or replaces the whole target at the root pointer.
fn add<T: Tree>(
    target: &mut T,
    path: &Pointer,
    value: T,
    undo: &mut Vec<Undo<T>>,
) -> Result<(), Kind> {
    let Some((parent_path, last)) = path.split_back() else {
        undo.push(Undo::Root(std::mem::replace(target, value)));
        return Ok(());
    };
    let parent = target.at_mut(parent_path).ok_or(Kind::InvalidPath)?;
    if let Some(items) = parent.items_mut() {
        let index = insert_position(&last, items.len())?;
        items.insert(index, value);
        undo.push(Undo::Take(item_pointer(parent_path, index)));
        return Ok(());
    }
    match parent.insert_member(&last.decoded(), value) {
        Ok(Some(old)) => undo.push(Undo::Set(path.to_buf(), old)),
        Ok(None) => undo.push(Undo::Take(path.to_buf())),
        Err(_) => return Err(Kind::InvalidPath),
    }
    Ok(())
}

/// RFC 6902 `remove`: the value at `path`, taken out, and the pointer that
/// names where it was (an item's index, never `-`).
fn remove<T: Tree>(target: &mut T, path: &Pointer, invalid: Kind) -> Result<(PointerBuf, T), Kind> {
    let (parent_path, last) = path.split_back().ok_or(invalid)?;
    let parent = target.at_mut(parent_path).ok_or(invalid)?;
    if let Some(items) = parent.items_mut() {
        let index = item_position(&last, items.len()).ok_or(invalid)?;
        return Ok((item_pointer(parent_path, index), items.remove(index)));
    }
    let removed = parent.remove_member(&last.decoded()).ok_or(invalid)?;
    Ok((path.to_buf(), removed))
}

fn take_back<T: Tree>(target: &mut T, step: Undo<T>) {
    // Each step names a place that the operation it takes back has just
    // acted on, so it resolves. Were that ever not so, leaving the target as
    // it is would beat a panic.
    match step {
        Undo::Root(old) => *target = old,
        Undo::Set(path, old) => {
            if let Some(slot) = target.at_mut(&path) {
                *slot = old;
            }
        }
        Undo::Take(path) => {
            let _ = remove(target, &path, Kind::InvalidPath);
        }
        Undo::Insert(path, value) => {
            let _ = add(target, &path, value, &mut Vec::new());
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
