use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::OnConflict};

use super::{AuthError, Email};
use crate::audit::{self, AuditEvent};
use entity::{user_roles, users};

pub use entity::user_roles::Role;

async fn user_by_email<C: ConnectionTrait>(db: &C, email: &str) -> Result<users::Model, AuthError> {
    let email = Email::parse(email)?;
    users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .ok_or(AuthError::UnknownUser)
}

/// Grants a role from the command line; granting it twice is a no-op.
/// Returns the user's id, whose [standing](super::Standings) the caller
/// refreshes once this is committed.
pub async fn grant_role<C: ConnectionTrait>(
    db: &C,
    email: &str,
    role: Role,
) -> Result<uuid::Uuid, AuthError> {
    let user = user_by_email(db, email).await?;
    user_roles::Entity::insert(user_roles::ActiveModel {
        user_id: Set(user.user_id),
        role: Set(role),
        created_at: Set(chrono::Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([user_roles::Column::UserId, user_roles::Column::Role])
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(db)
    .await?;
    let event = AuditEvent {
        actor_id: None,
        ..AuditEvent::by_user("auth", "role.granted", user.user_id)
    };
    audit::record(db, event.with_data(serde_json::json!({"role": role}))).await?;
    Ok(user.user_id)
}

/// Revokes a role; returns the user's id, as [`grant_role`] does.
pub async fn revoke_role<C: ConnectionTrait>(
    db: &C,
    email: &str,
    role: Role,
) -> Result<uuid::Uuid, AuthError> {
    let user = user_by_email(db, email).await?;
    user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user.user_id))
        .filter(user_roles::Column::Role.eq(role))
        .exec(db)
        .await?;
    let event = AuditEvent {
        actor_id: None,
        ..AuditEvent::by_user("auth", "role.revoked", user.user_id)
    };
    audit::record(db, event.with_data(serde_json::json!({"role": role}))).await?;
    Ok(user.user_id)
}
