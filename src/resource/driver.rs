//! The state machine behind every [`LiveResource`](crate::LiveResource): it
//! opens the update stream, hands off to a snapshot, applies updates, and
//! recovers from whatever goes wrong by resuming or resyncing.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Sleep;

use super::watched::Watched;
use crate::backoff::Retries;
use crate::replica::{Backlog, Offer, Replica};
use crate::source::{Event, EventStream, Permanent, Source};
use crate::{Backoff, BoxError, Error, Limits, Snapshot, Status, Update};

/// How many snapshots older than the state are refused in a row before the
/// latest is taken as a new history: a lagging cache catches up sooner, a
/// source whose versions went back for good never does.
const STALE_IN_A_ROW: u32 = 3;

pub(crate) struct Driver {
    source: Arc<dyn Source>,
    phase: Phase,
    retries: Retries,
    idle_timeout: Option<Duration>,
    /// A one-shot resource cannot fetch again: it gives up where a resilient
    /// one recovers, passes stream errors on, and ends with its stream.
    one_shot: bool,
    /// The version the state was at when a message was last refused (too
    /// large, too deep, malformed). Resuming from there would only bring the
    /// same message back, so recovery from that version takes a new snapshot.
    refused_at: Option<u64>,
    /// Snapshots older than the state refused in a row (see `not_older`).
    stale_in_a_row: u32,
    status: watch::Sender<Status>,
}

enum Phase {
    /// Waiting before the next attempt, which opens the stream from `since`.
    Waiting {
        sleep: Pin<Box<Sleep>>,
        since: Option<u64>,
    },
    /// Opening the update stream from `since` (`None`: from now on, with a new snapshot).
    Subscribing {
        opening: BoxFuture<'static, Result<EventStream, BoxError>>,
        since: Option<u64>,
    },
    /// Holding updates while the snapshot comes: from `fetch`, or as the
    /// stream's own first event when the source includes one.
    Fetching {
        stream: Watched,
        fetch: Option<BoxFuture<'static, Result<Snapshot, BoxError>>>,
        backlog: Backlog,
    },
    /// Applying updates as they come; `replay` holds those that arrived
    /// before the snapshot. `confirmed` once the state is known to be
    /// current: a resumed stream is not until the source has spoken on it
    /// (it may yet say that it cannot replay).
    Live {
        stream: Watched,
        replay: std::vec::IntoIter<Update>,
        confirmed: bool,
    },
    /// No change can come any more: the stream's last item, this error,
    /// says why.
    Ending(Error),
    /// No change can come any more.
    Done,
}

/// How to recover from a failure.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// Reconnect and resume after the current version.
    Resume,
    /// Updates were lost: resubscribe from the current version, and take a
    /// new snapshot if the source cannot replay from there.
    Gap,
    /// Start over with a new snapshot.
    Resync,
}

impl Driver {
    pub(crate) fn new(source: Arc<dyn Source>, one_shot: bool) -> (Self, watch::Receiver<Status>) {
        let (status, receiver) = watch::channel(Status::Connecting);
        let idle_timeout = source.heartbeat().map(|period| period * 3);
        let opening = open(&source, None);
        let driver = Self {
            source,
            phase: Phase::Subscribing {
                opening,
                since: None,
            },
            retries: Retries::new(Backoff::default()),
            idle_timeout,
            one_shot,
            refused_at: None,
            stale_in_a_row: 0,
            status,
        };
        (driver, receiver)
    }

    pub(crate) fn set_backoff(&mut self, backoff: Backoff) {
        self.retries = Retries::new(backoff);
    }

    pub(crate) fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.idle_timeout = timeout;
    }

    /// `Ready(Some(Ok(())))` when the state changed, `Ready(Some(Err(_)))`
    /// for an error to report, `Ready(None)` when no change can come any more.
    pub(crate) fn poll_change(
        &mut self,
        cx: &mut Context<'_>,
        limits: &Limits,
        replica: &mut Option<Replica>,
    ) -> Poll<Option<Result<(), Error>>> {
        loop {
            match &mut self.phase {
                Phase::Waiting { sleep, since } => {
                    ready!(sleep.poll_unpin(cx));
                    let since = *since;
                    self.phase = Phase::Subscribing {
                        opening: open(&self.source, since),
                        since,
                    };
                }
                Phase::Subscribing { opening, since } => {
                    let since = *since;
                    match ready!(opening.poll_unpin(cx)) {
                        Ok(stream) => self.opened(stream, since, replica.is_some()),
                        Err(error) => {
                            return self.recover(
                                Error::Subscribe(error),
                                Recovery::Resume,
                                replica,
                            );
                        }
                    }
                }
                Phase::Fetching {
                    stream,
                    fetch,
                    backlog,
                } => {
                    let snapshot = match fetch.as_mut().map(|fetch| fetch.poll_unpin(cx)) {
                        Some(Poll::Ready(Ok(snapshot))) => snapshot,
                        Some(Poll::Ready(Err(error))) => {
                            return self.recover(Error::Snapshot(error), Recovery::Resync, replica);
                        }
                        Some(Poll::Pending) | None => {
                            // Hold what arrives while the snapshot is on its way:
                            // those updates may be newer than the snapshot.
                            match stream.poll_next(cx) {
                                Poll::Pending => return Poll::Pending,
                                Poll::Ready(Some(Ok(Event::Snapshot(snapshot)))) => snapshot,
                                Poll::Ready(Some(Ok(Event::Update(update)))) => {
                                    if let Err(error) = backlog.push(update, limits) {
                                        return self.recover(error, Recovery::Resync, replica);
                                    }
                                    continue;
                                }
                                Poll::Ready(Some(Ok(Event::Heartbeat(_)))) => continue,
                                Poll::Ready(Some(Ok(Event::Resync))) => {
                                    // The held updates may not line up with any
                                    // snapshot now: start over.
                                    self.retry(Recovery::Resync, replica, None);
                                    continue;
                                }
                                Poll::Ready(Some(Err(error))) => {
                                    return self.stream_failed(error, replica);
                                }
                                Poll::Ready(None) if self.one_shot && fetch.is_some() => {
                                    // The stream is done, the snapshot still counts;
                                    // the fetch was polled, so its waker is set.
                                    return Poll::Pending;
                                }
                                Poll::Ready(None) => match self.stream_ended(replica) {
                                    Some(done) => return done,
                                    None => continue,
                                },
                            }
                        }
                    };
                    if let Err(stale) = not_older(&mut self.stale_in_a_row, &snapshot, replica) {
                        return self.recover(stale, Recovery::Resync, replica);
                    }
                    let replay = std::mem::take(backlog).into_replay();
                    let fresh = match Replica::new(snapshot, limits) {
                        Ok(fresh) => fresh,
                        Err(error) => return self.recover(error, Recovery::Resync, replica),
                    };
                    // The new state is swapped in whole: no consumer sees a mix.
                    *replica = Some(fresh);
                    self.refused_at = None;
                    let Phase::Fetching { stream, .. } =
                        std::mem::replace(&mut self.phase, Phase::Done)
                    else {
                        unreachable!("in the Fetching arm");
                    };
                    self.go_live(stream, replay);
                    return Poll::Ready(Some(Ok(())));
                }
                Phase::Live {
                    stream,
                    replay,
                    confirmed,
                } => {
                    let event = match replay.next() {
                        Some(update) => Event::Update(update),
                        None => match ready!(stream.poll_next(cx)) {
                            Some(Ok(event)) => event,
                            Some(Err(error)) => return self.stream_failed(error, replica),
                            None => match self.stream_ended(replica) {
                                Some(done) => return done,
                                None => continue,
                            },
                        },
                    };
                    if !*confirmed && !matches!(event, Event::Resync | Event::Heartbeat(None)) {
                        // The source answered the resume about this stream
                        // with something other than "cannot replay": the
                        // state is current.
                        *confirmed = true;
                        self.confirm_live();
                    }
                    match event {
                        Event::Update(update) => {
                            let state = replica.as_mut().expect("a live resource has a state");
                            match state.offer(update, limits) {
                                Ok(Offer::Applied) => {
                                    self.refused_at = None;
                                    return Poll::Ready(Some(Ok(())));
                                }
                                Ok(Offer::Duplicate) => {}
                                // Refused before it touched the state (too deep, or
                                // read lazily and found not to be JSON): as a
                                // message refused when read, it is reported and the
                                // stream goes on; if it had a `seq`, the next update
                                // shows the gap it left.
                                Err(error @ (Error::TooDeep { .. } | Error::Malformed(_))) => {
                                    self.refused_at = state.version();
                                    return Poll::Ready(Some(Err(error)));
                                }
                                Err(error @ Error::Gap { .. }) => {
                                    return self.recover(error, Recovery::Gap, replica);
                                }
                                Err(error) => {
                                    return self.recover(error, Recovery::Resync, replica);
                                }
                            }
                        }
                        Event::Snapshot(snapshot) => {
                            if let Err(stale) =
                                not_older(&mut self.stale_in_a_row, &snapshot, replica)
                            {
                                return self.recover(stale, Recovery::Resync, replica);
                            }
                            match Replica::new(snapshot, limits) {
                                Ok(fresh) => *replica = Some(fresh),
                                Err(error) => {
                                    return self.recover(error, Recovery::Resync, replica);
                                }
                            }
                            self.refused_at = None;
                            return Poll::Ready(Some(Ok(())));
                        }
                        Event::Resync => self.retry(Recovery::Resync, replica, None),
                        Event::Heartbeat(Some(sent)) => {
                            let state = replica.as_ref().expect("a live resource has a state");
                            if let Some(version) = state.version().filter(|version| *version < sent)
                            {
                                let error = Error::Behind { version, sent };
                                return self.recover(error, Recovery::Gap, replica);
                            }
                        }
                        Event::Heartbeat(None) => {}
                    }
                }
                Phase::Ending(_) => {
                    let Phase::Ending(why) = std::mem::replace(&mut self.phase, Phase::Done) else {
                        unreachable!("in the Ending arm");
                    };
                    return Poll::Ready(Some(Err(why)));
                }
                Phase::Done => return Poll::Ready(None),
            }
        }
    }

    /// The stream is open: resume on it, or hold it while a snapshot comes.
    fn opened(&mut self, stream: EventStream, since: Option<u64>, has_state: bool) {
        let stream = Watched::new(stream, self.idle_timeout);
        if since.is_some() {
            // Current only once the source has answered the resume, for a
            // source that speaks on a quiet stream (heartbeats); one that
            // never does is taken at its word at once.
            let confirmed = self.source.heartbeat().is_none();
            self.phase = Phase::Live {
                stream,
                replay: Vec::new().into_iter(),
                confirmed,
            };
            if confirmed {
                self.confirm_live();
            }
            return;
        }
        if has_state {
            self.set_status(Status::Resyncing);
        }
        let fetch = (!self.source.includes_snapshot()).then(|| {
            let source = Arc::clone(&self.source);
            async move { source.snapshot().await }.boxed()
        });
        self.phase = Phase::Fetching {
            stream,
            fetch,
            backlog: Backlog::default(),
        };
    }

    /// A new snapshot is in: the state is current.
    fn go_live(&mut self, stream: Watched, replay: std::vec::IntoIter<Update>) {
        self.phase = Phase::Live {
            stream,
            replay,
            confirmed: true,
        };
        self.confirm_live();
    }

    fn confirm_live(&mut self) {
        self.retries.live();
        self.set_status(Status::Live);
    }

    /// Moves to `status`; watchers hear of a change only (see [`Status`]
    /// for the transitions).
    fn set_status(&mut self, status: Status) {
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }

    fn stream_failed(
        &mut self,
        error: Error,
        replica: &mut Option<Replica>,
    ) -> Poll<Option<Result<(), Error>>> {
        if self.one_shot && !matches!(error, Error::IdleTimeout { .. }) {
            // The stream may go on after an error: pass it on and keep reading.
            return Poll::Ready(Some(Err(error)));
        }
        if error.is_bad_message() {
            // One refused message is not a broken connection: report it and
            // read on. If it carried a `seq`, the next update or heartbeat
            // shows the gap it left and the usual recovery follows.
            self.refused_at = replica.as_ref().and_then(Replica::version);
            return Poll::Ready(Some(Err(error)));
        }
        self.recover(error, Recovery::Resume, replica)
    }

    /// The stream ended: a one-shot resource ends too (`Some`); a resilient
    /// one reconnects (`None`: go on driving), since a source that closes the
    /// stream (a server restarting, a topic removed) may come back.
    fn stream_ended(
        &mut self,
        replica: &Option<Replica>,
    ) -> Option<Poll<Option<Result<(), Error>>>> {
        if self.one_shot {
            self.phase = Phase::Done;
            self.set_status(Status::Closed);
            return Some(Poll::Ready(None));
        }
        self.retry(Recovery::Resume, replica, None);
        None
    }

    /// Sets up recovery and reports `error`.
    fn recover(
        &mut self,
        error: Error,
        how: Recovery,
        replica: &mut Option<Replica>,
    ) -> Poll<Option<Result<(), Error>>> {
        self.retry(how, replica, Some(&error));
        Poll::Ready(Some(Err(error)))
    }

    /// Moves to the next attempt: wait, then resubscribe from the current
    /// version (or from nothing, for a new snapshot). Gives up, to
    /// [`Phase::Done`], when the policy says so, on a [`Permanent`] error, or
    /// always when one-shot.
    fn retry(&mut self, how: Recovery, replica: &Option<Replica>, error: Option<&Error>) {
        let permanent = error
            .and_then(std::error::Error::source)
            .is_some_and(Permanent::is_permanent);
        let next = if self.one_shot || permanent {
            None
        } else {
            self.retries.next()
        };
        let Some((attempt, delay)) = next else {
            self.set_status(Status::Failed);
            // The stream's last item says why it ends: a permanent error, or
            // the error a one-shot resource just reported. (A one-shot
            // source, `LiveResource::new`'s, never asks for a new snapshot:
            // its stream carries updates only.)
            self.phase = if permanent || self.one_shot {
                Phase::Done
            } else {
                Phase::Ending(Error::GaveUp {
                    attempts: self.retries.attempts(),
                })
            };
            return;
        };
        let current = replica.as_ref().and_then(Replica::version);
        // A handoff subscribes from no version, to take a new snapshot: cut
        // short (before or after its stream opened), it starts over the same
        // way, not from the old state the source has just refused.
        let in_handoff = matches!(
            self.phase,
            Phase::Fetching { .. }
                | Phase::Subscribing { since: None, .. }
                | Phase::Waiting { since: None, .. }
        );
        let since = match how {
            Recovery::Resume if in_handoff => None,
            // A replay would bring back the message this state refused.
            Recovery::Resume | Recovery::Gap if current.is_some() && current == self.refused_at => {
                None
            }
            Recovery::Resume | Recovery::Gap => current,
            Recovery::Resync => None,
        };
        self.set_status(match how {
            Recovery::Resume => Status::Reconnecting { attempt, delay },
            Recovery::Gap | Recovery::Resync => Status::Resyncing,
        });
        self.phase = if delay.is_zero() {
            Phase::Subscribing {
                opening: open(&self.source, since),
                since,
            }
        } else {
            Phase::Waiting {
                sleep: Box::pin(tokio::time::sleep(delay)),
                since,
            }
        };
    }
}

fn open(
    source: &Arc<dyn Source>,
    since: Option<u64>,
) -> BoxFuture<'static, Result<EventStream, BoxError>> {
    let source = Arc::clone(source);
    async move { source.updates(since).await }.boxed()
}

/// Refuses a snapshot older than the state already shown: a cache or a
/// replica that lags the source. A new history starts above every version
/// of the old one (a hub's versions come from the clock), so an older
/// snapshot is the same history's past, and the resource never goes
/// backward; it fetches again, with backoff. A source whose versions
/// really went back (a hub with a fixed first version, restarted) serves
/// nothing newer: after [`STALE_IN_A_ROW`] such snapshots in a row, the
/// latest is taken as a new history.
fn not_older(
    stale_in_a_row: &mut u32,
    snapshot: &Snapshot,
    replica: &Option<Replica>,
) -> Result<(), Error> {
    let current = replica.as_ref().and_then(Replica::version);
    match (snapshot.version, current) {
        (Some(version), Some(current)) if version < current => {
            *stale_in_a_row += 1;
            if *stale_in_a_row >= STALE_IN_A_ROW {
                *stale_in_a_row = 0;
                return Ok(());
            }
            Err(Error::StaleSnapshot { version, current })
        }
        _ => {
            *stale_in_a_row = 0;
            Ok(())
        }
    }
}
