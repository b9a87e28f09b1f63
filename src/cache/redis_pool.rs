//! The Redis connection pool's manager. bb8-redis's own manager PINGs a
//! connection on every checkout, which doubles the round trips of every
//! command (session check, rate limit, change notices). This one PINGs
//! only a connection that sat idle for a while, as the database pool does,
//! or any connection once one of them has failed at the connection level
//! (a dead socket, Redis restarted): the failed one is retired, and every
//! other is checked before its next use, so a restart costs the commands
//! in flight when it happened, never a stream of failures after it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bb8_redis::bb8::ManageConnection;
use redis::{
    Client, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value,
    aio::{ConnectionLike, MultiplexedConnection},
};

/// A connection back in the pool for less than this is not PINGed again.
const IDLE_CHECK: Duration = Duration::from_secs(10);

pub struct Manager {
    client: Client,
    /// Bumped by every connection-level failure; a connection last checked
    /// in an earlier generation is checked again before use.
    failures: Arc<AtomicU64>,
}

impl Manager {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            failures: Arc::default(),
        }
    }
}

/// A pooled connection that remembers whether it is still usable.
pub struct Conn {
    inner: MultiplexedConnection,
    returned_at: Instant,
    checked_in: u64,
    failures: Arc<AtomicU64>,
    broken: bool,
}

impl Conn {
    fn note<T>(&mut self, result: &RedisResult<T>) {
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
            inner: self.client.get_multiplexed_async_connection().await?,
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
