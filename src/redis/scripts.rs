//! The Lua scripts that change or read a topic in Redis, each one atomic, and
//! what their replies mean. Every rule about a topic's keys is written in
//! these scripts (`lua/`), once.

use std::sync::LazyLock;

use bytes::Bytes;
use redis::{RedisResult, Script};

use super::connection::Connection;
use super::keys::Keys;
use super::settings::Settings;

static PUBLISH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/publish.lua")));
static START: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/start.lua")));
static LOAD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/load.lua")));
static CATCH_UP: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/catch_up.lua")));
static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/snapshot.lua")));
static REMOVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/remove.lua")));

/// What became of a change sent to Redis.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Published {
    /// Numbered `version`; `text` is the update as the script numbered it,
    /// which every node delivers.
    /// `snapshot_due`: the log since the snapshot outgrew it.
    Done {
        version: u64,
        text: Bytes,
        snapshot_due: bool,
    },
    /// The topic is at `version`, not at the one the change was made for.
    Stale { version: u64 },
    /// There is no such topic.
    Unknown,
}

/// A topic as loaded: the snapshot, and the updates after it.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) snapshot_version: u64,
    /// The version the topic's history started at (0 if unknown).
    pub(super) first_version: u64,
    pub(super) snapshot: Bytes,
    pub(super) updates: Vec<Bytes>,
}

/// The updates after a version, as `catch_up.lua` answers.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CaughtUp {
    /// Redis has no such topic and no marker of its removal: it lost it.
    Lost,
    /// The topic was removed.
    Removed,
    /// The topic is at `version`; `updates` are the next ones, in order
    /// (empty when the log no longer has the next one, or the topic's
    /// version went back: load it again).
    At { version: u64, updates: Vec<Bytes> },
}

/// Sends the update `body` (its text without `seq`) as the topic's next
/// change; `expected`: only if the topic is at that version.
pub(super) async fn publish(
    redis: &mut Connection,
    settings: &Settings,
    keys: &Keys,
    expected: Option<u64>,
    body: &[u8],
) -> RedisResult<Published> {
    let reply: Vec<Vec<u8>> = invocation(&PUBLISH, keys)
        .arg(settings.announce_command())
        .arg(&keys.channel)
        .arg(expected.map(|v| v.to_string()).unwrap_or_default())
        .arg(body)
        .arg(settings.retain)
        .arg(settings.snapshot_floor)
        .arg(settings.expiry_millis())
        .invoke_async(redis)
        .await?;
    match <[Vec<u8>; 4]>::try_from(reply) {
        Ok([ok, version, due, text]) if ok == b"ok" => Ok(Published::Done {
            version: number(version)?,
            text: text.into(),
            snapshot_due: due == b"1",
        }),
        Ok(_) => Err(unexpected("publish")),
        Err(reply) => match reply.as_slice() {
            [stale, version] if stale == b"stale" => Ok(Published::Stale {
                version: number(version)?,
            }),
            [unknown] if unknown == b"unknown" => Ok(Published::Unknown),
            _ => Err(unexpected("publish")),
        },
    }
}

/// Starts a topic's history with `state` (its JSON text), at a version of
/// at least `floor`: a new topic when `at` is `None`, else a history again
/// from the topic's state at version `at`. `Ok(Ok(version))` when started,
/// `Ok(Err(version))` when the topic exists (or is not at `at`).
pub(super) async fn start(
    redis: &mut Connection,
    settings: &Settings,
    keys: &Keys,
    state: &[u8],
    floor: u64,
    at: Option<u64>,
) -> RedisResult<Result<u64, u64>> {
    let reply: Vec<String> = invocation(&START, keys)
        .arg(settings.announce_command())
        .arg(&keys.channel)
        .arg(state)
        .arg(floor)
        .arg(settings.expiry_millis())
        .arg(at.map(|v| v.to_string()).unwrap_or_default())
        .invoke_async(redis)
        .await?;
    match reply.as_slice() {
        [ok, version] if ok == "ok" => Ok(Ok(number(version)?)),
        [exists, version] if exists == "exists" => Ok(Err(number(version)?)),
        _ => Err(unexpected("start")),
    }
}

/// The topic's snapshot and the updates after it, or `None`.
pub(super) async fn load(redis: &mut Connection, keys: &Keys) -> RedisResult<Option<Loaded>> {
    let reply: Vec<Vec<u8>> = invocation(&LOAD, keys).invoke_async(redis).await?;
    let mut reply = reply.into_iter();
    let (Some(_version), Some(snapshot_version), Some(first), Some(snapshot)) =
        (reply.next(), reply.next(), reply.next(), reply.next())
    else {
        return Ok(None);
    };
    Ok(Some(Loaded {
        snapshot_version: number(&snapshot_version)?,
        first_version: number(&first)?,
        snapshot: snapshot.into(),
        updates: reply.map(Bytes::from).collect(),
    }))
}

/// Up to `count` updates after `version`.
pub(super) async fn catch_up(
    redis: &mut Connection,
    keys: &Keys,
    version: u64,
    count: usize,
) -> RedisResult<CaughtUp> {
    let reply: Vec<Vec<u8>> = invocation(&CATCH_UP, keys)
        .arg(version)
        .arg(count)
        .invoke_async(redis)
        .await?;
    let mut reply = reply.into_iter();
    Ok(match reply.next() {
        None => CaughtUp::Lost,
        Some(first) if first == b"x" => CaughtUp::Removed,
        Some(first) => CaughtUp::At {
            version: number(&first)?,
            updates: reply.map(Bytes::from).collect(),
        },
    })
}

/// Stores `state` at `version`, made by the update `update`, as the topic's
/// snapshot. `Ok(false)` when the topic's history is not the one the state
/// belongs to.
pub(super) async fn store_snapshot(
    redis: &mut Connection,
    settings: &Settings,
    keys: &Keys,
    version: u64,
    update: &[u8],
    state: &[u8],
) -> RedisResult<bool> {
    let stored: i64 = invocation(&SNAPSHOT, keys)
        .arg(version)
        .arg(update)
        .arg(state)
        .arg(settings.retain)
        .arg(settings.expiry_millis())
        .invoke_async(redis)
        .await?;
    Ok(stored >= 0)
}

/// Removes the topic; whether it existed.
pub(super) async fn remove(
    redis: &mut Connection,
    settings: &Settings,
    keys: &Keys,
) -> RedisResult<bool> {
    let existed: i64 = invocation(&REMOVE, keys)
        .arg(settings.announce_command())
        .arg(&keys.channel)
        .invoke_async(redis)
        .await?;
    Ok(existed == 1)
}

fn invocation<'a>(script: &'a Script, keys: &Keys) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.key(&keys.meta);
    invocation.key(&keys.log).key(&keys.snapshot);
    invocation
}

fn number(text: impl AsRef<[u8]>) -> RedisResult<u64> {
    std::str::from_utf8(text.as_ref())
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| unexpected("a version"))
}

fn unexpected(what: &'static str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply from live-resource's script",
        what.to_owned(),
    ))
}
