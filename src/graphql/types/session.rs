use async_graphql::{
    Context, ID, Object,
    connection::{Connection, Edge},
};

use crate::{
    auth::Principal,
    graphql::{
        caller::require_user,
        ids::{self, Kind},
        scalars::Timestamp,
    },
    pagination::{Cursor, Page},
};
use entity::sessions;

/// A signed-in device: one open session. Where it signed in from is not
/// shown (the address is kept only coarse, for support).
pub struct Session(pub sessions::Model);

impl Session {
    pub fn connection(page: Page<sessions::Model>) -> Connection<String, Session> {
        let mut connection = Connection::new(page.has_newer, page.has_older);
        connection.edges.extend(page.rows.into_iter().map(|row| {
            let cursor = Cursor {
                key: row.created_at,
                id: row.session_id,
            }
            .encode();
            Edge::new(cursor, Session(row))
        }));
        connection
    }
}

#[Object]
impl Session {
    async fn id(&self) -> ID {
        ids::encode(Kind::Session, self.0.session_id)
    }

    /// The name the device gave when it logged in (`login(input: {deviceName})`).
    async fn device_name(&self) -> Option<&str> {
        self.0.device_name.as_deref()
    }

    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    /// When the session was last used, to the minute.
    async fn last_seen_at(&self) -> Timestamp {
        self.0.last_seen_at.into()
    }

    /// Whether this is the session making the request.
    async fn current(&self, ctx: &Context<'_>) -> bool {
        require_user(ctx).is_ok_and(|who: &Principal| who.session_id == self.0.session_id)
    }
}
