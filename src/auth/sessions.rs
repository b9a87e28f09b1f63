//! Sessions: one `sessions` row per login, the truth; the shared cache
//! (Redis) holds what the rows say so that a request in use reads no
//! database (see `cache::sessions`).
//!
//! - Opening writes the row, then caches it.
//! - Revoking sets `revoked_at`, then writes a revocation marker over the
//!   cache entry; a marker the cache cannot take now is written once it
//!   answers again. Every instance reads the shared entry, so a revocation
//!   holds everywhere at once.
//! - Checking reads the cache; a miss, an entry cached before this
//!   instance last recovered from an outage, or an unreachable cache reads
//!   the row (and the user's standing) in one statement, and refills the
//!   cache when it answers. Redis down, flushed or replaced costs database
//!   reads, never a session.
//! - Nothing is cached in process: with the in-process cache of the
//!   embedded default every check reads the row, so a revocation by
//!   another process on the same database holds at once there too.
//! - An entry is cached for at most [`CACHE_TTL`]: each session's row is
//!   read again that often, which refreshes `last_seen_at` (at most once
//!   per [`SEEN_EVERY`]) and bounds what an entry the repairs could not
//!   reach (an instance that died mid-outage) can leave behind.

use std::{net::IpAddr, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationTrait, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{Role, Standing, Standings, UserStatus};
use crate::cache::{
    Cache,
    sessions::{self as cached, Entry},
    unix_ms,
};
use entity::{sessions, user_roles, users};

/// The longest a session entry is cached before its row is read again.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// `last_seen_at` is written at most this often per session.
pub const SEEN_EVERY: Duration = Duration::from_secs(60);

/// Where a login comes from, as the session's row keeps it.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub device_name: Option<String>,
    pub user_agent: Option<String>,
    pub address: Option<IpAddr>,
}

/// An address made coarse: its IPv4 /24 or IPv6 /48 network.
pub fn mask_address(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => mask_address(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

fn truncated(text: Option<&str>, max: usize) -> Option<String> {
    text.map(|t| t.chars().take(max).collect())
}

/// The device name and user agent as a session's row keeps them (cut to
/// the columns' lengths), so that a device is recognised by what was stored.
pub(super) fn stored_device(client: &ClientInfo) -> (Option<String>, Option<String>) {
    (
        truncated(client.device_name.as_deref(), 100),
        truncated(client.user_agent.as_deref(), 512),
    )
}

/// A new session's row for `user_id`, open for `ttl`.
pub(super) async fn insert<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    ttl: Duration,
    client: &ClientInfo,
) -> Result<sessions::Model, DbErr> {
    let now = Utc::now();
    let expires_at = now + chrono::Duration::from_std(ttl).expect("TTL fits chrono");
    let (device_name, user_agent) = stored_device(client);
    let row = sessions::ActiveModel {
        session_id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_seen_at: Set(now),
        revoked_at: Set(None),
        device_name: Set(device_name),
        user_agent: Set(user_agent),
        client_address: Set(client.address.map(mask_address)),
        step_up_until: Set(None),
    };
    sessions::Entity::insert(row).exec_with_returning(db).await
}

/// A session's row as a check needs it, with its user's standing.
struct Found {
    expires_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    revoked: bool,
    standing: Standing,
}

/// The session and its user's status and roles, in one statement.
async fn read(
    db: &DatabaseConnection,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<Option<Found>, DbErr> {
    type Row = (
        DateTime<Utc>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        UserStatus,
        Option<Role>,
    );
    let rows: Vec<Row> = sessions::Entity::find_by_id(session_id)
        .filter(sessions::Column::UserId.eq(user_id))
        .select_only()
        .column(sessions::Column::ExpiresAt)
        .column(sessions::Column::LastSeenAt)
        .column(sessions::Column::RevokedAt)
        .column(users::Column::Status)
        .column(user_roles::Column::Role)
        .join(JoinType::InnerJoin, sessions::Relation::Users.def())
        .join(JoinType::LeftJoin, users::Relation::UserRoles.def())
        .into_tuple()
        .all(db)
        .await?;
    let Some((expires_at, last_seen_at, revoked_at, status, _)) = rows.first().cloned() else {
        return Ok(None);
    };
    let roles = rows.iter().filter_map(|(.., role)| *role).collect();
    Ok(Some(Found {
        expires_at,
        last_seen_at,
        revoked: revoked_at.is_some(),
        standing: Standing { status, roles },
    }))
}

fn millis(t: DateTime<Utc>) -> u64 {
    t.timestamp_millis().max(0) as u64
}

/// The sessions of every user, in the database and the shared cache.
#[derive(Clone)]
pub struct Sessions {
    db: DatabaseConnection,
    cache: Cache,
    standings: Standings,
    ttl: Duration,
}

impl Sessions {
    pub fn new(db: DatabaseConnection, cache: Cache, standings: Standings, ttl: Duration) -> Self {
        Self {
            db,
            cache,
            standings,
            ttl,
        }
    }

    /// Caches a session just opened (its row committed). A cache that
    /// cannot take it now costs one database read later.
    pub async fn opened(&self, row: &sessions::Model) {
        if self.cache.is_shared() {
            self.fill(row.user_id, row.session_id, row.expires_at).await;
        }
    }

    async fn fill(&self, user_id: Uuid, session_id: Uuid, expires_at: DateTime<Utc>) {
        let now = unix_ms();
        let expires_ms = millis(expires_at);
        let left = Duration::from_millis(expires_ms.saturating_sub(now)).min(CACHE_TTL);
        if left.is_zero() {
            return;
        }
        let entry = Entry::Open {
            expires_ms,
            cached_ms: now,
        };
        if let Err(e) = cached::fill(&self.cache, user_id, session_id, entry, left).await {
            tracing::debug!(error = %e, "cannot cache a session");
        }
    }

    /// The user's standing while the session is open; `None` when it is
    /// unknown, expired or revoked, or its user is gone. Errors only when
    /// the database, needed and unreachable, fails.
    pub async fn check(&self, user_id: Uuid, session_id: Uuid) -> Result<Option<Standing>, DbErr> {
        if !self.cache.is_shared() {
            return self.read_row(user_id, session_id, false).await;
        }
        let keys = [
            cached::key(user_id, session_id),
            super::standing::key(user_id),
        ];
        let [session, standing]: [Option<String>; 2] = match self.cache.get_many(&keys).await {
            Ok(found) => match found.try_into() {
                Ok(pair) => pair,
                Err(_) => return self.read_row(user_id, session_id, true).await,
            },
            Err(e) => {
                tracing::debug!(error = %e, "session cache unreachable; reading the database");
                return self.read_row(user_id, session_id, false).await;
            }
        };
        match session.as_deref().and_then(Entry::decode) {
            Some(Entry::Revoked) => Ok(None),
            Some(Entry::Open {
                expires_ms,
                cached_ms,
            }) if cached_ms >= self.cache.trusted_since_ms() && expires_ms > unix_ms() => {
                if let Some(standing) = self.standings.decode_trusted(standing.as_deref()) {
                    return Ok(Some(standing));
                }
                let Some(standing) = Standing::read(&self.db, user_id).await? else {
                    return Ok(None);
                };
                if let Err(e) = self.standings.fill(user_id, &standing).await {
                    tracing::debug!(error = %e, "cannot cache a standing");
                }
                Ok(Some(standing))
            }
            _ => self.read_row(user_id, session_id, true).await,
        }
    }

    /// Reads the row; with `refill`, caches what it says.
    async fn read_row(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        refill: bool,
    ) -> Result<Option<Standing>, DbErr> {
        let Some(found) = read(&self.db, user_id, session_id).await? else {
            return Ok(None);
        };
        if found.revoked {
            if refill {
                // An open entry may be what sent us here (cached before
                // an outage this instance saw): mark it for everyone.
                let _ = cached::revoke(&self.cache, user_id, session_id, self.ttl).await;
            }
            return Ok(None);
        }
        if found.expires_at <= Utc::now() {
            return Ok(None);
        }
        if Utc::now() - found.last_seen_at
            >= chrono::Duration::from_std(SEEN_EVERY).expect("fits chrono")
        {
            self.seen(session_id).await;
        }
        if refill {
            self.fill(user_id, session_id, found.expires_at).await;
            if let Err(e) = self.standings.fill(user_id, &found.standing).await {
                tracing::debug!(error = %e, "cannot cache a standing");
            }
        }
        Ok(Some(found.standing))
    }

    /// Notes that the session is in use; a failure only delays the note.
    async fn seen(&self, session_id: Uuid) {
        let written = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::value(Utc::now()))
            .filter(sessions::Column::SessionId.eq(session_id))
            .exec(&self.db)
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot note a session's last use");
        }
    }

    /// Ends the session: its row first (the truth), then the cache, at once
    /// or, if the cache is unreachable, as soon as it answers again.
    pub async fn revoke(&self, user_id: Uuid, session_id: Uuid) -> Result<(), DbErr> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(sessions::Column::SessionId.eq(session_id))
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        if self.cache.is_shared()
            && let Err(e) = cached::revoke(&self.cache, user_id, session_id, self.ttl).await
        {
            tracing::warn!(error = %e, "session revoked in the database; the cache learns of it when it answers again");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_kept_coarse() {
        let cases = [
            ("203.0.113.77", "203.0.113.0/24"),
            ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
            ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ];
        for (address, masked) in cases {
            assert_eq!(mask_address(address.parse().unwrap()), masked);
        }
    }
}
