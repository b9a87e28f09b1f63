//! A user's signed-in devices: their open sessions, listed, ended one by
//! one or all but the current one, and the note that a login comes from a
//! device not seen before.
//!
//! A device is the pair (device name, user agent) a login declared; it is
//! new for a user when none of their sessions, open or ended, carried that
//! pair. Sessions rows are kept after they end, so the history is theirs.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{Auth, AuthError, Principal, sessions::ClientInfo};
use crate::{
    audit::{self, AuditEvent},
    pagination::{Page, PageRequest, keyset},
};
use entity::sessions;

/// The user's open sessions (not revoked, not expired), newest first.
fn open_sessions(user_id: Uuid) -> sea_orm::Select<sessions::Entity> {
    sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .filter(sessions::Column::ExpiresAt.gt(Utc::now()))
}

/// Whether no session of the user carried this device name and user agent.
pub(super) async fn is_new_device<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<bool, DbErr> {
    let (name, agent) = super::sessions::stored_device(client);
    let mut query = sessions::Entity::find().filter(sessions::Column::UserId.eq(user_id));
    query = match name {
        Some(name) => query.filter(sessions::Column::DeviceName.eq(name)),
        None => query.filter(sessions::Column::DeviceName.is_null()),
    };
    query = match agent {
        Some(agent) => query.filter(sessions::Column::UserAgent.eq(agent)),
        None => query.filter(sessions::Column::UserAgent.is_null()),
    };
    let seen: Option<Uuid> = query
        .select_only()
        .column(sessions::Column::SessionId)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(seen.is_none())
}

/// The audit event of a login from a new device: what the user sees in
/// their log, so a login they did not make stands out.
pub(super) fn new_device_event(user_id: Uuid, client: &ClientInfo) -> AuditEvent {
    let (name, agent) = super::sessions::stored_device(client);
    AuditEvent::by_user("auth", "session.new_device", user_id).with_data(serde_json::json!({
        "deviceName": name,
        "userAgent": agent,
        "clientAddress": client.address.map(super::mask_address),
    }))
}

impl Auth {
    /// The caller's open sessions, newest first.
    pub async fn sessions_of(
        &self,
        user_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<sessions::Model>, DbErr> {
        let query = open_sessions(user_id);
        keyset(
            &self.db,
            query,
            sessions::Column::CreatedAt,
            sessions::Column::SessionId,
            page,
        )
        .await
    }

    /// Ends one of the caller's own open sessions on every instance at
    /// once. Another user's session, or one already ended, is unknown.
    pub async fn revoke_session(&self, who: &Principal, session_id: Uuid) -> Result<(), AuthError> {
        let found: Option<Uuid> = open_sessions(who.user_id)
            .filter(sessions::Column::SessionId.eq(session_id))
            .select_only()
            .column(sessions::Column::SessionId)
            .into_tuple()
            .one(&self.db)
            .await?;
        if found.is_none() {
            return Err(AuthError::UnknownSession);
        }
        self.sessions.revoke(who.user_id, session_id).await?;
        audit::record(
            &self.db,
            AuditEvent::by_user("auth", "session.revoked", who.user_id)
                .with_data(serde_json::json!({ "sessionId": session_id })),
        )
        .await?;
        Ok(())
    }

    /// Ends every open session of the caller but the one making the call.
    pub async fn logout_everywhere(&self, who: &Principal) -> Result<(), AuthError> {
        let others: Vec<Uuid> = open_sessions(who.user_id)
            .filter(sessions::Column::SessionId.ne(who.session_id))
            .select_only()
            .column(sessions::Column::SessionId)
            .into_tuple()
            .all(&self.db)
            .await?;
        for session_id in &others {
            self.sessions.revoke(who.user_id, *session_id).await?;
        }
        audit::record(
            &self.db,
            AuditEvent::by_user("auth", "session.logout_everywhere", who.user_id)
                .with_data(serde_json::json!({ "ended": others.len() })),
        )
        .await?;
        Ok(())
    }
}
