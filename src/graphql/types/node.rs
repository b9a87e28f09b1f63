use async_graphql::Interface;

use super::{Account, PaymentMethod, PaymentRequest, SupportAction, Transaction, User, Wallet};

/// An object with a globally unique, opaque ID, fetchable with `node(id)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "async_graphql::ID"))]
pub enum Node {
    User(User),
    Wallet(Wallet),
    Transaction(Transaction),
    Account(Account),
    PaymentMethod(PaymentMethod),
    PaymentRequest(PaymentRequest),
    SupportAction(SupportAction),
}
