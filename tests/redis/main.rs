//! Integration tests of the Redis backplane against real `redis-server`s,
//! each test with its own on a free port: several nodes (a `RedisHub` each,
//! with connections of its own) in this process, and in processes of their
//! own.

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "redis")]
mod redis_server;

#[cfg(feature = "redis")]
mod nodes;

#[cfg(all(
    feature = "redis",
    feature = "server",
    feature = "socketio",
    feature = "ws",
    feature = "sse",
    feature = "socketio-client"
))]
mod processes;

#[cfg(all(feature = "redis", feature = "server", feature = "ws"))]
mod clients;
