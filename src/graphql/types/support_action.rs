use async_graphql::{
    Context, Enum, ID, Object,
    connection::{Connection, Edge},
};
use chrono::Utc;

use super::{Node, Party};
use crate::{
    four_eyes::{ActionKind, ActionStatus},
    graphql::{
        errors::ApiResult,
        ids::{self, Kind},
        query,
        scalars::Timestamp,
    },
    pagination::{Cursor, Page},
};
use entity::support_actions;

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::four_eyes::ActionKind")]
pub enum SupportActionKind {
    /// `refundTransaction` at or above `SUPPORT_APPROVAL_AMOUNT`.
    Refund,
    /// `holdFunds` at or above `SUPPORT_APPROVAL_AMOUNT`.
    Hold,
    /// `setUserStatus` to `CLOSED`.
    CloseAccount,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::four_eyes::ActionStatus")]
pub enum SupportActionStatus {
    /// Waiting for a second agent.
    Pending,
    /// Approved by a second agent, and carried out (`result`).
    Approved,
    Rejected,
    /// Not decided within 24 hours of being asked for.
    Expired,
}

/// A support action one agent asked for that waits for a second agent
/// (four eyes). Support only.
pub struct SupportAction(pub support_actions::Model);

impl SupportAction {
    pub fn connection(page: Page<support_actions::Model>) -> Connection<String, SupportAction> {
        let mut connection = Connection::new(page.has_newer, page.has_older);
        connection.edges.extend(page.rows.into_iter().map(|row| {
            let cursor = Cursor {
                key: row.created_at,
                id: row.action_id,
            }
            .encode();
            Edge::new(cursor, SupportAction(row))
        }));
        connection
    }

    fn status_now(&self) -> ActionStatus {
        ActionStatus::of(&self.0, Utc::now())
    }
}

#[Object]
impl SupportAction {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::SupportAction, self.0.action_id)
    }

    async fn kind(&self) -> Option<SupportActionKind> {
        Some(self.0.kind.into())
    }

    async fn status(&self) -> SupportActionStatus {
        self.status_now().into()
    }

    /// The agent who asked for it.
    async fn requested_by(&self, ctx: &Context<'_>) -> ApiResult<Option<Party>> {
        Party::load(ctx, Some(self.0.requested_by)).await
    }

    /// The second agent, once they approved it.
    async fn approved_by(&self, ctx: &Context<'_>) -> ApiResult<Option<Party>> {
        match self.status_now() {
            ActionStatus::Approved => Party::load(ctx, self.0.decided_by).await,
            _ => Ok(None),
        }
    }

    /// Why the first agent asked for it.
    async fn reason(&self) -> &str {
        &self.0.reason
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    async fn decided_at(&self) -> Option<Timestamp> {
        self.0.decided_at.map(Into::into)
    }

    /// What the approved action changed: the refund (a `Transaction`), the
    /// held `Wallet`, or the closed `User`.
    async fn result(&self, ctx: &Context<'_>) -> ApiResult<Option<Node>> {
        let Some(id) = self
            .0
            .result_id
            .filter(|_| self.status_now() == ActionStatus::Approved)
        else {
            return Ok(None);
        };
        Ok(match self.0.kind {
            ActionKind::Refund => query::visible_transaction(ctx, id)
                .await?
                .map(Node::Transaction),
            ActionKind::Hold => query::visible_wallet(ctx, id).await?.map(Node::Wallet),
            ActionKind::CloseAccount => query::visible_user(ctx, id).await?.map(Node::User),
        })
    }
}
