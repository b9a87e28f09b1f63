//! The dead-letter table: outbox rows the relay gave up on after
//! `PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS` failed deliveries, kept for an
//! operator to look at and put back (`paygraph audit dead-letters`). A row
//! is always in exactly one of the two tables: each move inserts and
//! deletes in one database transaction.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::db;
use entity::{audit_dead_letters, audit_outbox};

/// Moves outbox rows here, each with the attempts it has made (this last
/// failed one included) and the error of the last.
pub(super) async fn bury(
    conn: &DatabaseConnection,
    rows: &[&audit_outbox::Model],
    error: &str,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let letter = |r: &&audit_outbox::Model| audit_dead_letters::ActiveModel {
        event_id: Set(r.event_id),
        service_name: Set(r.service_name.clone()),
        event_type: Set(r.event_type.clone()),
        actor_id: Set(r.actor_id),
        user_id: Set(r.user_id),
        transaction_id: Set(r.transaction_id),
        data: Set(r.data.clone()),
        created_at: Set(r.created_at),
        attempts: Set(r.attempts.saturating_add(1)),
        last_error: Set(error.to_owned()),
        dead_lettered_at: Set(now),
    };
    let txn = db::begin_write(conn).await?;
    for chunk in rows.chunks(CHUNK) {
        // A row another relay buried first (after this one's lease ran
        // out) is there already: the conflict changes nothing.
        audit_dead_letters::Entity::insert_many(chunk.iter().map(letter))
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
        audit_outbox::Entity::delete_many()
            .filter(audit_outbox::Column::EventId.is_in(chunk.iter().map(|r| r.event_id)))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}

/// Every dead letter, the earliest given up on first.
pub async fn list(conn: &DatabaseConnection) -> Result<Vec<audit_dead_letters::Model>, DbErr> {
    audit_dead_letters::Entity::find()
        .order_by_asc(audit_dead_letters::Column::DeadLetteredAt)
        .order_by_asc(audit_dead_letters::Column::EventId)
        .all(conn)
        .await
}

pub async fn count(conn: &DatabaseConnection) -> Result<u64, DbErr> {
    audit_dead_letters::Entity::find().count(conn).await
}

/// Which dead letters to requeue.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    One(Uuid),
    All,
}

/// Rows moved per statement: SQLite binds at most 32,766 values, and a
/// row binds 11.
const CHUNK: usize = 500;

/// Puts dead letters back in the outbox, due at once and with their
/// attempts counted afresh; the relay then delivers each once (its writes
/// are keyed by the event id). Returns how many moved; `Which::One` of an
/// id that is not there moves none.
pub async fn requeue(conn: &DatabaseConnection, which: Which) -> Result<usize, DbErr> {
    // Those there now: a row that fails its way back meanwhile waits for
    // the next requeue.
    let there = count(conn).await? as usize;
    let mut moved = 0;
    loop {
        let n = requeue_chunk(conn, which).await?;
        moved += n;
        if n < CHUNK || moved >= there || matches!(which, Which::One(_)) {
            return Ok(moved);
        }
    }
}

async fn requeue_chunk(conn: &DatabaseConnection, which: Which) -> Result<usize, DbErr> {
    let txn = db::begin_write(conn).await?;
    let mut find = audit_dead_letters::Entity::find()
        .order_by_asc(audit_dead_letters::Column::DeadLetteredAt)
        .limit(CHUNK as u64);
    if let Which::One(id) = which {
        find = find.filter(audit_dead_letters::Column::EventId.eq(id));
    }
    let letters = find.all(&txn).await?;
    if letters.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let ids: Vec<Uuid> = letters.iter().map(|l| l.event_id).collect();
    let rows = letters.into_iter().map(|l| audit_outbox::ActiveModel {
        event_id: Set(l.event_id),
        service_name: Set(l.service_name),
        event_type: Set(l.event_type),
        actor_id: Set(l.actor_id),
        user_id: Set(l.user_id),
        transaction_id: Set(l.transaction_id),
        data: Set(l.data),
        created_at: Set(l.created_at),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(Some(l.last_error)),
    });
    // Should the row be in the outbox already, it stays as it is there.
    audit_outbox::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(&txn)
        .await?;
    audit_dead_letters::Entity::delete_many()
        .filter(audit_dead_letters::Column::EventId.is_in(ids.iter().copied()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(ids.len())
}
