use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Select,
    sea_query::{Alias, Expr},
};
use uuid::Uuid;

use crate::{
    customer::display_name,
    pagination::{Page, PageRequest, keyset, keyset_as},
};
use entity::{balance_history, transaction_events, transactions, users, wallets};

pub async fn wallets_of(
    db: &DatabaseConnection,
    user_ids: &[Uuid],
) -> Result<Vec<wallets::Model>, DbErr> {
    wallets::Entity::find()
        .filter(wallets::Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_asc(wallets::Column::CreatedAt)
        .all(db)
        .await
}

/// Any wallet: the caller decides who may see it (`support::sight`).
pub async fn wallet_by_id(
    db: &DatabaseConnection,
    wallet_id: Uuid,
) -> Result<Option<wallets::Model>, DbErr> {
    wallets::Entity::find_by_id(wallet_id).one(db).await
}

/// The transactions of `transaction_ids` that exist, for the per-request
/// loader: the caller decides who may see each.
pub async fn transactions_by_id(
    db: &DatabaseConnection,
    transaction_ids: &[Uuid],
) -> Result<Vec<transactions::Model>, DbErr> {
    transactions::Entity::find()
        .filter(transactions::Column::TransactionId.is_in(transaction_ids.iter().copied()))
        .all(db)
        .await
}

/// The status events of `transaction_ids`, oldest first, for the
/// per-request loader.
pub async fn events_of(
    db: &DatabaseConnection,
    transaction_ids: &[Uuid],
) -> Result<Vec<transaction_events::Model>, DbErr> {
    use transaction_events::Column as C;
    transaction_events::Entity::find()
        .filter(C::TransactionId.is_in(transaction_ids.iter().copied()))
        .order_by_asc(C::CreatedAt)
        .order_by_asc(C::EventId)
        .all(db)
        .await
}

#[derive(Debug, Default, Clone)]
pub struct TransactionFilter {
    pub status: Option<transactions::Status>,
    pub transaction_type: Option<transactions::TxType>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// A user's transactions (sent or received), newest first, one keyset page.
pub async fn transactions_of(
    db: &DatabaseConnection,
    user_id: Uuid,
    filter: &TransactionFilter,
    page: PageRequest,
) -> Result<Page<transactions::Model>, DbErr> {
    use transactions::Column as C;
    keyset(
        db,
        of_user(user_id, filter),
        C::CreatedAt,
        C::TransactionId,
        page,
    )
    .await
}

/// A transaction with the names of its parties, read with it.
#[derive(Debug, FromQueryResult)]
pub struct TransactionWithParties {
    #[sea_orm(nested)]
    pub transaction: transactions::Model,
    sender_first_name: Option<String>,
    sender_last_name: Option<String>,
    receiver_first_name: Option<String>,
    receiver_last_name: Option<String>,
}

impl TransactionWithParties {
    /// Each party's display name, as the other party is shown it.
    pub fn party_names(&self) -> impl Iterator<Item = (Uuid, String)> + '_ {
        let t = &self.transaction;
        let sender = (t.sender_id, &self.sender_first_name, &self.sender_last_name);
        let receiver = (
            t.receiver_id,
            &self.receiver_first_name,
            &self.receiver_last_name,
        );
        [sender, receiver]
            .into_iter()
            .filter_map(|(id, first, last)| match (id, first, last) {
                (Some(id), Some(first), Some(last)) => Some((id, display_name(first, last))),
                _ => None,
            })
    }
}

/// As [`transactions_of`], with the name columns of both parties joined
/// into the same statement: a page shown with its counterparties costs one
/// statement, not a second one for the names.
pub async fn transactions_with_parties_of(
    db: &DatabaseConnection,
    user_id: Uuid,
    filter: &TransactionFilter,
    page: PageRequest,
) -> Result<Page<TransactionWithParties>, DbErr> {
    use transactions::{Column as C, Relation as R};
    use users::Column as U;
    let (sender, receiver) = (Alias::new("sender"), Alias::new("receiver"));
    let query = of_user(user_id, filter)
        .join_as(JoinType::LeftJoin, R::Sender.def(), sender.clone())
        .join_as(JoinType::LeftJoin, R::Receiver.def(), receiver.clone())
        .column_as(
            Expr::col((sender.clone(), U::FirstName)),
            "sender_first_name",
        )
        .column_as(Expr::col((sender, U::LastName)), "sender_last_name")
        .column_as(
            Expr::col((receiver.clone(), U::FirstName)),
            "receiver_first_name",
        )
        .column_as(Expr::col((receiver, U::LastName)), "receiver_last_name");
    keyset_as(db, query, C::CreatedAt, C::TransactionId, page).await
}

/// The transactions `user_id` sent or received that pass `filter`.
fn of_user(user_id: Uuid, filter: &TransactionFilter) -> Select<transactions::Entity> {
    use transactions::Column as C;
    let mut query = transactions::Entity::find().filter(
        Condition::any()
            .add(C::SenderId.eq(user_id))
            .add(C::ReceiverId.eq(user_id)),
    );
    if let Some(s) = filter.status {
        query = query.filter(C::Status.eq(s));
    }
    if let Some(t) = filter.transaction_type {
        query = query.filter(C::TransactionType.eq(t));
    }
    if let Some(t) = filter.created_after {
        query = query.filter(C::CreatedAt.gt(t));
    }
    if let Some(t) = filter.created_before {
        query = query.filter(C::CreatedAt.lt(t));
    }
    query
}

/// A wallet's balance changes, newest first by their sequence, one keyset
/// page.
pub async fn history_of(
    db: &DatabaseConnection,
    wallet_id: Uuid,
    page: PageRequest<i64>,
) -> Result<Page<balance_history::Model>, DbErr> {
    use balance_history::Column as C;
    let query = balance_history::Entity::find().filter(C::WalletId.eq(wallet_id));
    keyset(db, query, C::Sequence, C::HistoryId, page).await
}
