//! A month's statement as a CSV file (RFC 4180), and the signed links that
//! fetch it without an `Authorization` header (`GET /exports/<token>`).
//!
//! The columns are `CSV_COLUMNS`; amounts are plain signed decimals with
//! the currency's digits. `amount` is the change before fees (as a
//! statement's totals count it) and `fee` the fee the wallet paid, as a
//! negative number, so `balance_after = balance_before + amount + fee`.
//! A text cell that a spreadsheet would run as a formula is prefixed
//! with `'`.

use std::{borrow::Cow, collections::HashMap};

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use sea_orm::{ActiveEnum, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::statements::{Month, fee_paid, lines_of};
use crate::{
    crypto::{LinkError, LinkSigner},
    money::{Currency, format_minor},
};
use entity::{MinorUnit, balance_history, transactions, wallets};

/// How long an export link works.
pub const EXPORT_LINK_TTL_SECS: i64 = 300;

/// The header row.
pub const CSV_COLUMNS: [&str; 11] = [
    "created_at",
    "transaction_id",
    "type",
    "status",
    "description",
    "counterparty",
    "amount",
    "fee",
    "balance_before",
    "balance_after",
    "currency",
];

/// What a link grants: one month of one wallet.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExportGrant {
    wallet: Uuid,
    month: String,
    /// Who asked for it (the owner, or a support agent).
    by: Uuid,
}

/// Signs and reads export links; the base URL is where clients reach this
/// service (`PAYGRAPH_PUBLIC_URL`).
#[derive(Clone)]
pub struct StatementExports {
    signer: LinkSigner,
    base_url: String,
}

impl StatementExports {
    pub fn new(jwt_secret: &[u8], base_url: &str) -> Self {
        Self {
            signer: LinkSigner::derive(jwt_secret, "statement-export"),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// A link to `month` of the wallet for `requested_by`, who may see it
    /// (the caller checked), and when it stops working.
    pub fn link(
        &self,
        wallet_id: Uuid,
        month: Month,
        requested_by: Uuid,
    ) -> (String, DateTime<Utc>) {
        // Whole seconds: the expiry a client is told is the one signed.
        let expires_at = Utc::now().trunc_subsecs(0) + Duration::seconds(EXPORT_LINK_TTL_SECS);
        let grant = ExportGrant {
            wallet: wallet_id,
            month: month.to_string(),
            by: requested_by,
        };
        let token = self.signer.sign(grant, expires_at);
        (format!("{}/exports/{token}", self.base_url), expires_at)
    }

    /// The wallet and month a link's token grants.
    pub fn grant(&self, token: &str) -> Result<(Uuid, Month), LinkError> {
        let grant: ExportGrant = self.signer.verify(token)?;
        let month = Month::parse("month", &grant.month).map_err(|_| LinkError::Invalid)?;
        Ok((grant.wallet, month))
    }
}

/// One line of a statement with what the file shows of it.
pub struct StatementLine {
    pub change: balance_history::Model,
    pub transaction: Option<transactions::Model>,
    /// The other party's display name, for a payment between two users.
    pub counterparty: Option<String>,
}

/// Rows read per statement.
const PAGE: u64 = 500;

/// Every line of `month` of `wallet`, oldest first, with its transaction
/// and counterparty: three statements per 500 lines.
pub async fn statement_lines(
    db: &DatabaseConnection,
    wallet: &wallets::Model,
    month: Month,
) -> Result<Vec<StatementLine>, DbErr> {
    let mut lines = Vec::new();
    let mut after = None;
    let mut names: HashMap<Uuid, String> = HashMap::new();
    loop {
        let page = lines_of(db, wallet.wallet_id, month, PAGE, after).await?;
        after = page.rows.last().map(|r| crate::pagination::Cursor {
            key: r.sequence,
            id: r.history_id,
        });
        let ids: Vec<Uuid> = page.rows.iter().filter_map(|r| r.transaction_id).collect();
        let mut found: HashMap<Uuid, transactions::Model> = transactions::Entity::find()
            .filter(transactions::Column::TransactionId.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.transaction_id, t))
            .collect();
        let unnamed: Vec<Uuid> = found
            .values()
            .filter_map(|t| counterpart(t, wallet))
            .filter(|id| !names.contains_key(id))
            .collect();
        if !unnamed.is_empty() {
            names.extend(crate::customer::display_names_of(db, &unnamed).await?);
        }
        for change in page.rows {
            let transaction = change.transaction_id.and_then(|id| found.remove(&id));
            let counterparty = transaction
                .as_ref()
                .and_then(|t| counterpart(t, wallet))
                .and_then(|id| names.get(&id).cloned());
            lines.push(StatementLine {
                change,
                transaction,
                counterparty,
            });
        }
        if !page.has_newer {
            return Ok(lines);
        }
    }
}

/// The other user of a payment that moved money in or out of `wallet`;
/// none for a deposit or withdrawal (its other side is outside).
fn counterpart(t: &transactions::Model, wallet: &wallets::Model) -> Option<Uuid> {
    let other = if t.sender_wallet_id == Some(wallet.wallet_id) {
        t.receiver_id
    } else if t.receiver_wallet_id == Some(wallet.wallet_id) {
        t.sender_id
    } else {
        None
    };
    other.filter(|id| *id != wallet.user_id)
}

/// A text cell a spreadsheet cannot run: one that starts with a formula's
/// first character (`=`, `+`, `-`, `@`, or a tab or carriage return, which
/// some spreadsheets skip before one) gets a leading `'`.
fn text_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The statement's CSV bytes: a header row, then one row per line, each
/// ending in CRLF; fields quoted only when they hold a comma, a quote or a
/// line break. `transaction_id` writes a transaction's ID as clients know it.
pub fn write_csv(
    lines: &[StatementLine],
    currency: Currency,
    transaction_id: impl Fn(Uuid) -> String,
) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let io = "writing to memory cannot fail";
    out.write_record(CSV_COLUMNS).expect(io);
    let money = |minor: MinorUnit| format_minor(minor.get(), currency);
    for line in lines {
        let t = line.transaction.as_ref();
        let c = &line.change;
        let fee = fee_paid(c, t);
        let record = [
            c.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            t.map(|t| transaction_id(t.transaction_id))
                .unwrap_or_default(),
            t.map(|t| t.transaction_type.to_value().to_uppercase())
                .unwrap_or_default(),
            t.map(|t| t.status.to_value().to_uppercase())
                .unwrap_or_default(),
            t.and_then(|t| t.description.as_deref())
                .map(|d| text_cell(d).into_owned())
                .unwrap_or_default(),
            line.counterparty
                .as_deref()
                .map(|n| text_cell(n).into_owned())
                .unwrap_or_default(),
            money(c.amount_minor + fee),
            money(-fee),
            money(c.balance_before_minor),
            money(c.balance_after_minor),
            currency.code().to_owned(),
        ];
        out.write_record(&record).expect(io);
    }
    out.into_inner().expect(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::balance_history::Operation;

    fn line(op: Operation, amount: i64, before: i64, fee: i64, description: &str) -> StatementLine {
        let id = Uuid::from_u128(7);
        let at = "2025-12-01T10:00:00.5Z".parse().unwrap();
        StatementLine {
            change: balance_history::Model {
                history_id: Uuid::from_u128(1),
                wallet_id: Uuid::from_u128(2),
                sequence: 1,
                transaction_id: Some(id),
                amount_minor: amount.into(),
                balance_before_minor: before.into(),
                balance_after_minor: (before + amount).into(),
                operation_type: op,
                created_at: at,
            },
            transaction: Some(transactions::Model {
                transaction_id: id,
                sender_id: None,
                receiver_id: None,
                sender_wallet_id: None,
                receiver_wallet_id: None,
                amount_minor: amount.abs().into(),
                currency: Currency::parse("USD").unwrap(),
                transaction_type: transactions::TxType::Transfer,
                status: transactions::Status::PendingReview,
                payment_method_id: None,
                account_id: None,
                related_transaction_id: None,
                description: Some(description.into()),
                fees_minor: fee.into(),
                version: 1,
                created_at: at,
                updated_at: at,
                completed_at: None,
            }),
            counterparty: Some("@Eve E.".into()),
        }
    }

    fn csv_of(lines: &[StatementLine]) -> String {
        let usd = Currency::parse("USD").unwrap();
        String::from_utf8(write_csv(lines, usd, |id| format!("T{}", id.as_u128()))).unwrap()
    }

    #[test]
    fn cells_are_quoted_as_rfc_4180_says_and_formulas_are_neutralised() {
        let text = csv_of(&[
            line(
                Operation::TransferOut,
                -1010,
                5000,
                10,
                "two\r\nlines, \"quoted\"",
            ),
            line(Operation::TransferIn, 500, 3990, 0, "+1 555"),
            line(Operation::Deposit, 9680, 0, 320, "-5"),
            line(Operation::RefundIn, 100, 0, 0, "plain"),
        ]);
        assert_eq!(
            text,
            "created_at,transaction_id,type,status,description,counterparty,amount,fee,balance_before,balance_after,currency\r\n\
             2025-12-01T10:00:00.500Z,T7,TRANSFER,PENDING_REVIEW,\"two\r\nlines, \"\"quoted\"\"\",'@Eve E.,-10.00,-0.10,50.00,39.90,USD\r\n\
             2025-12-01T10:00:00.500Z,T7,TRANSFER,PENDING_REVIEW,'+1 555,'@Eve E.,5.00,0.00,39.90,44.90,USD\r\n\
             2025-12-01T10:00:00.500Z,T7,TRANSFER,PENDING_REVIEW,'-5,'@Eve E.,100.00,-3.20,0.00,96.80,USD\r\n\
             2025-12-01T10:00:00.500Z,T7,TRANSFER,PENDING_REVIEW,plain,'@Eve E.,1.00,0.00,0.00,1.00,USD\r\n"
        );
    }

    #[test]
    fn only_a_leading_formula_character_is_neutralised() {
        for (cell, shown) in [
            ("=SUM(A1)", "'=SUM(A1)"),
            ("@cmd", "'@cmd"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("\tx", "'\tx"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(text_cell(cell), shown);
        }
    }
}
