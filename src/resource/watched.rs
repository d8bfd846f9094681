//! An update stream with an idle timeout: a half-open connection that
//! delivers nothing, not even heartbeats, is taken for dead.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::Error;
use crate::source::{Event, EventStream};

pub(super) struct Watched {
    stream: EventStream,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    ended: bool,
}

impl Watched {
    pub(super) fn new(stream: EventStream, idle_timeout: Option<Duration>) -> Self {
        Self {
            stream,
            idle: idle_timeout.map(|timeout| (timeout, Box::pin(tokio::time::sleep(timeout)))),
            ended: false,
        }
    }

    /// The next event, an [`Error::Updates`] from the stream, an
    /// [`Error::IdleTimeout`], or `None` once the stream has ended (and after).
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.stream.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                if let Some((timeout, sleep)) = &mut self.idle {
                    sleep.as_mut().reset(Instant::now() + *timeout);
                }
                Poll::Ready(Some(item.map_err(Error::Updates)))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some((timeout, sleep)) = &mut self.idle else {
                    return Poll::Pending;
                };
                if sleep.poll_unpin(cx).is_pending() {
                    return Poll::Pending;
                }
                let after = *timeout;
                sleep.as_mut().reset(Instant::now() + after);
                Poll::Ready(Some(Err(Error::IdleTimeout { after })))
            }
        }
    }
}
