//! A wallet's monthly statement and its balance at an instant.

use async_graphql::{Context, Object, connection::Connection};

use super::{Money, wallet::BalanceChange};
use crate::{
    graphql::{
        caller::{app, readers},
        errors::ApiResult,
        scalars::Timestamp,
    },
    ledger::{self, Month},
    pagination::PageRequest,
};
use entity::wallets;

/// A wallet's month, as `Wallet.statement` answers it.
pub struct Statement {
    wallet: wallets::Model,
    statement: ledger::Statement,
}

impl Statement {
    /// `month` (`YYYY-MM`, else `BAD_USER_INPUT` on `month`) of `wallet`.
    pub(super) async fn load(
        ctx: &Context<'_>,
        wallet: &wallets::Model,
        month: &str,
    ) -> ApiResult<Self> {
        let month = Month::parse("month", month)?;
        let app = app(ctx);
        let statement = app
            .reads
            .read(&readers(ctx, wallet.user_id), |db| async move {
                ledger::statement_of(&db, wallet.wallet_id, month).await
            })
            .await?;
        Ok(Self {
            wallet: wallet.clone(),
            statement,
        })
    }

    fn money(&self, minor: i64) -> Money {
        Money::of(minor.into(), self.wallet.currency)
    }
}

/// `Wallet.balanceAt`.
pub(super) async fn balance_at(
    ctx: &Context<'_>,
    wallet: &wallets::Model,
    at: Timestamp,
) -> ApiResult<Money> {
    let app = app(ctx);
    let minor = app
        .reads
        .read(&readers(ctx, wallet.user_id), |db| async move {
            ledger::balance_at(&db, wallet.wallet_id, at.0).await
        })
        .await?;
    Ok(Money::of(minor.into(), wallet.currency))
}

/// One calendar month (UTC) of a wallet. Totals are gross of fees: a card
/// deposit of 100.00 with a 3.20 fee is 100.00 in `totalIn` and 3.20 in
/// `totalFees`, though its one balance change is +96.80. Always
/// `closingBalance = openingBalance + totalIn - totalOut - totalFees`, and
/// a month's closing balance is the next month's opening balance. Holds
/// move nothing. A month not yet over shows its changes so far.
#[Object]
impl Statement {
    /// `YYYY-MM`.
    async fn month(&self) -> String {
        self.statement.month.to_string()
    }

    /// The balance when the month began.
    async fn opening_balance(&self) -> Money {
        self.money(self.statement.opening)
    }

    /// The balance when the month ended (or now, for the current month).
    async fn closing_balance(&self) -> Money {
        self.money(self.statement.closing)
    }

    /// Money that came in, before any fee taken from it.
    async fn total_in(&self) -> Money {
        self.money(self.statement.total_in)
    }

    /// Money that went out, before any fee added to it.
    async fn total_out(&self) -> Money {
        self.money(self.statement.total_out)
    }

    /// Every fee this wallet paid.
    async fn total_fees(&self) -> Money {
        self.money(self.statement.total_fees)
    }

    /// The month's balance changes, oldest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn lines(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, BalanceChange>> {
        let page = PageRequest::<i64>::parse(first, after.as_deref(), None, None)?;
        let app = app(ctx);
        let (wallet_id, month) = (self.wallet.wallet_id, self.statement.month);
        let page = app
            .reads
            .read(&readers(ctx, self.wallet.user_id), |db| async move {
                ledger::lines_of(&db, wallet_id, month, page.limit, page.cursor).await
            })
            .await?;
        let mut connection = Connection::new(page.has_older, page.has_newer);
        connection.edges.extend(
            page.rows
                .into_iter()
                .map(|row| BalanceChange::edge(row, self.wallet.currency)),
        );
        Ok(connection)
    }
}
