//! The support console (role SUPPORT). Every field here is hidden from
//! other callers' introspection and guarded anyway; the domain calls take
//! a `SupportAgent`, so the role is checked twice.

use async_graphql::{
    Context, Enum, ID, InputObject, Object, connection::Connection, connection::Edge,
};
use uuid::Uuid;

use super::{
    caller::{app, caller},
    errors::{ApiError, ApiResult, Code},
    ids::{self, Kind},
    scalars::Decimal,
    types::{SupportAction, SupportActionStatus, Transaction, User, UserStatusValue, Wallet},
};
use crate::{
    auth::{Caller, SupportAgent, UserStatus},
    ledger::{HoldChange, IdempotencyKey},
    pagination::{Cursor, PageRequest},
    support::KycStatus,
};

/// Shows a field in introspection only to support agents.
pub fn visible_to_support(ctx: &Context<'_>) -> bool {
    matches!(ctx.data_opt::<Caller>(), Some(Caller::User(p)) if p.as_support().is_some())
}

/// The caller as a support agent: `UNAUTHENTICATED` without a valid
/// session, `FORBIDDEN` without the role.
pub fn require_support(ctx: &Context<'_>) -> ApiResult<SupportAgent> {
    match caller(ctx) {
        Caller::User(p) => p
            .as_support()
            .ok_or_else(|| ApiError::new(Code::Forbidden, "this requires the SUPPORT role")),
        Caller::Anonymous | Caller::Rejected => Err(ApiError::unauthenticated()),
    }
}

/// Lets whoever may see `owner`'s data read it (`support::sight`: the
/// owner, or an agent, audited); refuses anyone else.
pub async fn audit_read(ctx: &Context<'_>, owner: Uuid, what: &str) -> ApiResult<()> {
    let Caller::User(reader) = caller(ctx) else {
        return Err(ApiError::unauthenticated());
    };
    if app(ctx)
        .support
        .may_see(reader, &[Some(owner)], what)
        .await?
    {
        return Ok(());
    }
    require_support(ctx)?;
    Err(ApiError::not_found())
}

#[derive(Default)]
pub struct SupportQuery;

#[Object]
impl SupportQuery {
    /// Customers whose email, name or phone contains `query`, newest first.
    #[graphql(visible = "visible_to_support")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, User>> {
        let agent = require_support(ctx)?;
        let page = PageRequest::parse(first, after.as_deref(), None, None)?;
        let page = app(ctx)
            .support
            .search(agent, query.as_deref(), page)
            .await?;
        let mut connection = Connection::new(page.has_newer, page.has_older);
        connection.edges.extend(page.rows.into_iter().map(|u| {
            Edge::new(
                Cursor {
                    key: u.created_at,
                    id: u.user_id,
                }
                .encode(),
                User::from(u),
            )
        }));
        Ok(connection)
    }

    /// One customer, by ID.
    #[graphql(visible = "visible_to_support")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<User> {
        let agent = require_support(ctx)?;
        let key = ids::decode("id", Kind::User, &id)?;
        Ok(User::from(app(ctx).support.customer(agent, key).await?))
    }

    /// Support actions waiting for (or decided by) a second agent, newest
    /// first.
    #[graphql(visible = "visible_to_support")]
    async fn support_actions(
        &self,
        ctx: &Context<'_>,
        status: Option<SupportActionStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, SupportAction>> {
        require_support(ctx)?;
        let page = PageRequest::parse(first, after.as_deref(), None, None)?;
        let page = app(ctx)
            .support
            .actions(status.map(Into::into), page)
            .await?;
        Ok(SupportAction::connection(page))
    }
}

#[derive(InputObject)]
pub struct HoldInput {
    pub wallet_id: ID,
    pub amount: Decimal,
    /// Why; kept in the audit log.
    pub reason: String,
}

#[derive(InputObject)]
pub struct ReviewTransactionInput {
    pub transaction_id: ID,
    pub approve: bool,
    pub note: String,
}

#[derive(InputObject)]
pub struct SetUserStatusInput {
    pub user_id: ID,
    pub status: UserStatusValue,
    pub reason: String,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "KycStatusValue")]
pub enum KycStatusInput {
    Pending,
    Verified,
    Rejected,
}

#[derive(InputObject)]
pub struct SetKycStatusInput {
    pub user_id: ID,
    pub status: KycStatusInput,
    pub note: String,
}

#[derive(InputObject)]
pub struct RefundTransactionInput {
    pub transaction_id: ID,
    pub reason: String,
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct RejectSupportActionInput {
    pub id: ID,
    /// Why; kept in the audit log.
    pub reason: String,
}

#[derive(Default)]
pub struct SupportMutations;

impl SupportMutations {
    async fn hold(
        &self,
        ctx: &Context<'_>,
        input: HoldInput,
        change: HoldChange,
    ) -> ApiResult<Wallet> {
        let agent = require_support(ctx)?;
        let wallet = ids::decode("walletId", Kind::Wallet, &input.wallet_id)?;
        let wallet = app(ctx)
            .ledger
            .change_hold(agent, wallet, &input.amount.0, &input.reason, change)
            .await?;
        Ok(Wallet(wallet))
    }
}

#[Object]
impl SupportMutations {
    /// Moves money of a customer's wallet from available to frozen.
    #[graphql(visible = "visible_to_support")]
    async fn hold_funds(&self, ctx: &Context<'_>, input: HoldInput) -> ApiResult<Wallet> {
        self.hold(ctx, input, HoldChange::Hold).await
    }

    /// Moves held money back to available (never money reserved for a payment in flight).
    #[graphql(visible = "visible_to_support")]
    async fn release_hold(&self, ctx: &Context<'_>, input: HoldInput) -> ApiResult<Wallet> {
        self.hold(ctx, input, HoldChange::Release).await
    }

    /// Completes (approve) or cancels a `PENDING_REVIEW` payment.
    #[graphql(visible = "visible_to_support")]
    async fn review_transaction(
        &self,
        ctx: &Context<'_>,
        input: ReviewTransactionInput,
    ) -> ApiResult<Transaction> {
        let agent = require_support(ctx)?;
        let id = ids::decode("transactionId", Kind::Transaction, &input.transaction_id)?;
        Ok(Transaction(
            app(ctx)
                .ledger
                .review(agent, id, input.approve, &input.note)
                .await?,
        ))
    }

    /// Refunds a completed transfer (a REFUND transaction; the original becomes REVERSED).
    #[graphql(visible = "visible_to_support")]
    async fn refund_transaction(
        &self,
        ctx: &Context<'_>,
        input: RefundTransactionInput,
    ) -> ApiResult<Transaction> {
        let agent = require_support(ctx)?;
        let id = ids::decode("transactionId", Kind::Transaction, &input.transaction_id)?;
        let key = IdempotencyKey::parse(&input.idempotency_key)?;
        Ok(Transaction(
            app(ctx)
                .ledger
                .refund(agent, id, &input.reason, &key)
                .await?,
        ))
    }

    #[graphql(visible = "visible_to_support")]
    async fn set_user_status(
        &self,
        ctx: &Context<'_>,
        input: SetUserStatusInput,
    ) -> ApiResult<User> {
        let agent = require_support(ctx)?;
        let id = ids::decode("userId", Kind::User, &input.user_id)?;
        let status = match input.status {
            UserStatusValue::Active => UserStatus::Active,
            UserStatusValue::Suspended => UserStatus::Suspended,
            UserStatusValue::Closed => UserStatus::Closed,
        };
        Ok(User::from(
            app(ctx)
                .support
                .set_user_status(agent, id, status, &input.reason)
                .await?,
        ))
    }

    /// Approves another agent's pending action, which runs at once.
    #[graphql(visible = "visible_to_support")]
    async fn approve_support_action(&self, ctx: &Context<'_>, id: ID) -> ApiResult<SupportAction> {
        let agent = require_support(ctx)?;
        let key = ids::decode("id", Kind::SupportAction, &id)?;
        Ok(SupportAction(app(ctx).support.approve(agent, key).await?))
    }

    /// Rejects another agent's pending action; nothing runs.
    #[graphql(visible = "visible_to_support")]
    async fn reject_support_action(
        &self,
        ctx: &Context<'_>,
        input: RejectSupportActionInput,
    ) -> ApiResult<SupportAction> {
        let agent = require_support(ctx)?;
        let key = ids::decode("id", Kind::SupportAction, &input.id)?;
        Ok(SupportAction(
            app(ctx).support.reject(agent, key, &input.reason).await?,
        ))
    }

    #[graphql(visible = "visible_to_support")]
    async fn set_kyc_status(&self, ctx: &Context<'_>, input: SetKycStatusInput) -> ApiResult<User> {
        let agent = require_support(ctx)?;
        let id = ids::decode("userId", Kind::User, &input.user_id)?;
        let status = match input.status {
            KycStatusInput::Pending => KycStatus::Pending,
            KycStatusInput::Verified => KycStatus::Verified,
            KycStatusInput::Rejected => KycStatus::Rejected,
        };
        Ok(User::from(
            app(ctx)
                .support
                .set_kyc_status(agent, id, status, &input.note)
                .await?,
        ))
    }
}
