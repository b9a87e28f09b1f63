use std::time::Duration;

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use secrecy::SecretString;
use uuid::Uuid;

use super::{
    AuthError, Email, NewUser, PasswordHasher, Role, SecondFactor, SecondFactorInput, Standings,
    TokenKeys, UserStatus, devices,
    sessions::{self, ClientInfo, Sessions},
};
use crate::{
    audit::{self, AuditEvent},
    cache::Cache,
    db::{self, UniqueIndex, retry::Retry},
};
use entity::{user_profiles, user_roles, users};

/// One account per (lower-cased) email.
const ONE_ACCOUNT_PER_EMAIL: UniqueIndex = UniqueIndex {
    name: "uq_users_email",
    table: "users",
    columns: &["email"],
};

/// `STEP_UP_TTL_SECS`'s default.
const DEFAULT_STEP_UP_TTL: Duration = Duration::from_secs(300);

/// Registration, login, logout, and turning a bearer token into a caller.
#[derive(Clone)]
pub struct Auth {
    pub(super) db: DatabaseConnection,
    pub(super) sessions: Sessions,
    standings: Standings,
    pub(super) hasher: PasswordHasher,
    keys: TokenKeys,
    session_ttl: Duration,
    retry: Retry,
    pub(super) second_factor: SecondFactor,
    /// How long a step-up (`confirmIdentity`) lasts.
    pub(super) step_up_ttl: Duration,
}

/// What a successful login or registration hands back.
pub struct LoggedIn {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub user: users::Model,
}

/// An authenticated caller, as every resolver sees it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub status: UserStatus,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller as the audit log sees a reader.
    pub fn audit_reader(&self) -> audit::Reader {
        audit::Reader {
            user_id: self.user_id,
            support: self.has_role(Role::Support),
        }
    }

    /// The caller as a support agent, when they hold the role.
    pub fn as_support(&self) -> Option<SupportAgent> {
        self.has_role(Role::Support).then_some(SupportAgent {
            user_id: self.user_id,
        })
    }
}

/// Proof that the caller holds the SUPPORT role: support operations in the
/// domain take one, so the role is checked again below the resolvers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportAgent {
    user_id: Uuid,
}

impl SupportAgent {
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }
}

/// Who sent a request: nobody, somebody whose token is no good, or a user.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Rejected,
    User(Principal),
}

impl Auth {
    pub fn new(
        db: DatabaseConnection,
        cache: Cache,
        hasher: PasswordHasher,
        keys: TokenKeys,
        session_ttl: Duration,
        retry: Retry,
        second_factor: SecondFactor,
    ) -> Self {
        let standings = Standings::new(cache.clone());
        Self {
            sessions: Sessions::new(db.clone(), cache, standings.clone(), session_ttl),
            db,
            standings,
            hasher,
            keys,
            session_ttl,
            retry,
            second_factor,
            step_up_ttl: DEFAULT_STEP_UP_TTL,
        }
    }

    /// How long a step-up (`confirmIdentity`) lasts: `STEP_UP_TTL_SECS`.
    pub fn with_step_up_ttl(mut self, ttl: Duration) -> Self {
        self.step_up_ttl = ttl;
        self
    }

    pub async fn register(&self, new: NewUser, client: &ClientInfo) -> Result<LoggedIn, AuthError> {
        let password_hash = self.hasher.hash(new.password).await?;
        let now = chrono::Utc::now();
        let user_id = Uuid::now_v7();
        let txn = db::begin_write(&self.db).await?;
        let user = users::ActiveModel {
            user_id: Set(user_id),
            email: Set(new.email.as_str().to_owned()),
            password_hash: Set(password_hash),
            first_name: Set(new.first_name),
            last_name: Set(new.last_name),
            phone: Set(new.phone),
            status: Set(UserStatus::Active),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if ONE_ACCOUNT_PER_EMAIL.violated_by(&e) {
                AuthError::EmailTaken
            } else {
                AuthError::Db(e)
            }
        })?;
        user_profiles::ActiveModel {
            profile_id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            date_of_birth: Set(None),
            address: Set(None),
            kyc_status: Set(entity::user_profiles::KycStatus::Pending),
            kyc_documents: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        user_roles::ActiveModel {
            user_id: Set(user_id),
            role: Set(Role::Customer),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            AuditEvent::by_user("auth", "user.registered", user_id),
        )
        .await?;
        let session = sessions::insert(&txn, user_id, self.session_ttl, client).await?;
        txn.commit().await?;
        Ok(self.logged_in(user, session).await)
    }

    /// Opens a session for the right password and, with two-factor on, a
    /// code taken once. Wrong passwords and codes count per account and
    /// per address; over the limit the attempt is refused unchecked.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        second: &SecondFactorInput,
        client: &ClientInfo,
    ) -> Result<LoggedIn, AuthError> {
        // A malformed email is treated like an unknown one: the same work,
        // the same answer.
        let user = match Email::parse(email) {
            Ok(email) => {
                users::Entity::find()
                    .filter(users::Column::Email.eq(email.as_str()))
                    .one(&self.db)
                    .await?
            }
            Err(_) => None,
        };
        let account = user.as_ref().map(|u| u.user_id);
        self.second_factor.guard(account, client.address).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        if !self.hasher.verify(password, stored).await {
            self.second_factor.failed(account, client.address).await;
            return Err(AuthError::InvalidCredentials);
        }
        let user = user.ok_or(AuthError::InvalidCredentials)?;
        if user.status == UserStatus::Closed {
            return Err(AuthError::AccountClosed);
        }
        self.second_factor
            .check_login(user.user_id, second, client.address)
            .await?;
        let txn = db::begin_write(&self.db).await?;
        audit::record(
            &txn,
            AuditEvent::by_user("auth", "user.login", user.user_id),
        )
        .await?;
        if devices::is_new_device(&txn, user.user_id, client).await? {
            audit::record(&txn, devices::new_device_event(user.user_id, client)).await?;
        }
        let session = sessions::insert(&txn, user.user_id, self.session_ttl, client).await?;
        txn.commit().await?;
        Ok(self.logged_in(user, session).await)
    }

    /// The token of a session whose row is committed.
    async fn logged_in(&self, user: users::Model, session: entity::sessions::Model) -> LoggedIn {
        self.sessions.opened(&session).await;
        let token = self.keys.issue(
            user.user_id,
            session.session_id,
            session.expires_at.timestamp(),
        );
        LoggedIn {
            token,
            expires_at: session.expires_at,
            user,
        }
    }

    /// Starts two-factor enrolment for the caller: the secret and its
    /// `otpauth://` URI.
    pub async fn begin_totp_enrollment(
        &self,
        who: &Principal,
    ) -> Result<(String, String), AuthError> {
        let user = users::Entity::find_by_id(who.user_id)
            .one(&self.db)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        self.second_factor.begin(who.user_id, &user.email).await
    }

    pub async fn confirm_totp_enrollment(
        &self,
        who: &Principal,
        code: &str,
    ) -> Result<Vec<SecretString>, AuthError> {
        self.second_factor.confirm(who.user_id, code).await
    }

    pub async fn disable_totp(
        &self,
        who: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.second_factor
            .disable(who.user_id, code, client.address)
            .await
    }

    /// The standings this service reads, for the code that changes them.
    pub fn standings(&self) -> Standings {
        self.standings.clone()
    }

    pub async fn logout(&self, who: &Principal) -> Result<(), AuthError> {
        self.sessions.revoke(who.user_id, who.session_id).await?;
        audit::record(
            &self.db,
            AuditEvent::by_user("auth", "user.logout", who.user_id),
        )
        .await?;
        Ok(())
    }

    /// Resolves an `Authorization` header value. Any fault in the token,
    /// a closed session, or a closed account is `Rejected`. The session is
    /// checked in the cache, or in the database when the cache cannot tell
    /// (see `auth::sessions`): only an unreachable database is an error.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let Some(header) = header else {
            return Ok(Caller::Anonymous);
        };
        let Some(token) = header.strip_prefix("Bearer ") else {
            return Ok(Caller::Rejected);
        };
        let Ok(claims) = self.keys.verify(token.trim()) else {
            return Ok(Caller::Rejected);
        };
        // A read: a connection lost under it is tried again, so that a
        // blip of the database does not sign anyone out or fail a request.
        let checked = self
            .retry
            .read(|| self.sessions.check(claims.sub, claims.sid))
            .await?;
        let Some(standing) = checked else {
            return Ok(Caller::Rejected);
        };
        if standing.status == UserStatus::Closed {
            return Ok(Caller::Rejected);
        }
        Ok(Caller::User(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            status: standing.status,
            roles: standing.roles,
        }))
    }
}
