//! [`Publish`]: changing topics wherever they live, so that code written for
//! one process moves to several unchanged.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use super::{Batch, Collection, Hub};
use crate::{Error, Patch};

/// The change methods of a hub, wherever its topics live: an in-process
/// [`Hub`], or a `RedisHub` shared by many processes (feature `redis`).
///
/// Each method is the hub's own of the same name, asynchronous: a `Hub`
/// answers at once (its change methods are synchronous and cost what they
/// cost), a `RedisHub` once Redis has numbered the change. Code that
/// publishes through `impl Publish` runs on either: start in one process,
/// move to several by changing the line that makes the hub.
///
/// # Examples
///
/// ```
/// use live_resource::Hub;
/// use live_resource::hub::Publish;
/// use serde_json::json;
///
/// /// Publishes a job's progress, on any hub.
/// async fn progress(hub: &impl Publish, done: u32) -> live_resource::Result<u64> {
///     hub.merge("jobs/42", json!({"done": done})).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> live_resource::Result<()> {
/// let hub = Hub::new();
/// let first = Publish::set(&hub, "jobs/42", json!({"done": 0, "total": 100})).await?;
/// assert_eq!(progress(&hub, 40).await?, first + 1);
/// assert_eq!(hub.snapshot("jobs/42").unwrap().data["done"], 40);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Publish: Send + Sync {
    /// Creates `topic` with `value` or replaces its value, publishing the
    /// difference ([`Hub::set`]).
    async fn set<T>(&self, topic: &str, value: T) -> Result<u64, Error>
    where
        T: Serialize + Send + Sync;

    /// Applies an RFC 7396 merge patch ([`Hub::merge`]).
    async fn merge<T>(&self, topic: &str, patch: T) -> Result<u64, Error>
    where
        T: Serialize + Send + Sync;

    /// Applies any [`Patch`] ([`Hub::publish`]).
    async fn publish(&self, topic: &str, patch: Patch) -> Result<u64, Error>;

    /// Changes the topic's value with `change` and publishes the difference
    /// ([`Hub::update`]). Where other processes change the topic too,
    /// `change` may run more than once: keep it free of side effects.
    async fn update<F>(&self, topic: &str, change: F) -> Result<u64, Error>
    where
        F: FnMut(&mut Value) + Send;

    /// Changes the value at `pointer` with `change` and publishes the
    /// difference, copying only that part ([`Hub::update_at`]). As with
    /// [`Publish::update`], `change` may run more than once.
    async fn update_at<F>(&self, topic: &str, pointer: &str, change: F) -> Result<u64, Error>
    where
        F: FnMut(&mut Value) + Send;

    /// Removes the topic; whether it existed ([`Hub::remove`]).
    async fn remove(&self, topic: &str) -> Result<bool, Error>;

    /// Makes the row changes of `batch` to the table on `topic` as one
    /// update, copying and comparing only the rows they touch; makes the
    /// topic, as `{}`, when there is none. What every [`Collection`]
    /// method does ([`Collection::write`]). As with [`Publish::update`],
    /// the changes may be made more than once against newer states.
    async fn write_rows(&self, topic: &str, batch: &Batch) -> Result<u64, Error>;

    /// The table on `topic`, written row by row ([`Hub::collection`]).
    fn collection(&self, topic: &str) -> Collection<'_, Self>
    where
        Self: Sized,
    {
        Collection::new(self, topic)
    }
}

#[async_trait]
impl Publish for Hub {
    async fn set<T>(&self, topic: &str, value: T) -> Result<u64, Error>
    where
        T: Serialize + Send + Sync,
    {
        Hub::set(self, topic, value)
    }

    async fn merge<T>(&self, topic: &str, patch: T) -> Result<u64, Error>
    where
        T: Serialize + Send + Sync,
    {
        Hub::merge(self, topic, patch)
    }

    async fn publish(&self, topic: &str, patch: Patch) -> Result<u64, Error> {
        Hub::publish(self, topic, patch)
    }

    async fn update<F>(&self, topic: &str, change: F) -> Result<u64, Error>
    where
        F: FnMut(&mut Value) + Send,
    {
        Hub::update(self, topic, change)
    }

    async fn update_at<F>(&self, topic: &str, pointer: &str, change: F) -> Result<u64, Error>
    where
        F: FnMut(&mut Value) + Send,
    {
        Hub::update_at(self, topic, pointer, change)
    }

    async fn remove(&self, topic: &str) -> Result<bool, Error> {
        if self.is_replica() {
            return Err(Error::ReadOnly {
                topic: topic.to_owned(),
            });
        }
        Ok(Hub::remove(self, topic))
    }

    async fn write_rows(&self, topic: &str, batch: &Batch) -> Result<u64, Error> {
        Hub::write_rows(self, topic, batch)
    }
}
