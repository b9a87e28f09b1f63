//! Mutations, one area per file.

mod auth;
mod bank_accounts;
mod money;
mod payment_methods;
mod payment_requests;
mod profile;
mod statements;
mod two_factor;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutations,
    two_factor::TwoFactorMutations,
    profile::ProfileMutations,
    bank_accounts::BankAccountMutations,
    payment_methods::PaymentMethodMutations,
    money::MoneyMutations,
    payment_requests::PaymentRequestMutations,
    statements::StatementMutations,
    crate::graphql::support::SupportMutations,
);
