//! Two-factor sign-in: enrolment, the check at login, and the limit on
//! wrong passwords and codes.
//!
//! - The secret is stored encrypted (`FieldCipher`, as card numbers are);
//!   two-factor is on once an enrolment is confirmed with a code.
//! - A code is accepted once: taking it raises `user_totp.last_step` to
//!   the code's time step with a conditional UPDATE, which only one
//!   request, on any instance, can win; a replayed code (same or an older
//!   step) changes no row and is refused.
//! - Recovery codes are kept as keyed hashes (HMAC-SHA-256 under the
//!   field cipher's derived key); spending one sets `used_at` with the same
//!   kind of conditional UPDATE.
//! - Wrong passwords and wrong codes count per account and per client
//!   address (`Class::SecondFactor`); while either is over its limit the
//!   attempt is refused before anything is checked, and the refusal itself
//!   counts, so a guesser spread over many addresses waits longer and
//!   longer.

use std::net::IpAddr;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, sea_query::Expr,
};
use secrecy::SecretString;
use uuid::Uuid;

use super::{
    AuthError,
    totp::{self, TotpSecret},
};
use crate::{
    audit::{self, AuditEvent},
    cache::rate_limit::{Class, RateLimiter, Subject},
    crypto::FieldCipher,
    db,
    validation::InvalidInput,
};
use entity::{recovery_codes, user_totp};

/// What a login or a step-up presents beside the password.
#[derive(Default)]
pub struct SecondFactorInput {
    pub totp_code: Option<String>,
    pub recovery_code: Option<String>,
}

#[derive(Clone)]
pub struct SecondFactor {
    db: DatabaseConnection,
    cipher: FieldCipher,
    limits: RateLimiter,
}

impl SecondFactor {
    pub fn new(db: DatabaseConnection, cipher: FieldCipher, limits: RateLimiter) -> Self {
        Self { db, cipher, limits }
    }

    fn subjects(user_id: Option<Uuid>, address: Option<IpAddr>) -> Vec<Subject> {
        user_id
            .map(Subject::User)
            .into_iter()
            .chain(address.map(Subject::Address))
            .collect()
    }

    /// Refuses the attempt while the account or the address is over its
    /// limit of failures; the refusal counts as one more.
    pub async fn guard(
        &self,
        user_id: Option<Uuid>,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let subjects = Self::subjects(user_id, address);
        let mut refused = false;
        for subject in &subjects {
            refused |= !self.limits.peek(subject, Class::SecondFactor).await.allowed;
        }
        if !refused {
            return Ok(());
        }
        let mut wait = 0;
        for subject in &subjects {
            let d = self.limits.charge(subject, Class::SecondFactor).await;
            wait = wait.max(d.retry_after.as_millis().div_ceil(1000) as u64);
        }
        Err(AuthError::RateLimited {
            retry_after_secs: wait.max(1),
        })
    }

    /// Counts a wrong password or code against the account and the address.
    pub async fn failed(&self, user_id: Option<Uuid>, address: Option<IpAddr>) {
        for subject in Self::subjects(user_id, address) {
            self.limits.charge(&subject, Class::SecondFactor).await;
        }
    }

    async fn row(&self, user_id: Uuid) -> Result<Option<user_totp::Model>, AuthError> {
        Ok(user_totp::Entity::find_by_id(user_id).one(&self.db).await?)
    }

    /// Whether the user has two-factor on.
    pub async fn enabled(&self, user_id: Uuid) -> Result<bool, AuthError> {
        Ok(self
            .row(user_id)
            .await?
            .is_some_and(|r| r.confirmed_at.is_some()))
    }

    fn secret(&self, row: &user_totp::Model) -> Result<TotpSecret, AuthError> {
        self.cipher
            .decrypt(&row.secret_ciphertext)
            .map(TotpSecret::from_base32)
            .map_err(|e| AuthError::Secret(e.to_string()))
    }

    /// Takes `code` for the user once: true when it is the code of a time
    /// step later than any taken before.
    async fn take_totp(&self, row: &user_totp::Model, code: &str) -> Result<bool, AuthError> {
        let Some(step) = self.secret(row)?.step_of(code, totp::now_secs()) else {
            return Ok(false);
        };
        let step = step as i64;
        let taken = user_totp::Entity::update_many()
            .col_expr(user_totp::Column::LastStep, Expr::value(step))
            .filter(user_totp::Column::UserId.eq(row.user_id))
            .filter(
                sea_orm::Condition::any()
                    .add(user_totp::Column::LastStep.is_null())
                    .add(user_totp::Column::LastStep.lt(step)),
            )
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// Spends one of the user's unused recovery codes.
    async fn take_recovery(&self, user_id: Uuid, code: &str) -> Result<bool, AuthError> {
        let hash = self
            .cipher
            .fingerprint(&totp::normalized_recovery_code(code));
        let taken = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(Utc::now()))
            .filter(recovery_codes::Column::CodeHash.eq(hash))
            .filter(recovery_codes::Column::UserId.eq(user_id))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// The second factor of a login whose password was right: nothing to
    /// do without two-factor; with it, a TOTP code or a recovery code,
    /// taken once. No code at all is `SecondFactorRequired`; a wrong,
    /// replayed or spent one is `InvalidCredentials` and counts as a failure.
    pub async fn check_login(
        &self,
        user_id: Uuid,
        input: &SecondFactorInput,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let Some(row) = self
            .row(user_id)
            .await?
            .filter(|r| r.confirmed_at.is_some())
        else {
            return Ok(());
        };
        let accepted = match (&input.totp_code, &input.recovery_code) {
            (Some(code), _) => self.take_totp(&row, code).await?,
            (None, Some(code)) => self.take_recovery(user_id, code).await?,
            (None, None) => return Err(AuthError::SecondFactorRequired),
        };
        if !accepted {
            self.failed(Some(user_id), address).await;
            return Err(AuthError::InvalidCredentials);
        }
        Ok(())
    }

    /// A code the signed-in user typed to prove it is them (`disableTotp`,
    /// `confirmIdentity`): true when taken. A wrong one counts as a failure.
    pub async fn check_code(
        &self,
        user_id: Uuid,
        code: &str,
        recovery_allowed: bool,
        address: Option<IpAddr>,
    ) -> Result<bool, AuthError> {
        self.guard(Some(user_id), address).await?;
        let Some(row) = self
            .row(user_id)
            .await?
            .filter(|r| r.confirmed_at.is_some())
        else {
            return Ok(false);
        };
        let accepted = self.take_totp(&row, code).await?
            || (recovery_allowed && self.take_recovery(user_id, code).await?);
        if !accepted {
            self.failed(Some(user_id), address).await;
        }
        Ok(accepted)
    }

    /// Starts (or restarts) enrolment: a new secret, stored encrypted, not
    /// yet in force. Returns the secret and its `otpauth://` URI.
    pub async fn begin(&self, user_id: Uuid, email: &str) -> Result<(String, String), AuthError> {
        if self.enabled(user_id).await? {
            return Err(AuthError::TotpState { state: "ENABLED" });
        }
        let secret = TotpSecret::generate();
        let txn = db::begin_write(&self.db).await?;
        user_totp::Entity::delete_by_id(user_id).exec(&txn).await?;
        user_totp::ActiveModel {
            user_id: Set(user_id),
            secret_ciphertext: Set(self.cipher.encrypt(secret.base32())),
            created_at: Set(Utc::now()),
            confirmed_at: Set(None),
            last_step: Set(None),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        let uri = secret.uri(email);
        Ok((
            secrecy::ExposeSecret::expose_secret(secret.base32()).to_owned(),
            uri,
        ))
    }

    /// Turns two-factor on with a code from the new secret, and returns
    /// ten recovery codes (kept only hashed: shown this once).
    pub async fn confirm(&self, user_id: Uuid, code: &str) -> Result<Vec<SecretString>, AuthError> {
        let row = match self.row(user_id).await? {
            Some(row) if row.confirmed_at.is_none() => row,
            Some(_) => return Err(AuthError::TotpState { state: "ENABLED" }),
            None => return Err(AuthError::TotpState { state: "DISABLED" }),
        };
        if !self.take_totp(&row, code).await? {
            return Err(InvalidInput::new("code", "is not the current code of this secret").into());
        }
        let codes = totp::recovery_codes();
        let now = Utc::now();
        let txn = db::begin_write(&self.db).await?;
        user_totp::Entity::update_many()
            .col_expr(user_totp::Column::ConfirmedAt, Expr::value(now))
            .filter(user_totp::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        replace_recovery_codes(&txn, &self.cipher, user_id, &codes).await?;
        audit::record(&txn, AuditEvent::by_user("auth", "totp.enabled", user_id)).await?;
        txn.commit().await?;
        Ok(codes)
    }

    /// Turns two-factor off, given a current code or an unused recovery
    /// code; a wrong one is `BAD_USER_INPUT` on `code` and counts as a
    /// failure.
    pub async fn disable(
        &self,
        user_id: Uuid,
        code: &str,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        if !self.enabled(user_id).await? {
            return Err(AuthError::TotpState { state: "DISABLED" });
        }
        if !self.check_code(user_id, code, true, address).await? {
            return Err(InvalidInput::new("code", "is not a current or recovery code").into());
        }
        let txn = db::begin_write(&self.db).await?;
        user_totp::Entity::delete_by_id(user_id).exec(&txn).await?;
        recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        audit::record(&txn, AuditEvent::by_user("auth", "totp.disabled", user_id)).await?;
        txn.commit().await?;
        Ok(())
    }
}

async fn replace_recovery_codes<C: ConnectionTrait>(
    txn: &C,
    cipher: &FieldCipher,
    user_id: Uuid,
    codes: &[SecretString],
) -> Result<(), AuthError> {
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    let now = Utc::now();
    recovery_codes::Entity::insert_many(codes.iter().map(|code| recovery_codes::ActiveModel {
        code_hash: Set(cipher.fingerprint(&totp::normalized_recovery_code(
            secrecy::ExposeSecret::expose_secret(code),
        ))),
        user_id: Set(user_id),
        created_at: Set(now),
        used_at: Set(None),
    }))
    .exec(txn)
    .await?;
    Ok(())
}
