//! Statement exports: a signed link to a month's CSV.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use crate::{
    graphql::{
        caller::{app, require_user},
        errors::{ApiError, ApiResult},
        ids::{self, Kind},
        scalars::Timestamp,
    },
    ledger::{self, Month},
};

/// A statement file's format.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatementFormat {
    /// RFC 4180, UTF-8, CRLF line ends, a header row.
    #[default]
    Csv,
}

#[derive(InputObject)]
pub struct CreateStatementExportInput {
    pub wallet_id: ID,
    /// `YYYY-MM`, a calendar month in UTC.
    pub month: String,
    #[graphql(default)]
    pub format: StatementFormat,
}

/// A link to a statement file.
#[derive(SimpleObject)]
pub struct StatementExport {
    /// `GET` it, without an `Authorization` header, before `expiresAt`:
    /// the link itself is the permission, so hand it only to the
    /// downloader. The columns: `created_at,transaction_id,type,status,
    /// description,counterparty,amount,fee,balance_before,balance_after,
    /// currency`; `amount` is before fees and `fee` what the wallet paid
    /// (negative), so `balance_after = balance_before + amount + fee`. A
    /// text cell that starts with `=`, `+`, `-` or `@` is prefixed with `'`.
    pub url: String,
    /// Five minutes after it was made.
    pub expires_at: Timestamp,
}

#[derive(Default)]
pub struct StatementMutations;

#[Object]
impl StatementMutations {
    /// A short-lived link to one month of a wallet as a file. The wallet's
    /// owner may ask, and a support agent for a customer's wallet (audited,
    /// with the wallet and month).
    async fn create_statement_export(
        &self,
        ctx: &Context<'_>,
        input: CreateStatementExportInput,
    ) -> ApiResult<StatementExport> {
        let reader = require_user(ctx)?;
        let wallet_id = ids::decode("walletId", Kind::Wallet, &input.wallet_id)?;
        let month = Month::parse("month", &input.month)?;
        let StatementFormat::Csv = input.format;
        let app = app(ctx);
        let wallet = app
            .retry
            .read(|| ledger::wallet_by_id(&app.db, wallet_id))
            .await?
            .ok_or_else(ApiError::not_found)?;
        let allowed = app
            .support
            .may_export_statement(reader, wallet.user_id, wallet_id, &month.to_string())
            .await?;
        if !allowed {
            return Err(ApiError::not_found());
        }
        let (url, expires_at) = app.exports.link(wallet_id, month, reader.user_id);
        Ok(StatementExport {
            url,
            expires_at: expires_at.into(),
        })
    }
}
