//! The session cache: `session:{<user_id>}:<session_id>`, in front of the
//! `sessions` table (the truth). An entry says the session is open (with
//! when it expires and when it was cached) or that it was revoked. The
//! user id is the key's hash tag, so a session and its user's standing
//! (`standing:{<user_id>}`) sit in one hash slot and are read in one MGET,
//! on one node of a cluster too.
//!
//! A revocation writes its marker over the entry rather than deleting it,
//! and a fill never replaces a marker (one script): a request that read
//! the session as open just before a logout cannot cache it as open after.

use std::time::Duration;

use uuid::Uuid;

use super::{Cache, CacheError, Store};

pub(crate) fn key(user_id: Uuid, session_id: Uuid) -> String {
    format!("session:{{{user_id}}}:{session_id}")
}

const REVOKED: &str = "revoked";

/// What the cache says of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Open until `expires_ms`, as read at `cached_ms` (Unix milliseconds).
    Open {
        expires_ms: u64,
        cached_ms: u64,
    },
    Revoked,
}

impl Entry {
    pub fn encode(&self) -> String {
        match self {
            Self::Open {
                expires_ms,
                cached_ms,
            } => format!("open;{expires_ms};{cached_ms}"),
            Self::Revoked => REVOKED.to_owned(),
        }
    }

    /// `None` for anything [`Entry::encode`] did not write: a miss.
    pub fn decode(text: &str) -> Option<Self> {
        if text == REVOKED {
            return Some(Self::Revoked);
        }
        let mut parts = text.strip_prefix("open;")?.split(';');
        let expires_ms = parts.next()?.parse().ok()?;
        let cached_ms = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self::Open {
            expires_ms,
            cached_ms,
        })
    }
}

/// Caches an open session unless a revocation's marker is there.
const FILL_UNLESS_REVOKED: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

fn fill_script() -> &'static redis::Script {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(FILL_UNLESS_REVOKED))
}

/// Caches the session as open for `ttl`, unless it was revoked meanwhile.
pub async fn fill(
    cache: &Cache,
    user_id: Uuid,
    session_id: Uuid,
    entry: Entry,
    ttl: Duration,
) -> Result<(), CacheError> {
    let key = cache.key(&key(user_id, session_id));
    let value = entry.encode();
    let ttl_ms = ttl.as_millis().max(1) as u64;
    match cache.store() {
        Store::Memory(m) => {
            m.set_ex_unless(key, value, ttl, |current| current == REVOKED);
            Ok(())
        }
        Store::Redis(r) => {
            r.call(async |c| {
                fill_script()
                    .key(&key)
                    .arg(&value)
                    .arg(REVOKED)
                    .arg(ttl_ms)
                    .invoke_async::<i64>(c)
                    .await
                    .map(|_| ())
            })
            .await
        }
    }
}

/// Marks the session revoked for `ttl` (what is left of its life); if the
/// cache is unreachable the marker is written once it answers again.
pub async fn revoke(
    cache: &Cache,
    user_id: Uuid,
    session_id: Uuid,
    ttl: Duration,
) -> Result<(), CacheError> {
    cache
        .set_ex_or_repair(&key(user_id, session_id), REVOKED, ttl)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        for entry in [
            Entry::Revoked,
            Entry::Open {
                expires_ms: 1_800_000_000_000,
                cached_ms: 1_700_000_000_000,
            },
        ] {
            assert_eq!(Entry::decode(&entry.encode()), Some(entry));
        }
        for text in ["", "open", "open;1", "open;1;2;3", "{\"user_id\":1}"] {
            assert_eq!(Entry::decode(text), None, "{text:?}");
        }
    }

    #[tokio::test]
    async fn a_fill_never_replaces_a_revocation() {
        let cache = Cache::in_process("");
        let (user, session) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let open = Entry::Open {
            expires_ms: u64::MAX,
            cached_ms: 1,
        };
        let minute = Duration::from_secs(60);
        revoke(&cache, user, session, minute).await.unwrap();
        fill(&cache, user, session, open, minute).await.unwrap();
        let raw = cache.get(&key(user, session)).await.unwrap().unwrap();
        assert_eq!(Entry::decode(&raw), Some(Entry::Revoked));
    }
}
