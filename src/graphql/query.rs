use async_graphql::{Context, ID, Object};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::{
    caller::{app, caller, require_user},
    errors::{ApiError, ApiResult},
    ids::{self, Kind},
    types::{Account, Node, PaymentMethod, Transaction, User, Wallet},
};
use crate::{auth::Caller, ledger};
use entity::users;

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
        let who = require_user(ctx)?;
        own_user(ctx, who.user_id, who.user_id).await
    }

    /// Any object by its global ID, when the caller may see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        let who = require_user(ctx)?.user_id;
        let (kind, key) = ids::decode_any("id", &id)?;
        let found = match kind {
            Kind::User => own_user(ctx, who, key).await?.map(Node::User),
            Kind::Wallet => own_wallet(ctx, who, key).await?.map(Node::Wallet),
            Kind::Transaction => own_transaction(ctx, who, key).await?.map(Node::Transaction),
            Kind::Account => Some(Node::Account(Account(
                app(ctx).customers.bank_account(who, key).await?,
            ))),
            Kind::PaymentMethod => Some(Node::PaymentMethod(PaymentMethod(
                app(ctx).customers.payment_method(who, key).await?,
            ))),
        };
        found.map(Some).ok_or_else(ApiError::not_found)
    }

    async fn wallet(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Wallet> {
        let who = require_user(ctx)?.user_id;
        let key = ids::decode("id", Kind::Wallet, &id)?;
        own_wallet(ctx, who, key)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    async fn transaction(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Transaction> {
        let who = require_user(ctx)?.user_id;
        let key = ids::decode("id", Kind::Transaction, &id)?;
        own_transaction(ctx, who, key)
            .await?
            .ok_or_else(ApiError::not_found)
    }
}

async fn own_user(ctx: &Context<'_>, who: Uuid, key: Uuid) -> ApiResult<Option<User>> {
    if key != who {
        return Ok(None);
    }
    let app = app(ctx);
    let user = app
        .retry
        .read(|| users::Entity::find_by_id(key).one(&app.db))
        .await?;
    Ok(user.map(User))
}

pub(super) async fn own_wallet(
    ctx: &Context<'_>,
    who: Uuid,
    key: Uuid,
) -> ApiResult<Option<Wallet>> {
    let app = app(ctx);
    let wallet = app
        .retry
        .read(|| ledger::wallet_of(&app.db, who, key))
        .await?;
    Ok(wallet.map(Wallet))
}

/// Through the transaction cache (status polling is the hottest read).
pub(super) async fn own_transaction(
    ctx: &Context<'_>,
    who: Uuid,
    key: Uuid,
) -> ApiResult<Option<Transaction>> {
    let app = app(ctx);
    let row = app
        .retry
        .read(|| ledger::transaction_for_party(&app.db, &app.transactions, who, key))
        .await?;
    Ok(row.map(Transaction))
}
