//! A user's standing (status and roles) kept beside their sessions in a
//! shared cache, so that authenticating a request costs no database
//! statement: `standing:{<user_id>}`.
//!
//! Why: reading the user on every request would be a statement on every
//! request's path, the transfer's included.
//!
//! How it stays exact:
//! - Every change of a status or a role writes the new standing after its
//!   commit, read back from the database, over whatever is cached
//!   ([`Standings::refresh`]).
//! - A request that finds none reads the database and fills the gap only
//!   where it is still empty (`SET NX`). A fill read before a change
//!   therefore never lands over the change's write, and one that lands
//!   before it is overwritten by it.
//! - The entry expires after [`TTL`]. A refresh the cache cannot take (it
//!   is unreachable) removes the entry once the cache answers again, and an
//!   instance that saw the outage ignores entries cached before it ended;
//!   what is left lasts no longer than the TTL. Money never waits for it:
//!   the ledger checks the user's status in the transaction that moves it.
//! - While the cache is unreachable, standings are read from the database.
//!
//! Only a cache every process shares holds standings. With the in-process
//! cache of the embedded default, a role granted from the command line
//! would not reach the server's memory, so there each request reads the
//! database, as before.

use std::time::Duration;

use sea_orm::{ActiveEnum, ConnectionTrait, DbErr, EntityTrait};
use uuid::Uuid;

use super::{AuthError, Role, UserStatus};
use crate::cache::{Cache, CacheError, unix_ms};
use entity::{user_roles, users};

/// How long a standing is trusted without a change having written it.
pub const TTL: Duration = Duration::from_secs(60);

/// What authentication needs to know of a user besides their session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub status: UserStatus,
    pub roles: Vec<Role>,
}

impl Standing {
    /// The user's standing in the database; `None` when there is no user.
    pub async fn read<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<Option<Self>, DbErr> {
        // The user and their roles in one statement.
        let found = users::Entity::find_by_id(user_id)
            .find_with_related(user_roles::Entity)
            .all(db)
            .await?
            .pop();
        Ok(found.map(|(user, roles)| Self {
            status: user.status,
            roles: roles.iter().map(|r| r.role).collect(),
        }))
    }

    /// `status;role,role;cached_ms`
    fn encode(&self) -> String {
        let roles: Vec<String> = self.roles.iter().map(|r| r.to_value()).collect();
        format!(
            "{};{};{}",
            self.status.to_value(),
            roles.join(","),
            unix_ms()
        )
    }

    /// The standing and when it was cached (Unix milliseconds); `None`
    /// for anything [`Standing::encode`] did not write, which is then
    /// read again from the database rather than guessed.
    fn decode(text: &str) -> Option<(Self, u64)> {
        let mut parts = text.split(';');
        let status = UserStatus::try_from_value(&parts.next()?.to_owned()).ok()?;
        let roles = parts
            .next()?
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| Role::try_from_value(&r.to_owned()).ok())
            .collect::<Option<Vec<_>>>()?;
        let cached_ms = parts.next()?.parse().ok()?;
        parts
            .next()
            .is_none()
            .then_some((Self { status, roles }, cached_ms))
    }
}

/// The user id is the hash tag: one slot with the user's sessions.
pub(crate) fn key(user_id: Uuid) -> String {
    format!("standing:{{{user_id}}}")
}

/// The standings in a cache: a no-op store unless the cache is shared.
#[derive(Clone)]
pub struct Standings {
    cache: Cache,
}

impl Standings {
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    /// The standing in an entry read from the cache, unless it was cached
    /// before this instance last recovered from an outage (a change made
    /// meanwhile may not have reached the cache).
    pub fn decode_trusted(&self, raw: Option<&str>) -> Option<Standing> {
        let (standing, cached_ms) = Standing::decode(raw?)?;
        (cached_ms >= self.cache.trusted_since_ms()).then_some(standing)
    }

    /// Caches a standing read after finding none, unless a change wrote
    /// one meanwhile.
    pub async fn fill(&self, user_id: Uuid, standing: &Standing) -> Result<(), CacheError> {
        if !self.cache.is_shared() {
            return Ok(());
        }
        self.cache
            .set_nx_ex(&key(user_id), &standing.encode(), TTL)
            .await
    }

    /// Writes the user's standing as the database now has it; called after
    /// every committed change of their status or roles.
    pub async fn refresh<C: ConnectionTrait>(
        &self,
        db: &C,
        user_id: Uuid,
    ) -> Result<(), AuthError> {
        if !self.cache.is_shared() {
            return Ok(());
        }
        match Standing::read(db, user_id).await? {
            Some(standing) => {
                let written = self
                    .cache
                    .set_ex(&key(user_id), &standing.encode(), TTL)
                    .await;
                if let Err(e) = written {
                    // Whatever the cache holds is stale: removed once it
                    // answers again.
                    let _ = self.cache.del_or_repair(&key(user_id)).await;
                    return Err(e.into());
                }
            }
            None => {
                self.cache.del_or_repair(&key(user_id)).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_reads_back_as_written() {
        for standing in [
            Standing {
                status: UserStatus::Active,
                roles: vec![],
            },
            Standing {
                status: UserStatus::Suspended,
                roles: vec![Role::Customer, Role::Support],
            },
        ] {
            let (decoded, cached_ms) = Standing::decode(&standing.encode()).unwrap();
            assert_eq!(decoded, standing);
            assert!(cached_ms > 0);
        }
    }

    #[test]
    fn anything_else_is_read_again() {
        for text in [
            "",
            "active",
            "active;customer",
            "frozen;customer;1",
            "active;customer,admin;1",
            "active;customer;x",
        ] {
            assert_eq!(Standing::decode(text), None, "{text:?}");
        }
    }
}
