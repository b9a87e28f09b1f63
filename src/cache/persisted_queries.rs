//! The documents registered by automatic persisted queries:
//! `apq:{sha256 hex}` holds the document's text. In Redis every instance
//! knows a document registered on any of them; in process, only this one.

use std::time::Duration;

use super::{Cache, CacheError};

/// How long a registered document is kept. A client that finds its hash
/// forgotten sends the document again, so this bounds memory, not
/// correctness.
pub const TTL: Duration = Duration::from_secs(24 * 3600);

fn key(sha256_hex: &str) -> String {
    format!("apq:{sha256_hex}")
}

#[derive(Clone)]
pub struct PersistedQueries {
    cache: Cache,
}

impl PersistedQueries {
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    /// The document registered under the hash (lowercase hex), if any.
    pub async fn get(&self, sha256_hex: &str) -> Result<Option<String>, CacheError> {
        self.cache.get(&key(sha256_hex)).await
    }

    /// Registers the document under its hash (lowercase hex) for [`TTL`].
    pub async fn put(&self, sha256_hex: &str, document: &str) -> Result<(), CacheError> {
        self.cache.set_ex(&key(sha256_hex), document, TTL).await
    }
}
