use async_graphql::{
    Context, Enum, ID, Object,
    connection::{Connection, Edge},
};
use chrono::Utc;

use super::{Money, Party, Transaction};
use crate::{
    graphql::{
        caller::app,
        errors::{ApiError, ApiResult},
        ids::{self, Kind},
        scalars::Timestamp,
    },
    ledger::{self, RequestStatus},
    pagination::{Cursor, Page},
};
use entity::payment_requests;

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::ledger::RequestStatus")]
pub enum PaymentRequestStatus {
    /// Waiting for the payer.
    Pending,
    /// Paid by the transfer in `transaction`.
    Paid,
    Declined,
    Cancelled,
    /// Not paid within its time (`expiresAt`).
    Expired,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::ledger::RequestDirection")]
pub enum PaymentRequestDirection {
    /// Requests the user is asked to pay.
    Incoming,
    /// Requests the user sent.
    Outgoing,
}

/// One user asking another for money. Only its two parties (and support)
/// can see it.
pub struct PaymentRequest(pub payment_requests::Model);

impl PaymentRequest {
    pub fn connection(page: Page<payment_requests::Model>) -> Connection<String, PaymentRequest> {
        let mut connection = Connection::new(page.has_newer, page.has_older);
        connection.edges.extend(page.rows.into_iter().map(|row| {
            let cursor = Cursor {
                key: row.created_at,
                id: row.payment_request_id,
            }
            .encode();
            Edge::new(cursor, PaymentRequest(row))
        }));
        connection
    }
}

#[Object]
impl PaymentRequest {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::PaymentRequest, self.0.payment_request_id)
    }

    async fn status(&self) -> PaymentRequestStatus {
        RequestStatus::of(&self.0, Utc::now()).into()
    }

    async fn amount(&self) -> Money {
        Money::of(self.0.amount_minor, self.0.currency)
    }

    /// Who asks for the money.
    async fn requester(&self, ctx: &Context<'_>) -> ApiResult<Option<Party>> {
        Party::load(ctx, Some(self.0.requester_id)).await
    }

    /// Who is asked to pay.
    async fn payer(&self, ctx: &Context<'_>) -> ApiResult<Option<Party>> {
        Party::load(ctx, Some(self.0.payer_id)).await
    }

    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// The payer's reason, when they declined it.
    async fn decline_reason(&self) -> Option<&str> {
        self.0.decline_reason.as_deref()
    }

    /// Grows with every change; lets a client drop stale updates.
    async fn version(&self) -> i64 {
        self.0.version
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    /// After this moment a pending request is `EXPIRED` and cannot be paid.
    async fn expires_at(&self) -> Timestamp {
        self.0.expires_at.into()
    }

    /// The transfer that paid it.
    async fn transaction(&self, ctx: &Context<'_>) -> ApiResult<Option<Transaction>> {
        let Some(id) = self.0.transaction_id else {
            return Ok(None);
        };
        let app = app(ctx);
        let row = app
            .retry
            .read(|| ledger::transaction_by_id(&app.db, &app.transactions, id))
            .await
            .map_err(ApiError::from)?;
        Ok(row.map(Transaction))
    }
}
