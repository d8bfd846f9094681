//! The state machine behind every [`LiveResource`](crate::LiveResource): it
//! opens the update stream, hands off to a snapshot, applies updates, and
//! recovers from whatever goes wrong by resuming or resyncing.
//!
//! A one-shot resource and a resilient one run the same machine; they differ
//! only in what follows a setback (an error, the stream's end), which their
//! [`Policy`] decides in [`Policy::after`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Sleep;

use super::UnknownTopic;
use super::watched::Watched;
use crate::backoff::Retries;
use crate::replica::{Backlog, Changes, Load, Offer, Replica};
use crate::source::{Event, EventStream, Fetched, Source};
use crate::{Backoff, BoxError, Error, Limits, Status, Update};

/// How many snapshots older than the state are refused in a row before the
/// latest is taken as a new history: a lagging cache catches up sooner, a
/// source whose versions went back for good never does.
const STALE_IN_A_ROW: u32 = 3;

/// How much of a snapshot's text one poll reads: about a millisecond's
/// work, so that a 20 MB snapshot is read in some 160 polls, the runtime
/// free to run other tasks between them.
const SNAPSHOT_BYTES_PER_POLL: usize = 128 << 10;

pub(crate) struct Driver {
    source: Arc<dyn Source>,
    phase: Phase,
    policy: Policy,
    idle_timeout: Option<Duration>,
    /// The version the state was at when a message was last refused (too
    /// large, too deep, malformed). Resuming from there would only bring the
    /// same message back, so recovery from that version takes a new snapshot.
    refused_at: Option<u64>,
    /// Snapshots older than the state refused in a row (see `not_older`).
    stale_in_a_row: u32,
    status: watch::Sender<Status>,
    /// Whether each new state records what its changes do (a table's rows).
    record: bool,
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
        fetch: Option<BoxFuture<'static, Result<Fetched, BoxError>>>,
        backlog: Backlog,
    },
    /// Reading a snapshot that came, a page a poll, holding the updates
    /// that arrive meanwhile: they follow it, in order.
    Loading {
        stream: Watched,
        load: Load,
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

/// What follows a setback: the one difference between a one-shot resource
/// and a resilient one.
pub(crate) enum Policy {
    /// [`LiveResource::new`](crate::LiveResource::new)'s: one snapshot and
    /// one stream, given once. It cannot fetch again, so it ends where a
    /// resilient one recovers; the stream may go on after an error item, so
    /// it passes those on, and it ends with its stream.
    Once,
    /// [`LiveResource::connect`](crate::LiveResource::connect)'s: it recovers
    /// from whatever it can, spaced by `retries`, and ends only on a final
    /// error, an unknown topic if told so, or when the retries run out.
    Resilient {
        retries: Retries,
        unknown_topic: UnknownTopic,
    },
}

/// What went wrong.
enum Setback {
    /// The update stream yielded this error item.
    StreamError(Error),
    /// The update stream ended; `fetching` while a snapshot it does not
    /// carry is still on its way.
    StreamEnded { fetching: bool },
    /// The state needs recovering `how`; `error`, when there is one, says why.
    Failed { how: Recovery, error: Option<Error> },
}

/// What the resource does about a setback.
enum Next {
    /// Reports the error and reads on: the stream goes on after it.
    ReadOn(Error),
    /// Waits for the snapshot already asked for, which still counts.
    AwaitSnapshot,
    /// Reports the error, if any, then recovers `how`: attempt `attempt`,
    /// after `delay`.
    Retry {
        report: Option<Error>,
        how: Recovery,
        attempt: u32,
        delay: Duration,
    },
    /// Reports the error, if any, and ends with `status`; `last`, when there
    /// is one, is the stream's last item and says why it ends.
    End {
        report: Option<Error>,
        status: Status,
        last: Option<Error>,
    },
}

impl Policy {
    pub(crate) fn resilient() -> Self {
        Self::Resilient {
            retries: Retries::new(Backoff::default()),
            unknown_topic: UnknownTopic::default(),
        }
    }

    /// What follows `setback`.
    fn after(&mut self, setback: Setback) -> Next {
        let failed = |report| Next::End {
            report,
            status: Status::Failed,
            last: None,
        };
        match self {
            Self::Once => match setback {
                // Only silence breaks the stream it was given.
                Setback::StreamError(error @ Error::IdleTimeout { .. }) => failed(Some(error)),
                Setback::StreamError(error) => Next::ReadOn(error),
                Setback::StreamEnded { fetching: true } => Next::AwaitSnapshot,
                Setback::StreamEnded { fetching: false } => Next::End {
                    report: None,
                    status: Status::Closed,
                    last: None,
                },
                // It has no way to fetch again. (Its source, the one given
                // to `LiveResource::new`, never asks for a new snapshot: its
                // stream carries updates only.)
                Setback::Failed { error, .. } => failed(error),
            },
            Self::Resilient {
                retries,
                unknown_topic,
            } => {
                let (how, error) = match setback {
                    // One refused message is not a broken connection: report
                    // it and read on. If it carried a `seq`, the next update
                    // or heartbeat shows the gap it left and the usual
                    // recovery follows.
                    Setback::StreamError(error) if error.is_bad_message() => {
                        return Next::ReadOn(error);
                    }
                    Setback::StreamError(error) => (Recovery::Resume, Some(error)),
                    // A source that closes the stream (a server restarting,
                    // a topic removed) may come back.
                    Setback::StreamEnded { .. } => (Recovery::Resume, None),
                    Setback::Failed { how, error } => (how, error),
                };
                let error = match error {
                    Some(error)
                        if *unknown_topic == UnknownTopic::End && error.is_unknown_topic() =>
                    {
                        Some(error.into_final())
                    }
                    error => error,
                };
                if error.as_ref().is_some_and(Error::is_final) {
                    return failed(error);
                }
                match retries.next() {
                    Some((attempt, delay)) => Next::Retry {
                        report: error,
                        how,
                        attempt,
                        delay,
                    },
                    None => Next::End {
                        report: error,
                        status: Status::Failed,
                        last: Some(Error::GaveUp {
                            attempts: retries.attempts(),
                        }),
                    },
                }
            }
        }
    }

    /// The state is current: a resilient resource's retries count from
    /// here once it stays healthy.
    fn healthy(&mut self) {
        if let Self::Resilient { retries, .. } = self {
            retries.live();
        }
    }
}

impl Driver {
    pub(crate) fn new(source: Arc<dyn Source>, policy: Policy) -> (Self, watch::Receiver<Status>) {
        let (status, receiver) = watch::channel(Status::Connecting);
        let idle_timeout = source.heartbeat().map(|period| period * 3);
        let opening = open(&source, None);
        let driver = Self {
            source,
            phase: Phase::Subscribing {
                opening,
                since: None,
            },
            policy,
            idle_timeout,
            refused_at: None,
            stale_in_a_row: 0,
            status,
            record: false,
        };
        (driver, receiver)
    }

    /// A one-shot resource never retries: it has no backoff to set.
    pub(crate) fn set_backoff(&mut self, backoff: Backoff) {
        if let Policy::Resilient { retries, .. } = &mut self.policy {
            *retries = Retries::new(backoff);
        }
    }

    /// A one-shot resource ends on any error that needs a new fetch, an
    /// unknown topic too.
    pub(crate) fn set_unknown_topic(&mut self, setting: UnknownTopic) {
        if let Policy::Resilient { unknown_topic, .. } = &mut self.policy {
            *unknown_topic = setting;
        }
    }

    /// Every state swapped in from now on records what its changes do.
    pub(crate) fn set_record(&mut self) {
        self.record = true;
    }

    pub(crate) fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.idle_timeout = timeout;
    }

    /// `Ready(Some(Ok(())))` when the state changed, `Ready(Some(Err(_)))`
    /// for an error to report, `Ready(None)` when no change can come any more.
    /// `ahead` is told where the rows an update names are, before it is
    /// applied ([`Replica::offer`]).
    pub(crate) fn poll_change(
        &mut self,
        cx: &mut Context<'_>,
        limits: &Limits,
        replica: &mut Option<Replica>,
        ahead: crate::replica::Ahead<'_>,
    ) -> Poll<Option<Result<(), Error>>> {
        'drive: loop {
            let setback = 'setback: {
                match &mut self.phase {
                    Phase::Waiting { sleep, since } => {
                        ready!(sleep.poll_unpin(cx));
                        let since = *since;
                        self.phase = Phase::Subscribing {
                            opening: open(&self.source, since),
                            since,
                        };
                        continue 'drive;
                    }
                    Phase::Subscribing { opening, since } => {
                        let since = *since;
                        match ready!(opening.poll_unpin(cx)) {
                            Ok(stream) => {
                                self.opened(stream, since, replica.is_some());
                                continue 'drive;
                            }
                            Err(error) => failed(Recovery::Resume, Error::Subscribe(error)),
                        }
                    }
                    Phase::Fetching {
                        stream,
                        fetch,
                        backlog,
                    } => {
                        let arrived = match fetch.as_mut().map(|fetch| fetch.poll_unpin(cx)) {
                            Some(Poll::Ready(Ok(fetched))) => Ok(Load::fetched(fetched)),
                            Some(Poll::Ready(Err(error))) => {
                                Err(failed(Recovery::Resync, Error::Snapshot(error)))
                            }
                            // Hold what arrives while the snapshot is on its way:
                            // those updates may be newer than the snapshot.
                            Some(Poll::Pending) | None => match ready!(stream.poll_next(cx)) {
                                Some(Ok(Event::Snapshot(snapshot))) => Ok(Load::parsed(snapshot)),
                                Some(Ok(Event::SnapshotText(text))) => Ok(Load::text(text)),
                                Some(Ok(Event::Update(update))) => {
                                    match backlog.push(update, limits) {
                                        Ok(()) => continue 'drive,
                                        Err(error) => Err(failed(Recovery::Resync, error)),
                                    }
                                }
                                Some(Ok(Event::Heartbeat(_))) => continue 'drive,
                                // The held updates may not line up with any
                                // snapshot now: start over.
                                Some(Ok(Event::Resync)) => Err(Setback::Failed {
                                    how: Recovery::Resync,
                                    error: None,
                                }),
                                Some(Err(error)) => Err(Setback::StreamError(error)),
                                None => Err(Setback::StreamEnded {
                                    fetching: fetch.is_some(),
                                }),
                            },
                        };
                        match arrived {
                            Ok(load) => {
                                let Phase::Fetching {
                                    stream, backlog, ..
                                } = std::mem::replace(&mut self.phase, Phase::Done)
                                else {
                                    unreachable!("in the Fetching arm");
                                };
                                self.phase = Phase::Loading {
                                    stream,
                                    load,
                                    backlog,
                                };
                                continue 'drive;
                            }
                            Err(setback) => setback,
                        }
                    }
                    Phase::Loading {
                        stream,
                        load,
                        backlog,
                    } => {
                        let Some(fresh) = load.step(SNAPSHOT_BYTES_PER_POLL, limits) else {
                            // More to read: hold what arrives meanwhile, as
                            // while fetching, and read on at the next poll.
                            loop {
                                match stream.poll_next(cx) {
                                    // Ended: as it is again once live.
                                    Poll::Pending | Poll::Ready(None) => break,
                                    Poll::Ready(Some(Ok(Event::Update(update)))) => {
                                        if let Err(error) = backlog.push(update, limits) {
                                            break 'setback failed(Recovery::Resync, error);
                                        }
                                    }
                                    Poll::Ready(Some(Ok(Event::Heartbeat(_)))) => {}
                                    // A newer snapshot: read it instead; the
                                    // updates held that it includes are dropped.
                                    Poll::Ready(Some(Ok(Event::Snapshot(snapshot)))) => {
                                        *load = Load::parsed(snapshot);
                                    }
                                    Poll::Ready(Some(Ok(Event::SnapshotText(text)))) => {
                                        *load = Load::text(text);
                                    }
                                    Poll::Ready(Some(Ok(Event::Resync))) => {
                                        break 'setback Setback::Failed {
                                            how: Recovery::Resync,
                                            error: None,
                                        };
                                    }
                                    Poll::Ready(Some(Err(error))) => {
                                        break 'setback Setback::StreamError(error);
                                    }
                                }
                            }
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        };
                        match fresh.and_then(|fresh| self.swap_in(fresh, replica)) {
                            Ok(()) => {
                                let Phase::Loading {
                                    stream, backlog, ..
                                } = std::mem::replace(&mut self.phase, Phase::Done)
                                else {
                                    unreachable!("in the Loading arm");
                                };
                                self.go_live(stream, backlog.into_replay());
                                return Poll::Ready(Some(Ok(())));
                            }
                            Err(error) => failed(Recovery::Resync, error),
                        }
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
                                Some(Err(error)) => break 'setback Setback::StreamError(error),
                                None => break 'setback Setback::StreamEnded { fetching: false },
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
                                match state.offer(update, limits, ahead) {
                                    Ok(Offer::Applied) => {
                                        self.refused_at = None;
                                        return Poll::Ready(Some(Ok(())));
                                    }
                                    Ok(Offer::Duplicate) => continue 'drive,
                                    // Refused before it touched the state (too deep, or
                                    // read lazily and found not to be JSON): as a
                                    // message refused when read, it is reported and the
                                    // stream goes on; if it had a `seq`, the next update
                                    // shows the gap it left.
                                    Err(error @ (Error::TooDeep { .. } | Error::Malformed(_))) => {
                                        self.refused_at = state.version();
                                        return Poll::Ready(Some(Err(error)));
                                    }
                                    Err(error @ Error::Gap { .. }) => failed(Recovery::Gap, error),
                                    Err(error) => failed(Recovery::Resync, error),
                                }
                            }
                            Event::Snapshot(snapshot) => {
                                self.load(Load::parsed(snapshot));
                                continue 'drive;
                            }
                            Event::SnapshotText(text) => {
                                self.load(Load::text(text));
                                continue 'drive;
                            }
                            Event::Resync => Setback::Failed {
                                how: Recovery::Resync,
                                error: None,
                            },
                            Event::Heartbeat(Some(sent)) => {
                                let state = replica.as_ref().expect("a live resource has a state");
                                match state.version().filter(|version| *version < sent) {
                                    Some(version) => {
                                        failed(Recovery::Gap, Error::Behind { version, sent })
                                    }
                                    None => continue 'drive,
                                }
                            }
                            Event::Heartbeat(None) => continue 'drive,
                        }
                    }
                    Phase::Ending(_) => {
                        let Phase::Ending(why) = std::mem::replace(&mut self.phase, Phase::Done)
                        else {
                            unreachable!("in the Ending arm");
                        };
                        return Poll::Ready(Some(Err(why)));
                    }
                    Phase::Done => return Poll::Ready(None),
                }
            };
            if let Some(poll) = self.after(setback, replica) {
                return poll;
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
            async move { source.snapshot_paged().await }.boxed()
        });
        self.phase = Phase::Fetching {
            stream,
            fetch,
            backlog: Backlog::default(),
        };
    }

    /// A snapshot came on the live stream: read it, holding what follows.
    fn load(&mut self, load: Load) {
        let Phase::Live { stream, .. } = std::mem::replace(&mut self.phase, Phase::Done) else {
            unreachable!("a snapshot on the live stream");
        };
        self.phase = Phase::Loading {
            stream,
            load,
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
        self.policy.healthy();
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

    /// Swaps `fresh`, a new snapshot's state, in whole, so that no consumer
    /// sees a mix, unless it is older than the state.
    fn swap_in(&mut self, mut fresh: Replica, replica: &mut Option<Replica>) -> Result<(), Error> {
        not_older(&mut self.stale_in_a_row, fresh.version(), replica)?;
        if self.record {
            // The state the consumer last saw: the one an untaken whole
            // replacement started from, else the state being replaced.
            let previous = replica.take().and_then(|mut old| match old.take_changes() {
                Changes::Whole { previous } => previous,
                _ => Some(old.into_state()),
            });
            fresh.record(previous);
        }
        *replica = Some(fresh);
        self.refused_at = None;
        Ok(())
    }

    /// Does what the policy says follows `setback`: `Some` to return, `None`
    /// to drive on.
    fn after(
        &mut self,
        setback: Setback,
        replica: &Option<Replica>,
    ) -> Option<Poll<Option<Result<(), Error>>>> {
        let report = match self.policy.after(setback) {
            Next::ReadOn(error) => {
                if error.is_bad_message() {
                    self.refused_at = replica.as_ref().and_then(Replica::version);
                }
                Some(error)
            }
            // The fetch was polled, so its waker is set.
            Next::AwaitSnapshot => return Some(Poll::Pending),
            Next::Retry {
                report,
                how,
                attempt,
                delay,
            } => {
                self.retry(how, attempt, delay, replica);
                report
            }
            Next::End {
                report,
                status,
                last,
            } => {
                self.set_status(status);
                self.phase = last.map_or(Phase::Done, Phase::Ending);
                report
            }
        };
        report.map(|error| Poll::Ready(Some(Err(error))))
    }

    /// Moves to attempt `attempt`: wait `delay`, then resubscribe from the
    /// current version, or from nothing for a new snapshot.
    fn retry(&mut self, how: Recovery, attempt: u32, delay: Duration, replica: &Option<Replica>) {
        let current = replica.as_ref().and_then(Replica::version);
        // A handoff subscribes from no version, to take a new snapshot: cut
        // short (before or after its stream opened), it starts over the same
        // way, not from the old state the source has just refused.
        let in_handoff = matches!(
            self.phase,
            Phase::Fetching { .. }
                | Phase::Loading { .. }
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

/// A failure that needs recovering `how`.
fn failed(how: Recovery, error: Error) -> Setback {
    Setback::Failed {
        how,
        error: Some(error),
    }
}

fn open(
    source: &Arc<dyn Source>,
    since: Option<u64>,
) -> BoxFuture<'static, Result<EventStream, BoxError>> {
    let source = Arc::clone(source);
    async move { source.updates_paged(since).await }.boxed()
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
    version: Option<u64>,
    replica: &Option<Replica>,
) -> Result<(), Error> {
    let current = replica.as_ref().and_then(Replica::version);
    match (version, current) {
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
