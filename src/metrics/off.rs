//! Without the `metrics` feature: the recording calls of `metrics.rs`, each
//! doing nothing, so that the code that records needs no `cfg`s. Keep the
//! two in step.
// Which calls are made depends on the features built.
#![allow(dead_code)]

use crate::protocol::ErrorCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Http,
    Sse,
    Ws,
    SocketIo,
    Serve,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Connection,
    Subscription,
}

#[derive(Debug)]
pub(crate) struct Open;

#[inline(always)]
pub(crate) fn open(_: Kind, _: Transport) -> Open {
    Open
}

#[inline(always)]
pub(crate) fn published() {}

#[inline(always)]
pub(crate) fn delivered(_: Transport) {}

#[inline(always)]
pub(crate) fn resync(_: Transport) {}

#[inline(always)]
pub(crate) fn refused(_: Transport, _: ErrorCode) {}

#[inline(always)]
pub(crate) fn write_timeout(_: Transport) {}

#[inline(always)]
pub(crate) fn sent(_: Transport, _: usize) {}

#[cfg(feature = "socketio")]
#[inline(always)]
pub(crate) fn sent_json<T: ?Sized + serde::Serialize>(_: Transport, _: &T) {}
