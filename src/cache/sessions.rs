//! Sessions: `session:{user_id}:{session_id}` with the seed's TTL. A token
//! is honoured only while its session key exists, so logout (deleting the
//! key) revokes the token at once on every instance. Authentication reads
//! the key together with the user's standing (`auth::Standings::session`).

use std::time::Duration;

use uuid::Uuid;

use super::{Cache, CacheError};

pub(crate) fn key(user_id: Uuid, session_id: Uuid) -> String {
    format!("session:{user_id}:{session_id}")
}

pub async fn open(
    cache: &Cache,
    user_id: Uuid,
    session_id: Uuid,
    ttl: Duration,
) -> Result<(), CacheError> {
    let value = serde_json::json!({
        "user_id": user_id,
        "opened_at": chrono::Utc::now().to_rfc3339(),
    });
    cache
        .set_ex(&key(user_id, session_id), &value.to_string(), ttl)
        .await
}

pub async fn close(cache: &Cache, user_id: Uuid, session_id: Uuid) -> Result<bool, CacheError> {
    cache.del(&key(user_id, session_id)).await
}
