use async_graphql::{Context, ID, InputObject, Object, OneofObject};
use secrecy::SecretString;

use crate::{
    customer::{CardExpiry, CardNumber, NewBankAccount, NewPaymentMethod},
    graphql::{
        caller::{app, require_user},
        errors::ApiResult,
        ids::{self, Kind},
        types::{AccountType, PaymentMethod},
    },
};

#[derive(InputObject)]
pub struct CardInput {
    /// 12 to 19 digits with a valid check digit. Never stored or shown whole.
    pub number: String,
    pub expiry_month: i32,
    pub expiry_year: i32,
}

#[derive(InputObject)]
pub struct BankPaymentInput {
    pub account_type: AccountType,
    pub account_number: String,
    pub routing_number: String,
    pub bank_name: String,
}

/// Exactly one of `card` or `bank`.
#[derive(OneofObject)]
pub enum AddPaymentMethodInput {
    Card(CardInput),
    Bank(BankPaymentInput),
}

#[derive(Default)]
pub struct PaymentMethodMutations;

#[Object]
impl PaymentMethodMutations {
    /// Adds a card or bank account to pay in from. The first becomes the default.
    async fn add_payment_method(
        &self,
        ctx: &Context<'_>,
        input: AddPaymentMethodInput,
    ) -> ApiResult<PaymentMethod> {
        let who = require_user(ctx)?;
        let method = match input {
            AddPaymentMethodInput::Card(card) => NewPaymentMethod::Card {
                number: CardNumber::parse(&SecretString::from(card.number))?,
                expiry: CardExpiry::parse(
                    card.expiry_month,
                    card.expiry_year,
                    chrono::Utc::now().date_naive(),
                )?,
            },
            AddPaymentMethodInput::Bank(bank) => NewPaymentMethod::Bank(NewBankAccount::parse(
                bank.account_type.into(),
                SecretString::from(bank.account_number),
                &bank.routing_number,
                &bank.bank_name,
            )?),
        };
        Ok(PaymentMethod(
            app(ctx)
                .customers
                .add_payment_method(who.user_id, method)
                .await?,
        ))
    }

    async fn remove_payment_method(&self, ctx: &Context<'_>, id: ID) -> ApiResult<PaymentMethod> {
        let who = require_user(ctx)?;
        let key = ids::decode("id", Kind::PaymentMethod, &id)?;
        Ok(PaymentMethod(
            app(ctx)
                .customers
                .remove_payment_method(who.user_id, key)
                .await?,
        ))
    }

    /// Makes this method the default; the previous default stops being one.
    async fn set_default_payment_method(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<PaymentMethod> {
        let who = require_user(ctx)?;
        let key = ids::decode("id", Kind::PaymentMethod, &id)?;
        Ok(PaymentMethod(
            app(ctx)
                .customers
                .set_default_payment_method(who.user_id, key)
                .await?,
        ))
    }
}
