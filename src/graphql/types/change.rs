//! `Change`: one entry of the caller's change feed (`Query.changes`,
//! `Subscription.changes`), with the object it is about as it is now.

use async_graphql::{Object, connection::Connection};

use super::{PaymentRequest, Transaction, Wallet};
use crate::{
    graphql::scalars::Timestamp,
    ledger::{Changed, FeedEntry},
};

pub struct Change(pub FeedEntry);

#[Object]
impl Change {
    /// Where the feed stands after this change: pass it as `after` to
    /// read (or subscribe to) what follows.
    async fn cursor(&self) -> String {
        self.0.cursor.encode()
    }

    /// When the change was committed.
    async fn at(&self) -> Timestamp {
        self.0.cursor.at.into()
    }

    /// Set when a transaction of the caller's changed.
    async fn transaction(&self) -> Option<Transaction> {
        match &self.0.changed {
            Changed::Transaction(t) => Some(Transaction(t.clone())),
            _ => None,
        }
    }

    /// Set when a wallet of the caller's changed.
    async fn wallet(&self) -> Option<Wallet> {
        match &self.0.changed {
            Changed::Wallet(w) => Some(Wallet(w.clone())),
            _ => None,
        }
    }

    /// Set when a payment request the caller made or was asked to pay
    /// changed.
    async fn payment_request(&self) -> Option<PaymentRequest> {
        match &self.0.changed {
            Changed::PaymentRequest(r) => Some(PaymentRequest(r.clone())),
            _ => None,
        }
    }
}

impl Change {
    /// A page of the feed, oldest first.
    pub fn connection(
        entries: Vec<FeedEntry>,
        has_previous: bool,
        has_next: bool,
    ) -> Connection<String, Change> {
        let mut connection = Connection::new(has_previous, has_next);
        connection.edges.extend(
            entries
                .into_iter()
                .map(|e| async_graphql::connection::Edge::new(e.cursor.encode(), Change(e))),
        );
        connection
    }
}
