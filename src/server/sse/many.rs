//! `GET /live/sse?topic=..&topic=..`: many topics over one Server-Sent Events
//! stream, in the WebSocket protocol's messages.
//!
//! Browsers open at most six HTTP/1.1 connections to a host, so a page that
//! cannot use WebSockets follows all its topics on this one stream. Each
//! topic goes through the subscribe rule as a WebSocket subscription does;
//! each event's `data` is one message of the protocol, with its topic.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use tokio_stream::StreamMap;

use super::super::stats::{Counter, Gauge, Guard};
use super::super::subscribe::{self, Followed, Refused};
use super::super::{AppState, error};
use super::{heartbeat_timer, sse_response};
use crate::hub::Delivery;
use crate::metrics::{self, Transport};
use crate::protocol::ErrorCode;
use crate::protocol::reply::{self, Reply};

/// The longest query the route reads, in bytes: longer is a 414.
pub(crate) const MAX_QUERY_BYTES: usize = 8 * 1024;

/// The most topics one stream follows (fewer if the server's
/// [`Config::max_topics_per_connection`](super::super::Config::max_topics_per_connection)
/// says so): each event's `id` carries a version for every one of them.
pub(crate) const MAX_TOPICS: usize = 64;

pub(in crate::server) async fn stream(State(state): State<AppState>, request: Parts) -> Response {
    let asked = match asked(&state, &request) {
        Ok(asked) => asked,
        Err((status, message)) => {
            metrics::refused(Transport::Sse, ErrorCode::BadMessage);
            return error(status, message);
        }
    };
    let span = super::super::peer::span("sse", &request);
    span.in_scope(|| tracing::info!(topics = asked.len(), "sse connected"));
    // A copy that owns its text: hyper's would keep its read buffer.
    let request = super::super::authorize::detach(&request);
    let mut stream = Topics {
        versions: vec![None; asked.len()],
        topics: Vec::with_capacity(asked.len()),
        streams: StreamMap::with_capacity(asked.len()),
        queue: VecDeque::new(),
        heartbeat: heartbeat_timer(&state),
        recheck: state.config.recheck_timer(),
        _client: state.stats.open(Gauge::Clients, Transport::Sse),
        span,
        request,
        state,
    };
    for (index, (topic, since)) in asked.into_iter().enumerate() {
        stream.topics.push(topic);
        stream.subscribe(index, since).await;
    }
    let events = futures::stream::unfold(stream, |mut stream| async move {
        let event = stream.next_event().await?;
        Some((Ok::<_, Infallible>(event), stream))
    });
    sse_response(events).into_response()
}

/// A topic asked for, with the version to resume from.
type Asked = (String, Option<u64>);

/// The topics the request asks for, in its order, each with the version to
/// resume from (none: the snapshot first).
///
/// The query is `application/x-www-form-urlencoded` (as `URLSearchParams`
/// writes it): `topic=<name>` once per topic, and `since=<name>:<version>`
/// for those to resume (the version follows the name's last `:`, so a name
/// may contain `:` too). A `Last-Event-ID` (the `id` of the last event this
/// stream sent: a version for each topic, in the query's order, separated
/// by `,`, empty for none) wins over `since`. Other parameters are left to
/// the application (a token, say).
fn asked(state: &AppState, request: &Parts) -> Result<Vec<Asked>, (StatusCode, String)> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    let query = request.uri.query().unwrap_or_default();
    if query.len() > MAX_QUERY_BYTES {
        return Err((
            StatusCode::URI_TOO_LONG,
            format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&request.uri)
        .map_err(|refused| bad(format!("the query cannot be read: {refused}")))?;
    let mut asked: Vec<Asked> = Vec::new();
    let mut resumes = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "topic" if !asked.iter().any(|(topic, _)| *topic == value) => asked.push((value, None)),
            "since" => {
                let resume = value
                    .rsplit_once(':')
                    .and_then(|(topic, version)| {
                        Some((topic.to_owned(), version.parse::<u64>().ok()?))
                    })
                    .ok_or_else(|| bad(format!("since `{value}` is not `<topic>:<version>`")))?;
                resumes.push(resume);
            }
            _ => {}
        }
    }
    if asked.is_empty() {
        return Err(bad("no topic: name each with `topic=`".to_owned()));
    }
    let limit = MAX_TOPICS.min(state.config.topics_per_connection());
    if asked.len() > limit {
        return Err(bad(format!("a stream may follow at most {limit} topics")));
    }
    for (topic, version) in resumes {
        let Some((_, since)) = asked.iter_mut().find(|(asked, _)| *asked == topic) else {
            return Err(bad(format!(
                "since names `{topic}`, which no `topic=` names"
            )));
        };
        *since = Some(version);
    }
    if let Some(id) = request.headers.get("last-event-id") {
        let id = id.to_str().unwrap_or_default().trim();
        let versions = read_id(id, asked.len()).ok_or_else(|| {
            bad(format!(
                "Last-Event-ID `{id}` is not {} versions separated by `,`",
                asked.len()
            ))
        })?;
        for ((_, since), version) in asked.iter_mut().zip(versions) {
            *since = version;
        }
    }
    Ok(asked)
}

/// The versions an event `id` lists, if it lists `count`.
fn read_id(id: &str, count: usize) -> Option<Vec<Option<u64>>> {
    let versions = id
        .split(',')
        .map(|version| match version {
            "" => Some(None),
            version => version.parse().ok().map(Some),
        })
        .collect::<Option<Vec<_>>>()?;
    (versions.len() == count).then_some(versions)
}

/// An event `id`: the version the client holds of each topic, in the
/// query's order, `,` between them.
fn write_id(versions: &[Option<u64>]) -> String {
    let mut id = String::with_capacity(versions.len() * 8);
    for (index, version) in versions.iter().enumerate() {
        if index > 0 {
            id.push(',');
        }
        if let Some(version) = version {
            id.push_str(&version.to_string());
        }
    }
    id
}

struct Topics {
    /// The connection's span: its events are logged in it.
    span: tracing::Span,
    /// The request that opened the stream, for the hook.
    request: Parts,
    /// The topics, in the query's order; the streams are keyed by index.
    topics: Vec<String>,
    /// The version the client holds of each topic, for the events' `id`:
    /// none before its snapshot, and after a refusal or a resync.
    versions: Vec<Option<u64>>,
    streams: StreamMap<usize, Followed>,
    /// Events made and not yet sent.
    queue: VecDeque<Event>,
    heartbeat: tokio::time::Interval,
    recheck: super::super::config::Recheck,
    state: AppState,
    _client: Guard,
}

impl Topics {
    /// Subscribes topic `index` by the subscribe rule, and queues what
    /// answers it: a snapshot, a heartbeat for a quiet resume, or an error.
    async fn subscribe(&mut self, index: usize, since: Option<u64>) {
        let topic = &self.topics[index];
        let granted = subscribe::subscribe(
            &self.state.config,
            &self.state.hub,
            &self.request,
            topic,
            since,
            self.streams.len(),
        )
        .await;
        let granted = match granted {
            Ok(granted) => granted,
            Err(refused) => return self.refuse(index, refused),
        };
        let quiet = granted.is_quiet_resume();
        match granted.snapshot {
            Some(snapshot) => {
                self.versions[index] = snapshot.version;
                let text = reply::snapshot_parts(topic, snapshot).concat();
                self.queue.push_back(self.message(Bytes::from(text), true));
            }
            None => {
                self.versions[index] = since;
                if quiet {
                    let beat = Reply::Heartbeat { topic, seq: since };
                    self.queue
                        .push_back(self.message(beat.to_text().into(), false));
                }
            }
        }
        let counted = self.state.stats.open(Gauge::Subscriptions, Transport::Sse);
        // The versions are kept here, for the `id`, not in each `Followed`.
        let followed = Followed::new(granted.subscription, None, counted);
        self.streams.insert(index, followed);
    }

    /// Ends topic `index` on this stream with an `error` message.
    fn refuse(&mut self, index: usize, Refused { code, message }: Refused) {
        self.streams.remove(&index);
        self.versions[index] = None;
        self.state
            .stats
            .count(Counter::Refused(code), Transport::Sse);
        let reply = Reply::Error {
            topic: Some(&self.topics[index]),
            code,
            message,
        };
        let text = reply.to_text();
        self.queue.push_back(self.message(text.into(), false));
    }

    /// An event carrying `message`; with the versions' `id` when `versioned`
    /// (a snapshot or an update moved one on).
    fn message(&self, message: Bytes, versioned: bool) -> Event {
        let data = std::str::from_utf8(&message).expect("serde_json writes UTF-8");
        metrics::sent(Transport::Sse, data.len());
        let event = Event::default().data(data);
        if versioned {
            event.id(write_id(&self.versions))
        } else {
            event
        }
    }

    /// The next event to send; never `None`: the stream lasts until the
    /// client goes, even with every topic refused (the client decides).
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            tokio::select! {
                Some((index, delivery)) = self.streams.next(), if !self.streams.is_empty() => {
                    self.deliver(index, delivery);
                }
                _ = self.heartbeat.tick() => {
                    if self.streams.is_empty() {
                        // Nothing to follow: a comment keeps proxies from
                        // taking the stream for idle.
                        return Some(Event::default().comment("idle"));
                    }
                    for index in self.streams.keys() {
                        let beat = Reply::Heartbeat { topic: &self.topics[*index], seq: self.versions[*index] };
                        self.queue.push_back(self.message(beat.to_text().into(), false));
                    }
                }
                () = self.recheck.tick() => self.recheck_access().await,
            }
        }
    }

    /// A hub delivery for topic `index`, queued as its message.
    fn deliver(&mut self, index: usize, delivery: Option<Delivery>) {
        match delivery {
            Some(Delivery::Update(frame)) => {
                self.versions[index] = Some(frame.seq());
                self.state.stats.count(Counter::UpdatesSent, Transport::Sse);
                let event = self.message(frame.envelope().clone(), true);
                self.queue.push_back(event);
            }
            Some(Delivery::Resync) => {
                // Over SSE the client cannot ask again on this stream: the
                // topic leaves it, and the client opens the stream again
                // without a version for it (the `id` says so).
                self.streams.remove(&index);
                self.versions[index] = None;
                self.state.stats.count(Counter::Resyncs, Transport::Sse);
                let reply = Reply::Resync {
                    topic: &self.topics[index],
                };
                self.queue
                    .push_back(self.message(reply.to_text().into(), true));
            }
            None => {
                let removed = subscribe::removed(&self.topics[index]);
                self.refuse(index, removed);
            }
        }
    }

    /// Asks the hook again for every topic followed: those that lost
    /// access end, each with a `forbidden` error.
    async fn recheck_access(&mut self) {
        let followed: Vec<usize> = self.streams.keys().copied().collect();
        for index in followed {
            let authorizer = self.state.config.authorizer();
            if let Err(denied) = authorizer
                .authorize(&self.request, &self.topics[index])
                .await
            {
                let topic = &self.topics[index];
                self.span
                    .in_scope(|| tracing::info!(topic, reason = %denied, "access revoked"));
                let refused = Refused {
                    code: ErrorCode::Forbidden,
                    message: denied.to_string(),
                };
                self.refuse(index, refused);
            }
        }
    }
}

impl Drop for Topics {
    fn drop(&mut self) {
        self.span.in_scope(|| tracing::info!("sse disconnected"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_lists_every_topics_version_and_reads_back() {
        let versions = [Some(17), None, Some(4)];
        let id = write_id(&versions);
        assert_eq!(id, "17,,4");
        assert_eq!(read_id(&id, 3), Some(versions.to_vec()));
        assert_eq!(read_id(&id, 2), None, "one version per topic");
        assert_eq!(read_id("17,x,4", 3), None);
        assert_eq!(read_id("", 1), Some(vec![None]));
    }
}
