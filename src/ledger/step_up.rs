//! The step-up rule: a payment (transfer, withdrawal, paying a request) at
//! or above `STEP_UP_AMOUNT` in its currency is made only from a session
//! whose user confirmed their identity again lately (`confirmIdentity`
//! sets `sessions.step_up_until`). Below the threshold nothing is read.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{LedgerError, LedgerSettings};
use crate::money::{Amount, format_minor};
use entity::sessions;

/// The session a payment is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayingSession(pub Uuid);

/// Refuses `amount` from `session` unless it is below the threshold or the
/// session's step-up is still fresh.
pub async fn require<C: ConnectionTrait>(
    conn: &C,
    settings: &LedgerSettings,
    session: PayingSession,
    amount: &Amount,
) -> Result<(), LedgerError> {
    let currency = amount.currency();
    let Some(threshold) = settings.step_up_amount.reached(amount.minor(), currency) else {
        return Ok(());
    };
    let until: Option<Option<DateTime<Utc>>> = sessions::Entity::find_by_id(session.0)
        .select_only()
        .column(sessions::Column::StepUpUntil)
        .filter(sessions::Column::RevokedAt.is_null())
        .into_tuple()
        .one(conn)
        .await?;
    if until.flatten().is_some_and(|until| until > Utc::now()) {
        return Ok(());
    }
    Err(LedgerError::StepUpRequired {
        amount: format_minor(threshold, currency),
        currency: currency.code(),
    })
}
