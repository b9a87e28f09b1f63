//! Money movement: wallets, deposits, transfers, withdrawals.

use async_graphql::{Context, ID, InputObject, Object};

use crate::{
    auth::Email,
    graphql::{
        caller::{app, require_user},
        errors::ApiResult,
        ids::{self, Kind},
        scalars::{CurrencyCode, Decimal},
        types::{Transaction, Wallet},
    },
    ledger::{
        DepositRequest, IdempotencyKey, PayingSession, TransferRequest, WithdrawRequest,
        parse_description,
    },
    money::{Amount, Currency},
    validation::InvalidInput,
};

fn currency(code: &CurrencyCode) -> Result<Currency, InvalidInput> {
    Currency::parse(&code.0).map_err(|e| InvalidInput::new("currency", e.to_string()))
}

/// An `amount` in the currency `code` names, each error on its field.
pub(super) fn amount_in(amount: &Decimal, code: &CurrencyCode) -> Result<Amount, InvalidInput> {
    Amount::parse(&amount.0, currency(code)?)
        .map_err(|e| InvalidInput::new("amount", e.to_string()))
}

#[derive(InputObject)]
pub struct CreateWalletInput {
    pub currency: CurrencyCode,
}

#[derive(InputObject)]
pub struct DepositInput {
    pub wallet_id: ID,
    pub payment_method_id: ID,
    /// In the wallet's currency, e.g. "25.00".
    pub amount: Decimal,
    /// 1 to 255 characters; the same key with the same input returns the original deposit.
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct TransferInput {
    pub recipient_email: String,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub description: Option<String>,
    /// 1 to 255 characters; the same key with the same input returns the original transfer.
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct WithdrawInput {
    pub wallet_id: ID,
    /// A linked bank account.
    pub account_id: ID,
    pub amount: Decimal,
    pub idempotency_key: String,
}

#[derive(Default)]
pub struct MoneyMutations;

#[Object]
impl MoneyMutations {
    /// Opens a wallet in a currency; one per currency.
    async fn create_wallet(
        &self,
        ctx: &Context<'_>,
        input: CreateWalletInput,
    ) -> ApiResult<Wallet> {
        let who = require_user(ctx)?;
        let currency = currency(&input.currency)?;
        Ok(Wallet(
            app(ctx).ledger.create_wallet(who.user_id, currency).await?,
        ))
    }

    /// Pays in from a card or bank payment method. Returns at `PENDING`;
    /// the processor settles it (`PROCESSING`, then `COMPLETED` or `FAILED`).
    /// The wallet is credited the amount less the deposit fee.
    async fn deposit(&self, ctx: &Context<'_>, input: DepositInput) -> ApiResult<Transaction> {
        let who = require_user(ctx)?;
        let req = DepositRequest {
            user_id: who.user_id,
            wallet_id: ids::decode("walletId", Kind::Wallet, &input.wallet_id)?,
            payment_method_id: ids::decode(
                "paymentMethodId",
                Kind::PaymentMethod,
                &input.payment_method_id,
            )?,
            amount: input.amount.0,
            idempotency_key: IdempotencyKey::parse(&input.idempotency_key)?,
        };
        Ok(Transaction(app(ctx).ledger.deposit(&req).await?))
    }

    /// Sends money to another user by email, at once: `COMPLETED`, or
    /// `PENDING_REVIEW` with the funds frozen when the fraud rules hold it.
    async fn transfer(&self, ctx: &Context<'_>, input: TransferInput) -> ApiResult<Transaction> {
        let who = require_user(ctx)?;
        let amount = amount_in(&input.amount, &input.currency)?;
        let recipient_email = Email::parse(&input.recipient_email)
            .map_err(|e| InvalidInput::new("recipientEmail", e.message))?;
        let req = TransferRequest {
            sender_id: who.user_id,
            recipient_email,
            amount,
            description: parse_description(input.description)?,
            idempotency_key: IdempotencyKey::parse(&input.idempotency_key)?,
            pays: None,
            session: PayingSession(who.session_id),
        };
        Ok(Transaction(app(ctx).ledger.transfer(req).await?))
    }

    /// Pays out to a linked bank account. The amount and the fee are
    /// reserved at once; the processor settles it asynchronously.
    async fn withdraw(&self, ctx: &Context<'_>, input: WithdrawInput) -> ApiResult<Transaction> {
        let who = require_user(ctx)?;
        let req = WithdrawRequest {
            user_id: who.user_id,
            wallet_id: ids::decode("walletId", Kind::Wallet, &input.wallet_id)?,
            account_id: ids::decode("accountId", Kind::Account, &input.account_id)?,
            amount: input.amount.0,
            idempotency_key: IdempotencyKey::parse(&input.idempotency_key)?,
            session: PayingSession(who.session_id),
        };
        Ok(Transaction(app(ctx).ledger.withdraw(&req).await?))
    }
}
