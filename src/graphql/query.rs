use async_graphql::{Context, ID, Object, connection::Connection};
use uuid::Uuid;

use super::{
    caller::{app, caller, require_user},
    errors::{ApiError, ApiResult},
    ids::{self, Kind},
    types::{
        Account, Change, Node, PaymentMethod, PaymentRequest, SupportAction, Transaction, User,
        Wallet,
    },
};
use crate::{auth::Caller, customer, ledger, pagination::PageRequest};
use entity::{transactions, users, wallets};

/// Everything a customer may ask, plus the support console's queries.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CustomerQuery, super::support::SupportQuery);

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// The caller; null without a token. A token that is bad, expired or
    /// revoked is `UNAUTHENTICATED`, not null.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        if matches!(caller(ctx), Caller::Anonymous) {
            return Ok(None);
        }
        // The token names the caller, and the request's standing check has
        // found them able to read: their row is read only if a field asks.
        let who = require_user(ctx)?;
        Ok(Some(User::by_id(who.user_id)))
    }

    /// Any object by its global ID, when the caller may see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        require_user(ctx)?;
        let (kind, key) = ids::decode_any("id", &id)?;
        let customers = &app(ctx).customers;
        let found = match kind {
            Kind::User => visible_user(ctx, key).await?.map(Node::User),
            Kind::Wallet => visible_wallet(ctx, key).await?.map(Node::Wallet),
            Kind::Transaction => visible_transaction(ctx, key).await?.map(Node::Transaction),
            Kind::Account => {
                let account = customers.bank_account(key).await?;
                visible(ctx, account, |a| vec![Some(a.user_id)], "account")
                    .await?
                    .map(|a| Node::Account(Account(a)))
            }
            Kind::PaymentMethod => {
                let method = customers.payment_method(key).await?;
                visible(ctx, method, |m| vec![Some(m.user_id)], "payment_method")
                    .await?
                    .map(|m| Node::PaymentMethod(PaymentMethod(m)))
            }
            Kind::PaymentRequest => {
                let app = app(ctx);
                let request = app
                    .retry
                    .read(|| ledger::payment_request_by_id(&app.db, key))
                    .await?;
                visible(
                    ctx,
                    request,
                    |r| vec![Some(r.requester_id), Some(r.payer_id)],
                    "payment_request",
                )
                .await?
                .map(|r| Node::PaymentRequest(PaymentRequest(r)))
            }
            // Support's own records: for anyone else they do not exist.
            Kind::SupportAction => match crate::graphql::support::require_support(ctx) {
                Ok(_) => Some(Node::SupportAction(SupportAction(
                    app(ctx).support.action(key).await?,
                ))),
                Err(_) => None,
            },
            // A session is not a Node: it is read through `User.sessions`.
            Kind::Session => None,
        };
        found.map(Some).ok_or_else(ApiError::not_found)
    }

    async fn wallet(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Wallet> {
        require_user(ctx)?;
        let key = ids::decode("id", Kind::Wallet, &id)?;
        visible_wallet(ctx, key)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    /// The caller's change feed, oldest first: every change of their
    /// transactions, wallets and payment requests, in the order it
    /// committed. Without `after`, from the oldest change still kept
    /// (`CHANGE_FEED_RETENTION_SECS`); an older or malformed cursor is
    /// `BAD_USER_INPUT` with `extensions.reason` `CURSOR_EXPIRED` or
    /// `CURSOR_INVALID`.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
    ) -> ApiResult<Connection<String, Change>> {
        let who = require_user(ctx)?.user_id;
        let limit = PageRequest::<i64>::parse(first, None, None, None)?.limit;
        let ledger = &app(ctx).ledger;
        let start = match &after {
            Some(cursor) => ledger.feed_from_replica(who, cursor).await?,
            None => ledger::Start::After(0),
        };
        let page = ledger.feed_page_replica(who, start, limit).await?;
        Ok(Change::connection(page.entries, after.is_some(), page.more))
    }

    async fn transaction(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Transaction> {
        require_user(ctx)?;
        let key = ids::decode("id", Kind::Transaction, &id)?;
        visible_transaction(ctx, key)
            .await?
            .ok_or_else(ApiError::not_found)
    }
}

/// `row` when the caller may see it (`support::sight`, from the users it
/// belongs to); a support agent's read of a customer's is audited as `what`.
/// `None` for a row the caller may not see, as for one that does not exist.
async fn visible<T>(
    ctx: &Context<'_>,
    row: Option<T>,
    owners: impl FnOnce(&T) -> Vec<Option<Uuid>>,
    what: &str,
) -> ApiResult<Option<T>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let reader = require_user(ctx)?;
    let seen = app(ctx)
        .support
        .may_see(reader, &owners(&row), what)
        .await?;
    Ok(seen.then_some(row))
}

pub(super) async fn visible_user(ctx: &Context<'_>, key: Uuid) -> ApiResult<Option<User>> {
    let app = app(ctx);
    let user = app
        .retry
        .read(|| customer::user_by_id(&app.db, key))
        .await?;
    let user = visible(ctx, user, |u: &users::Model| vec![Some(u.user_id)], "user").await?;
    Ok(user.map(User::from))
}

pub(super) async fn visible_wallet(ctx: &Context<'_>, key: Uuid) -> ApiResult<Option<Wallet>> {
    let app = app(ctx);
    let wallet = app
        .retry
        .read(|| ledger::wallet_by_id(&app.db, key))
        .await?;
    let wallet = visible(
        ctx,
        wallet,
        |w: &wallets::Model| vec![Some(w.user_id)],
        "wallet",
    )
    .await?;
    Ok(wallet.map(Wallet))
}

/// Through the transaction cache (status polling is the hottest read).
pub(super) async fn visible_transaction(
    ctx: &Context<'_>,
    key: Uuid,
) -> ApiResult<Option<Transaction>> {
    let app = app(ctx);
    let row = app
        .retry
        .read(|| ledger::transaction_by_id(&app.db, &app.transactions, key))
        .await?;
    let row = visible(
        ctx,
        row,
        |t: &transactions::Model| vec![t.sender_id, t.receiver_id],
        "transaction",
    )
    .await?;
    Ok(row.map(Transaction))
}
