//! Writing the change feed: every operation lists what it changed (its
//! transactions, wallets and payment requests) and adds the entries to its
//! own writes, so the feed commits with the change or not at all.
//!
//! Each user's entries are numbered 1, 2, 3 ... by `change_heads`: the
//! operation moves the user's head forward by its number of entries and
//! numbers them from the head it finds. Moving the head takes its row's
//! lock until the commit, so two operations of one user commit in the
//! order of their numbers, whichever instance runs them: a reader that
//! has read up to n never finds a smaller number appear later. (SQLite
//! runs one writer at a time, which orders them the same way.)

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    EntityTrait, Set,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SubQueryStatement},
};
use uuid::Uuid;

use super::postings::{FEE_ACCOUNT_ID, db_time};
use crate::db::Writes;
use entity::{change_heads as heads, changes, payment_requests, transactions, wallets};

/// What an entry of the feed points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Transaction(Uuid),
    Wallet(Uuid),
    PaymentRequest(Uuid),
}

/// The entries of one operation, per user, in the order they were listed,
/// each once.
#[derive(Default)]
pub struct Feed {
    entries: BTreeMap<Uuid, Vec<Subject>>,
    seen: HashSet<(Uuid, Subject)>,
}

impl Feed {
    /// The transactions' and wallets' changes, for their parties.
    pub fn of(transactions: &[transactions::Model], wallets: &[wallets::Model]) -> Self {
        let mut feed = Self::default();
        for t in transactions {
            feed.transaction(t);
        }
        for w in wallets {
            feed.wallet(w);
        }
        feed
    }

    pub fn transaction(&mut self, t: &transactions::Model) -> &mut Self {
        for user in [t.sender_id, t.receiver_id].into_iter().flatten() {
            self.add(user, Subject::Transaction(t.transaction_id));
        }
        self
    }

    pub fn wallet(&mut self, w: &wallets::Model) -> &mut Self {
        self.add(w.user_id, Subject::Wallet(w.wallet_id))
    }

    pub fn payment_request(&mut self, r: &payment_requests::Model) -> &mut Self {
        self.request(r.payment_request_id, r.requester_id, r.payer_id)
    }

    /// A request known by its id and parties (its row not read).
    pub fn request(&mut self, id: Uuid, requester: Uuid, payer: Uuid) -> &mut Self {
        self.add(requester, Subject::PaymentRequest(id));
        self.add(payer, Subject::PaymentRequest(id))
    }

    fn add(&mut self, user: Uuid, subject: Subject) -> &mut Self {
        // The fee account is nobody's customer: nobody reads its feed, and
        // its head would be one lock every fee-paying payment waits for.
        if user != FEE_ACCOUNT_ID && self.seen.insert((user, subject)) {
            self.entries.entry(user).or_default().push(subject);
        }
        self
    }

    /// Adds the entries to `writes`: one upsert moving every user's head
    /// (users in id order, so two operations take the heads' locks in the
    /// same order), then one insert of the entries, numbered from the heads
    /// as moved. Call it last, just before the writes run: the heads are
    /// then the last locks the operation takes, and it holds them only for
    /// the end of its work.
    pub fn write(self, writes: &mut Writes, now: DateTime<Utc>) {
        if self.entries.is_empty() {
            return;
        }
        let now = db_time(now);
        let plus = Expr::col((heads::Entity, heads::Column::LastSequence)).add(Expr::col((
            Alias::new("excluded"),
            heads::Column::LastSequence,
        )));
        writes.insert(
            heads::Entity::insert_many(self.entries.iter().map(|(user, subjects)| {
                heads::ActiveModel {
                    user_id: Set(*user),
                    last_sequence: Set(subjects.len() as i64),
                }
            }))
            .on_conflict(
                OnConflict::column(heads::Column::UserId)
                    .value(heads::Column::LastSequence, plus)
                    .to_owned(),
            ),
        );
        let mut insert = Query::insert();
        insert.into_table(changes::Entity).columns([
            changes::Column::UserId,
            changes::Column::Sequence,
            changes::Column::TransactionId,
            changes::Column::WalletId,
            changes::Column::PaymentRequestId,
            changes::Column::ChangedAt,
        ]);
        for (user, subjects) in &self.entries {
            let n = subjects.len() as i64;
            for (i, subject) in subjects.iter().enumerate() {
                let head = Query::select()
                    .column(heads::Column::LastSequence)
                    .from(heads::Entity)
                    .and_where(Expr::col(heads::Column::UserId).eq(*user))
                    .to_owned();
                let sequence = Expr::SubQuery(None, Box::new(SubQueryStatement::from(head)))
                    .sub(n - 1 - i as i64);
                let id = |pick: fn(&Subject) -> Option<Uuid>| Expr::value(pick(subject));
                insert.values_panic([
                    Expr::value(*user),
                    sequence,
                    id(|s| match s {
                        Subject::Transaction(id) => Some(*id),
                        _ => None,
                    }),
                    id(|s| match s {
                        Subject::Wallet(id) => Some(*id),
                        _ => None,
                    }),
                    id(|s| match s {
                        Subject::PaymentRequest(id) => Some(*id),
                        _ => None,
                    }),
                    Expr::value(now),
                ]);
            }
        }
        writes.insert_reading::<changes::Entity>(insert);
    }
}
