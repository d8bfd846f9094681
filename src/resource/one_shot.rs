//! The feed behind [`LiveResource::new`](crate::LiveResource::new): one
//! snapshot, one update stream, no way to fetch again.

use std::task::{Context, Poll, ready};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

use super::Feed;
use crate::replica::{Backlog, Offer, Replica};
use crate::{BoxError, Error, Limits, Snapshot, Update};

pub(crate) struct OneShot {
    phase: Phase,
    updates: Updates,
}

enum Phase {
    /// Buffering updates while the snapshot is fetched.
    AwaitingSnapshot {
        snapshot: BoxFuture<'static, Result<Snapshot, BoxError>>,
        backlog: Backlog,
    },
    /// Following the update stream; `replay` holds what arrived before the snapshot.
    Live {
        replica: Replica,
        replay: std::vec::IntoIter<Update>,
    },
    /// A failure this feed cannot recover from was reported; the state, if
    /// there was one, stays readable.
    Failed { replica: Option<Replica> },
}

/// The update stream, `None` once it has ended.
struct Updates(Option<BoxStream<'static, Result<Update, BoxError>>>);

impl Updates {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Update, Error>>> {
        let Some(stream) = &mut self.0 else {
            return Poll::Ready(None);
        };
        let next = ready!(stream.poll_next_unpin(cx));
        if next.is_none() {
            self.0 = None;
        }
        Poll::Ready(next.map(|item| item.map_err(Error::Updates)))
    }
}

impl OneShot {
    pub(crate) fn new(
        snapshot: BoxFuture<'static, Result<Snapshot, BoxError>>,
        updates: BoxStream<'static, Result<Update, BoxError>>,
    ) -> Self {
        Self {
            phase: Phase::AwaitingSnapshot {
                snapshot,
                backlog: Backlog::default(),
            },
            updates: Updates(Some(updates)),
        }
    }
}

/// Moves to [`Phase::Failed`], keeping the state, and reports `error`.
fn fail(phase: &mut Phase, error: Error) -> Poll<Option<Result<(), Error>>> {
    let replica = match std::mem::replace(phase, Phase::Failed { replica: None }) {
        Phase::Live { replica, .. } => Some(replica),
        Phase::Failed { replica } => replica,
        Phase::AwaitingSnapshot { .. } => None,
    };
    *phase = Phase::Failed { replica };
    Poll::Ready(Some(Err(error)))
}

impl Feed for OneShot {
    fn poll_change(
        &mut self,
        cx: &mut Context<'_>,
        limits: &Limits,
    ) -> Poll<Option<Result<(), Error>>> {
        let Self { phase, updates } = self;
        loop {
            match phase {
                Phase::AwaitingSnapshot { snapshot, backlog } => {
                    let snapshot = match snapshot.poll_unpin(cx) {
                        Poll::Ready(Ok(snapshot)) => snapshot,
                        Poll::Ready(Err(error)) => return fail(phase, Error::Snapshot(error)),
                        Poll::Pending => {
                            // Hold what arrives while the snapshot is in flight:
                            // those updates may be newer than the snapshot.
                            while let Poll::Ready(Some(item)) = updates.poll_next(cx) {
                                match item.and_then(|update| backlog.push(update, limits)) {
                                    Ok(()) => {}
                                    Err(error @ Error::BufferOverflow { .. }) => {
                                        return fail(phase, error);
                                    }
                                    Err(error) => return Poll::Ready(Some(Err(error))),
                                }
                            }
                            return Poll::Pending;
                        }
                    };
                    let replay = std::mem::take(backlog).into_replay();
                    *phase = Phase::Live {
                        replica: Replica::new(snapshot),
                        replay,
                    };
                    return Poll::Ready(Some(Ok(())));
                }
                Phase::Live { replica, replay } => {
                    let update = match replay.next() {
                        Some(update) => update,
                        None => match ready!(updates.poll_next(cx)) {
                            None => return Poll::Ready(None),
                            Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                            Some(Ok(update)) => update,
                        },
                    };
                    match replica.offer(update, limits) {
                        Ok(Offer::Applied) => return Poll::Ready(Some(Ok(()))),
                        Ok(Offer::Duplicate) => continue,
                        // A refused message is reported; if it carried a `seq`,
                        // the next update shows the gap it left.
                        Err(error @ Error::TooDeep { .. }) => return Poll::Ready(Some(Err(error))),
                        Err(error) => return fail(phase, error),
                    }
                }
                Phase::Failed { .. } => return Poll::Ready(None),
            }
        }
    }

    fn replica(&self) -> Option<&Replica> {
        match &self.phase {
            Phase::AwaitingSnapshot { .. } => None,
            Phase::Live { replica, .. } => Some(replica),
            Phase::Failed { replica } => replica.as_ref(),
        }
    }
}
