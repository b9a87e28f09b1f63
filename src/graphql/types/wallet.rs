use crate::graphql::scalars::Timestamp;
use async_graphql::{
    Context, ID, Object,
    connection::{Connection, Edge},
};

use super::{
    Money, Transaction,
    statement::{self, Statement},
};
use crate::{
    graphql::{
        caller::app,
        errors::{ApiError, ApiResult},
        ids::{self, Kind},
        loaders::{Loaders, TransactionById},
        scalars::CurrencyCode,
    },
    ledger,
    money::Currency,
    pagination::{Cursor, PageRequest},
};
use entity::{balance_history, wallets};
use sea_orm::ActiveEnum;

/// A user's balance in one currency. `balance = availableBalance + frozenBalance`.
pub struct Wallet(pub wallets::Model);

#[Object]
impl Wallet {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Wallet, self.0.wallet_id)
    }

    async fn currency(&self) -> CurrencyCode {
        CurrencyCode(self.0.currency.code().to_owned())
    }

    async fn balance(&self) -> Money {
        Money::of(self.0.balance_minor, self.0.currency)
    }

    /// What can be spent now.
    async fn available_balance(&self) -> Money {
        Money::of(self.0.available_balance_minor, self.0.currency)
    }

    /// Held: reserved for a pending withdrawal, a review, or by support.
    async fn frozen_balance(&self) -> Money {
        Money::of(self.0.frozen_balance_minor, self.0.currency)
    }

    /// Grows by one with every balance change; lets a client drop stale updates.
    async fn version(&self) -> i64 {
        self.0.version
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at.into()
    }

    /// Every change of the balance, newest first (in the order the changes
    /// were made).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, BalanceChange>> {
        let page = PageRequest::parse(first, after.as_deref(), None, None)?;
        let app = app(ctx);
        let readers = crate::graphql::caller::readers(ctx, self.0.user_id);
        let wallet_id = self.0.wallet_id;
        let page = app
            .reads
            .read(&readers, |db| async move {
                ledger::history_of(&db, wallet_id, page).await
            })
            .await?;
        let mut connection = Connection::new(page.has_newer, page.has_older);
        connection.edges.extend(
            page.rows
                .into_iter()
                .map(|row| BalanceChange::edge(row, self.0.currency)),
        );
        Ok(connection)
    }

    /// One calendar month (UTC) of this wallet: its balances at the start
    /// and end, its totals, and its balance changes. `month` is `YYYY-MM`.
    async fn statement(&self, ctx: &Context<'_>, month: String) -> ApiResult<Statement> {
        Statement::load(ctx, &self.0, &month).await
    }

    /// The balance after every change at or before `at`.
    async fn balance_at(&self, ctx: &Context<'_>, at: Timestamp) -> ApiResult<Money> {
        statement::balance_at(ctx, &self.0, at).await
    }
}

/// One change of a wallet's balance.
pub struct BalanceChange {
    row: balance_history::Model,
    currency: Currency,
}

impl BalanceChange {
    /// The change as an edge of a connection, its cursor its place in the
    /// wallet's sequence.
    pub(super) fn edge(
        row: balance_history::Model,
        currency: Currency,
    ) -> Edge<String, Self, async_graphql::connection::EmptyFields> {
        let cursor = Cursor {
            key: row.sequence,
            id: row.history_id,
        }
        .encode();
        Edge::new(cursor, Self { row, currency })
    }
}

#[Object]
impl BalanceChange {
    /// Signed: negative when money left the wallet.
    async fn amount(&self) -> Money {
        Money::of(self.row.amount_minor, self.currency)
    }

    async fn balance_before(&self) -> Money {
        Money::of(self.row.balance_before_minor, self.currency)
    }

    async fn balance_after(&self) -> Money {
        Money::of(self.row.balance_after_minor, self.currency)
    }

    /// e.g. `transfer_in`, `transfer_out`, `deposit`, `withdrawal`, `fee`, `release`, `refund_in`.
    async fn operation_type(&self) -> String {
        self.row.operation_type.to_value()
    }

    async fn transaction(&self, ctx: &Context<'_>) -> ApiResult<Option<Transaction>> {
        let Some(id) = self.row.transaction_id else {
            return Ok(None);
        };
        let row = ctx
            .data_unchecked::<Loaders>()
            .load_one(TransactionById(id))
            .await
            .map_err(ApiError::from)?;
        Ok(row.map(Transaction))
    }

    async fn created_at(&self) -> Timestamp {
        self.row.created_at.into()
    }
}
