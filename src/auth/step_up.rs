//! Step-up: the signed-in user confirms their identity again (password,
//! and with two-factor on a current code), and their session may make
//! large payments for a while (`ledger::step_up` holds the rule). The
//! time is kept on the session's row, so every instance sees it and it
//! belongs to that session alone.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use secrecy::SecretString;

use super::{Auth, AuthError, Principal, sessions::ClientInfo};
use crate::{
    audit::{self, AuditEvent},
    validation::InvalidInput,
};
use entity::{sessions, users};

impl Auth {
    /// Raises the caller's session until now + `STEP_UP_TTL_SECS`. A wrong
    /// password or code is bad input on its field (and counts as a
    /// failure, as at login).
    pub async fn confirm_identity(
        &self,
        who: &Principal,
        password: SecretString,
        totp_code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<DateTime<Utc>, AuthError> {
        self.second_factor
            .guard(Some(who.user_id), client.address)
            .await?;
        let user = users::Entity::find_by_id(who.user_id)
            .one(&self.db)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if !self.hasher.verify(password, Some(user.password_hash)).await {
            self.second_factor
                .failed(Some(who.user_id), client.address)
                .await;
            return Err(InvalidInput::new("password", "is not your password").into());
        }
        if self.second_factor.enabled(who.user_id).await? {
            let Some(code) = totp_code else {
                return Err(InvalidInput::new("totpCode", "is required with two-factor on").into());
            };
            if !self
                .second_factor
                .check_code(who.user_id, code, false, client.address)
                .await?
            {
                return Err(InvalidInput::new("totpCode", "is not a current code").into());
            }
        }
        let until = Utc::now()
            + chrono::Duration::from_std(self.step_up_ttl).expect("a step-up TTL fits chrono");
        sessions::Entity::update_many()
            .col_expr(sessions::Column::StepUpUntil, Expr::value(until))
            .filter(sessions::Column::SessionId.eq(who.session_id))
            .filter(sessions::Column::UserId.eq(who.user_id))
            .exec(&self.db)
            .await?;
        audit::record(
            &self.db,
            AuditEvent::by_user("auth", "session.step_up", who.user_id),
        )
        .await?;
        Ok(until)
    }
}
