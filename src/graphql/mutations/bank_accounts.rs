use async_graphql::{Context, InputObject, Object};
use secrecy::SecretString;

use crate::{
    customer::NewBankAccount,
    graphql::{
        caller::{app, require_user},
        errors::ApiResult,
        types::{Account, AccountType},
    },
};

#[derive(InputObject)]
pub struct LinkBankAccountInput {
    pub account_type: AccountType,
    /// 4 to 17 digits. Stored encrypted; shown only as its last four.
    pub account_number: String,
    /// The 9-digit ABA routing number.
    pub routing_number: String,
    pub bank_name: String,
}

#[derive(Default)]
pub struct BankAccountMutations;

#[Object]
impl BankAccountMutations {
    /// Links a bank account to withdraw to.
    async fn link_bank_account(
        &self,
        ctx: &Context<'_>,
        input: LinkBankAccountInput,
    ) -> ApiResult<Account> {
        let who = require_user(ctx)?;
        let new = NewBankAccount::parse(
            input.account_type.into(),
            SecretString::from(input.account_number),
            &input.routing_number,
            &input.bank_name,
        )?;
        Ok(Account(
            app(ctx)
                .customers
                .link_bank_account(who.user_id, new)
                .await?,
        ))
    }
}
