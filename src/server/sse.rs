//! `GET /live/{topic}/events`: a topic's updates as Server-Sent Events; and
//! `GET /live/sse`, many topics on one stream ([`many`]).

mod many;

pub(super) use many::stream as many_topics;

use std::convert::Infallible;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};

use super::stats::{Counter, Gauge, Guard};
use super::{AppState, check_access, error};
use crate::hub::{Delivery, Subscription};
use crate::metrics::{self, Kind, Transport};
use crate::protocol::ErrorCode;

pub(super) async fn events(
    State(state): State<AppState>,
    topic: String,
    request: Parts,
) -> Response {
    if let Err(response) = check_access(&state, &request, &topic, Transport::Sse).await {
        return response;
    }
    let since = match resume_point(&request) {
        Ok(since) => since,
        Err(message) => {
            metrics::refused(Transport::Sse, ErrorCode::BadMessage);
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    let subscription = match state.hub.subscribe(&topic, since) {
        Ok(subscription) => subscription,
        Err(refused) => {
            metrics::refused(Transport::Sse, ErrorCode::UnknownTopic);
            return error(StatusCode::NOT_FOUND, refused.to_string());
        }
    };
    let span = super::peer::span("sse", &request);
    span.in_scope(|| tracing::info!(topic, ?since, "sse connected"));
    let stream = Stream {
        span,
        topic: topic.clone(),
        // A copy that owns its text: hyper's would keep its read buffer.
        request: super::authorize::detach(&request),
        recheck: state.config.recheck_timer(),
        answer_now: since.is_some() && !subscription.answers_at_once(),
        subscription,
        heartbeat: heartbeat_timer(&state),
        last_sent: since,
        state: state.clone(),
        _client: state.stats.open(Gauge::Clients, Transport::Sse),
        _subscribed: metrics::open(Kind::Subscription, Transport::Sse),
    };
    let events = futures::stream::unfold(stream, |mut stream| async move {
        let event = stream.next_event().await?;
        Some((Ok::<_, Infallible>(event), stream))
    });
    sse_response(events)
}

/// The response that streams `events`.
fn sse_response<S>(events: S) -> Response
where
    S: futures::Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut response = Sse::new(events).into_response();
    // Proxies must pass events on as they come, not buffer them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Where to resume: `Last-Event-ID` wins over `?since=`.
fn resume_point(request: &Parts) -> Result<Option<u64>, String> {
    if let Some(id) = request.headers.get("last-event-id") {
        let id = id.to_str().unwrap_or_default().trim();
        return id
            .parse()
            .map(Some)
            .map_err(|_| format!("Last-Event-ID `{id}` is not a sequence number"));
    }
    let Some(query) = request.uri.query() else {
        return Ok(None);
    };
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("since=") {
            return value
                .parse()
                .map(Some)
                .map_err(|_| format!("since `{value}` is not a sequence number"));
        }
    }
    Ok(None)
}

pub(super) fn heartbeat_timer(state: &AppState) -> tokio::time::Interval {
    let period = state.config.heartbeat_period();
    let mut timer = tokio::time::interval_at(Instant::now() + period, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

struct Stream {
    /// The connection's span: its events are logged in it.
    span: tracing::Span,
    topic: String,
    /// The request that opened the stream, for the hook's rechecks.
    request: Parts,
    recheck: super::config::Recheck,
    /// A resume with nothing to replay: a heartbeat goes first, so that the
    /// client knows at once that it is current.
    answer_now: bool,
    subscription: Subscription,
    heartbeat: tokio::time::Interval,
    /// The `seq` of the last update sent on this stream, for heartbeats.
    last_sent: Option<u64>,
    state: AppState,
    _client: Guard,
    _subscribed: metrics::Open,
}

impl Stream {
    /// The next event to send; `None` when the topic is gone.
    async fn next_event(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.answer_now) {
            return Some(self.heartbeat());
        }
        tokio::select! {
            delivery = self.subscription.next() => match delivery? {
                Delivery::Update(frame) => {
                    self.last_sent = Some(frame.seq());
                    self.state.stats.count(Counter::UpdatesSent, Transport::Sse);
                    let data = std::str::from_utf8(frame.bytes()).expect("serde_json writes UTF-8");
                    metrics::sent(Transport::Sse, data.len());
                    Some(Event::default().event("update").id(frame.seq().to_string()).data(data))
                }
                Delivery::Resync => {
                    self.state.stats.count(Counter::Resyncs, Transport::Sse);
                    metrics::sent(Transport::Sse, "{}".len());
                    Some(Event::default().event("resync").data("{}"))
                }
            },
            _ = self.heartbeat.tick() => Some(self.heartbeat()),
            () = self.recheck.tick() => {
                let authorizer = self.state.config.authorizer();
                match authorizer.authorize(&self.request, &self.topic).await {
                    Ok(()) => Some(self.heartbeat()),
                    Err(denied) => {
                        // The stream ends; its reconnect is refused with 403.
                        self.span.in_scope(|| {
                            tracing::info!(topic = self.topic, reason = %denied, "access revoked");
                        });
                        None
                    }
                }
            }
        }
    }

    /// A heartbeat: the `seq` of the last update sent.
    fn heartbeat(&self) -> Event {
        let seq = self
            .last_sent
            .map_or_else(|| "null".to_owned(), |seq| seq.to_string());
        let data = format!(r#"{{"seq":{seq}}}"#);
        metrics::sent(Transport::Sse, data.len());
        Event::default().event("heartbeat").data(data)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // However the stream ended: the topic gone, access revoked, or the
        // client went away (the body is dropped then).
        self.span
            .in_scope(|| tracing::info!(topic = self.topic, "sse disconnected"));
    }
}
