//! Read-your-writes marks (see `db::reads`) kept in Redis, so that every
//! instance knows when a user last wrote: `wrote:{user}` holds the time
//! (ms since the epoch) after that user's last commit, for as long as it
//! can decide where a read goes.

use std::time::Duration;

use uuid::Uuid;

use super::Cache;
use crate::db::reads::SharedMarks;

pub struct ReadMarks(Cache);

impl ReadMarks {
    /// Marks in `cache` when every instance shares it (Redis); `None` for
    /// the in-process cache, where the process's own marks are all there is.
    pub fn new(cache: &Cache) -> Option<Self> {
        cache.is_shared().then(|| Self(cache.clone()))
    }
}

fn key(user: Uuid) -> String {
    format!("wrote:{user}")
}

#[async_trait::async_trait]
impl SharedMarks for ReadMarks {
    async fn set(&self, user: Uuid, at_ms: u64, ttl: Duration) -> Result<(), String> {
        self.0
            .set_ex(&key(user), &at_ms.to_string(), ttl)
            .await
            .map_err(|e| e.to_string())
    }

    async fn get(&self, user: Uuid) -> Result<Option<u64>, String> {
        let value = self.0.get(&key(user)).await.map_err(|e| e.to_string())?;
        Ok(value.and_then(|v| v.parse().ok()))
    }
}
