//! The Redis connection pool's manager. bb8-redis's own manager PINGs a
//! connection on every checkout, which doubles the round trips of every
//! command (session check, rate limit, change notices). This one PINGs
//! only a connection that sat idle for a while, as the database pool does,
//! or any connection once one of them has failed at the connection level
//! (a dead socket, Redis restarted): the failed one is retired, and every
//! other is checked before its next use, so a restart costs the commands
//! in flight when it happened, never a stream of failures after it.
//!
//! On a cluster the pool hands out handles on one cluster connection (one
//! multiplexed connection per node, commands routed by hash slot, which
//! follows the cluster as it changes): making one costs several round
//! trips (every node, the slot map), so it is made once, and again only
//! after a connection-level failure. The stores above see one kind of
//! connection either way.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bb8_redis::bb8::ManageConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value, aio::ConnectionLike};

use super::redis_client::{Link, RedisClient};

/// A connection back in the pool for less than this is not PINGed again.
const IDLE_CHECK: Duration = Duration::from_secs(10);

pub struct Manager {
    client: RedisClient,
    /// Bumped by every connection-level failure; a connection last checked
    /// in an earlier generation is checked again before use.
    failures: Arc<AtomicU64>,
    /// The cluster connection handed out, with the failure count when it
    /// was made (a cluster only).
    shared: tokio::sync::Mutex<Option<(u64, Link)>>,
}

impl Manager {
    pub fn new(client: RedisClient) -> Self {
        Self {
            client,
            failures: Arc::default(),
            shared: tokio::sync::Mutex::default(),
        }
    }

    async fn link(&self) -> Result<Link, RedisError> {
        if !self.client.is_cluster() {
            return self.client.connect().await;
        }
        let failures = self.failures.load(Ordering::Relaxed);
        let mut shared = self.shared.lock().await;
        if let Some((made_in, link)) = &*shared
            && *made_in == failures
        {
            return Ok(link.clone());
        }
        let link = self.client.connect().await?;
        *shared = Some((failures, link.clone()));
        Ok(link)
    }
}

/// A pooled connection that remembers whether it is still usable.
pub struct Conn {
    inner: Link,
    returned_at: Instant,
    checked_in: u64,
    failures: Arc<AtomicU64>,
    broken: bool,
}

impl Conn {
    /// Another handle on the same connection, for commands sent at once
    /// (both kinds multiplex); what fails on it is noted with
    /// [`Conn::note`].
    pub fn link(&self) -> Link {
        self.inner.clone()
    }

    pub fn note<T>(&mut self, result: &RedisResult<T>) {
        if let Err(e) = result
            && e.is_unrecoverable_error()
        {
            self.broken = true;
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner.req_packed_command(cmd).await;
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.inner.req_packed_commands(cmd, offset, count).await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = RedisError;

    async fn connect(&self) -> Result<Conn, RedisError> {
        Ok(Conn {
            inner: self.link().await?,
            returned_at: Instant::now(),
            checked_in: self.failures.load(Ordering::Relaxed),
            failures: self.failures.clone(),
            broken: false,
        })
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), RedisError> {
        let failures = self.failures.load(Ordering::Relaxed);
        if conn.returned_at.elapsed() < IDLE_CHECK && conn.checked_in == failures {
            return Ok(());
        }
        let _: String = redis::cmd("PING").query_async(&mut conn.inner).await?;
        conn.checked_in = failures;
        Ok(())
    }

    /// Called as a connection goes back to the pool.
    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.returned_at = Instant::now();
        conn.broken
    }
}
