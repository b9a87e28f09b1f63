use crate::graphql::scalars::{CalendarDate, Timestamp};
use async_graphql::{
    ComplexObject, Context, Enum, ID, Object, SimpleObject, connection::Connection,
};
use std::borrow::Cow;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Account, AuditEntry, FraudCheck, PaymentMethod, PaymentRequest, PaymentRequestDirection,
    PaymentRequestStatus, Session, Transaction, TransactionFilterInput, Wallet,
};
use crate::{
    auth::UserStatus,
    customer::Address,
    graphql::{
        caller::{app, require_user},
        errors::{ApiError, ApiResult},
        ids::{self, Kind},
        loaders::{
            self, AccountsOf, Loaders, PartyName, PaymentMethodsOf, ProfileOf, UserById, WalletsOf,
        },
        support::audit_read,
    },
    ledger,
    pagination::PageRequest,
};
use entity::{user_profiles, users};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "UserStatus")]
pub enum UserStatusValue {
    /// May log in and move money.
    Active,
    /// May log in and read, but moves no money.
    Suspended,
    /// Cannot log in.
    Closed,
}

impl From<UserStatus> for UserStatusValue {
    fn from(s: UserStatus) -> Self {
        match s {
            // The fee account is never shown to a client (support reads
            // customers only); were it, it reads as the active user it acts as.
            UserStatus::Active | UserStatus::System => Self::Active,
            UserStatus::Suspended => Self::Suspended,
            UserStatus::Closed => Self::Closed,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::user_profiles::KycStatus")]
pub enum KycStatus {
    Pending,
    Verified,
    Rejected,
}

/// A customer, as they see themselves, or as a support agent sees them
/// (each such read of their data is audited).
pub struct User {
    id: Uuid,
    /// Read only when a field needs it: `me { wallets }` is answered from
    /// the token's user id without reading the `users` row.
    row: Option<users::Model>,
}

impl From<users::Model> for User {
    fn from(row: users::Model) -> Self {
        Self {
            id: row.user_id,
            row: Some(row),
        }
    }
}

impl User {
    /// A user whose row is loaded, through the request's loader, by the
    /// first field that needs it.
    pub fn by_id(id: Uuid) -> Self {
        Self { id, row: None }
    }

    async fn row(&self, ctx: &Context<'_>) -> ApiResult<Cow<'_, users::Model>> {
        if let Some(row) = &self.row {
            return Ok(Cow::Borrowed(row));
        }
        ctx.data_unchecked::<Loaders>()
            .load_one(UserById(self.id))
            .await
            .map_err(db)?
            .map(Cow::Owned)
            .ok_or_else(ApiError::not_found)
    }
}

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::User, self.id)
    }

    async fn email(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(self.row(ctx).await?.email.clone())
    }

    async fn first_name(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(self.row(ctx).await?.first_name.clone())
    }

    async fn last_name(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(self.row(ctx).await?.last_name.clone())
    }

    async fn phone(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.row(ctx).await?.phone.clone())
    }

    async fn status(&self, ctx: &Context<'_>) -> ApiResult<UserStatusValue> {
        Ok(self.row(ctx).await?.status.into())
    }

    async fn created_at(&self, ctx: &Context<'_>) -> ApiResult<Timestamp> {
        Ok(self.row(ctx).await?.created_at.into())
    }

    async fn profile(&self, ctx: &Context<'_>) -> ApiResult<Option<UserProfile>> {
        audit_read(ctx, self.id, "profile").await?;
        let loaders = ctx.data_unchecked::<Loaders>();
        let profile = loaders.load_one(ProfileOf(self.id)).await.map_err(db)?;
        Ok(profile.map(UserProfile::from))
    }

    /// One wallet per currency.
    async fn wallets(&self, ctx: &Context<'_>) -> ApiResult<Vec<Wallet>> {
        audit_read(ctx, self.id, "wallets").await?;
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.load_one(WalletsOf(self.id)).await.map_err(db)?;
        Ok(rows.unwrap_or_default().into_iter().map(Wallet).collect())
    }

    /// Linked bank accounts, for withdrawals.
    async fn accounts(&self, ctx: &Context<'_>) -> ApiResult<Vec<Account>> {
        audit_read(ctx, self.id, "accounts").await?;
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.load_one(AccountsOf(self.id)).await.map_err(db)?;
        Ok(rows.unwrap_or_default().into_iter().map(Account).collect())
    }

    /// Cards and bank accounts to pay in from.
    async fn payment_methods(&self, ctx: &Context<'_>) -> ApiResult<Vec<PaymentMethod>> {
        audit_read(ctx, self.id, "payment_methods").await?;
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders
            .load_one(PaymentMethodsOf(self.id))
            .await
            .map_err(db)?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(PaymentMethod)
            .collect())
    }

    /// Transactions this user sent or received, newest first.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<TransactionFilterInput>,
    ) -> ApiResult<Connection<String, Transaction>> {
        audit_read(ctx, self.id, "transactions").await?;
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref())?;
        let filter = filter
            .map(TransactionFilterInput::into_domain)
            .unwrap_or_default();
        let app = app(ctx);
        let readers = crate::graphql::caller::readers(ctx, self.id);
        let (user_id, filter) = (self.id, &filter);
        let rows = if loaders::page_shows_parties(ctx) {
            let rows = app
                .reads
                .read(&readers, |db| async move {
                    ledger::transactions_with_parties_of(&db, user_id, filter, page).await
                })
                .await?;
            let names: Vec<_> = rows.rows.iter().flat_map(|r| r.party_names()).collect();
            loaders::feed_party_names(ctx, names).await;
            rows.map(|r| r.transaction)
        } else {
            app.reads
                .read(&readers, |db| async move {
                    ledger::transactions_of(&db, user_id, filter, page).await
                })
                .await?
        };
        loaders::prime_page(ctx, &rows.rows).await.map_err(db)?;
        Ok(Transaction::connection(rows))
    }

    /// Payment requests this user sent (`OUTGOING`) or is asked to pay
    /// (`INCOMING`); both without `direction`. Newest first.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn payment_requests(
        &self,
        ctx: &Context<'_>,
        direction: Option<PaymentRequestDirection>,
        status: Option<PaymentRequestStatus>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<String, PaymentRequest>> {
        audit_read(ctx, self.id, "payment_requests").await?;
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref())?;
        let app = app(ctx);
        let rows = app
            .retry
            .read(|| {
                ledger::payment_requests_of(
                    &app.db,
                    self.id,
                    direction.map(Into::into),
                    status.map(Into::into),
                    page,
                )
            })
            .await?;
        Ok(PaymentRequest::connection(rows))
    }

    /// The user's signed-in devices (open sessions), newest first. The
    /// user sees their own; support agents anyone's (each such read is
    /// audited).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Session>> {
        audit_read(ctx, self.id, "sessions").await?;
        let page = PageRequest::parse(first, after.as_deref(), None, None)?;
        let app = app(ctx);
        let rows = app
            .retry
            .read(|| app.auth.sessions_of(self.id, page))
            .await?;
        Ok(Session::connection(rows))
    }

    /// What happened to this user's account, newest first (the audit store's
    /// `user_id-index`). The user sees their own log; support agents see
    /// anyone's, including their own colleagues' reads of it, and each such
    /// read is itself audited. Others: `FORBIDDEN`.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, AuditEntry>> {
        let who = require_user(ctx)?;
        let limit = PageRequest::<DateTime<Utc>>::parse(first, None, None, None)?.limit as usize;
        let page = app(ctx)
            .audit
            .user_log(who.audit_reader(), self.id, limit, after.as_deref())
            .await?;
        Ok(AuditEntry::connection(page))
    }

    /// The fraud checks of this user's money movements, newest first.
    /// Support agents only (`FORBIDDEN` for customers, themselves included).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn fraud_checks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, FraudCheck>> {
        let who = require_user(ctx)?;
        let limit = PageRequest::<DateTime<Utc>>::parse(first, None, None, None)?.limit as usize;
        let page = app(ctx)
            .audit
            .fraud_checks(who.audit_reader(), self.id, limit, after.as_deref())
            .await?;
        Ok(FraudCheck::connection(page))
    }
}

fn db(e: std::sync::Arc<sea_orm::DbErr>) -> crate::graphql::errors::ApiError {
    e.into()
}

/// Personal details kept for KYC.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct UserProfile {
    pub date_of_birth: Option<CalendarDate>,
    pub kyc_status: KycStatus,
    #[graphql(skip)]
    address: Option<serde_json::Value>,
    pub updated_at: Timestamp,
}

#[ComplexObject]
impl UserProfile {
    async fn address(&self) -> Option<super::Address> {
        let value = self.address.clone()?;
        serde_json::from_value::<Address>(value)
            .ok()
            .map(super::Address::from)
    }
}

impl From<user_profiles::Model> for UserProfile {
    fn from(p: user_profiles::Model) -> Self {
        Self {
            date_of_birth: p.date_of_birth.map(CalendarDate),
            kyc_status: p.kyc_status.into(),
            address: p.address,
            updated_at: p.updated_at.into(),
        }
    }
}

/// The other side of a transaction: only a display name, never contact
/// details or wallets.
#[derive(SimpleObject)]
pub struct Party {
    /// First name and the initial of the last name, e.g. "Ada L."
    pub display_name: String,
}

impl Party {
    /// The user's party, through the request's user loader; `None` for
    /// no user (the outside side of a deposit, say) or one that is gone.
    pub async fn load(ctx: &Context<'_>, user_id: Option<uuid::Uuid>) -> ApiResult<Option<Self>> {
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let name = ctx
            .data_unchecked::<Loaders>()
            .load_one(PartyName(user_id))
            .await
            .map_err(ApiError::from)?;
        Ok(name.map(|display_name| Self { display_name }))
    }
}
