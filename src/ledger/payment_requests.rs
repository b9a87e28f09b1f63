//! Payment requests: one user asks another for an amount; the payer pays
//! it (a transfer through the ordinary transfer path, with every rule of
//! a transfer), declines it, or the requester cancels it. A request is paid
//! at most once: the transfer's own database transaction moves it from
//! `pending` to `paid` with a conditional update, so of two payments at
//! once, on any instances, one finds it no longer pending. Expiry needs no
//! write: a pending request past `expires_at` is expired.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TryInsertResult,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use super::{
    Ledger, LedgerError, PayingSession, TransferRequest,
    changes::Feed,
    checks, commit,
    idempotency::{self, IdempotencyKey},
    postings::{FEE_ACCOUNT_ID, db_time},
};
use crate::{
    audit::{self, AuditEvent},
    auth::Email,
    db::Writes,
    money::Amount,
    pagination::{Page, PageRequest, keyset},
    validation::InvalidInput,
};
use entity::{
    payment_requests::{self as requests, Status as Stored},
    users,
};

const SERVICE: &str = "payments";
/// Declines from one payer of one requester's requests within
/// `DECLINE_WINDOW` after which that requester may not ask them again.
const MAX_DECLINES: u64 = 3;
const DECLINE_WINDOW_HOURS: i64 = 24;

/// A request's status as its parties see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Paid,
    Declined,
    Cancelled,
    Expired,
}

impl RequestStatus {
    /// The status of `row` at `now`.
    pub fn of(row: &requests::Model, now: DateTime<Utc>) -> Self {
        match row.status {
            Stored::Paid => Self::Paid,
            Stored::Declined => Self::Declined,
            Stored::Cancelled => Self::Cancelled,
            Stored::Pending if row.expires_at <= now => Self::Expired,
            Stored::Pending => Self::Pending,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Paid => "PAID",
            Self::Declined => "DECLINED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// Which side of a request the listing's owner is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestDirection {
    /// Requests the user is asked to pay.
    Incoming,
    /// Requests the user sent.
    Outgoing,
}

pub struct PaymentRequestInput {
    pub requester_id: Uuid,
    pub payer_email: Email,
    pub amount: Amount,
    pub note: Option<String>,
    pub idempotency_key: IdempotencyKey,
}

impl PaymentRequestInput {
    fn fingerprint(&self) -> String {
        idempotency::fingerprint(&[
            "request_payment",
            self.payer_email.as_str(),
            &self.amount.minor().to_string(),
            self.amount.currency().code(),
            self.note.as_deref().unwrap_or(""),
        ])
    }
}

/// The request a transfer pays, checked and claimed inside the transfer's
/// own database transaction.
#[derive(Debug, Clone, Copy)]
pub struct Pays {
    pub payment_request_id: Uuid,
    pub requester_id: Uuid,
}

/// Any request by its id: the caller decides who may see it.
pub async fn payment_request_by_id(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Option<requests::Model>, DbErr> {
    requests::Entity::find_by_id(id).one(db).await
}

/// A user's requests, newest first, one keyset page.
pub async fn payment_requests_of(
    db: &DatabaseConnection,
    user_id: Uuid,
    direction: Option<RequestDirection>,
    status: Option<RequestStatus>,
    page: PageRequest,
) -> Result<Page<requests::Model>, DbErr> {
    use requests::Column as C;
    let side = match direction {
        Some(RequestDirection::Incoming) => Condition::all().add(C::PayerId.eq(user_id)),
        Some(RequestDirection::Outgoing) => Condition::all().add(C::RequesterId.eq(user_id)),
        None => Condition::any()
            .add(C::PayerId.eq(user_id))
            .add(C::RequesterId.eq(user_id)),
    };
    let mut query = requests::Entity::find().filter(side);
    let now = Utc::now();
    query = match status {
        None => query,
        Some(RequestStatus::Pending) => query
            .filter(C::Status.eq(Stored::Pending))
            .filter(C::ExpiresAt.gt(now)),
        Some(RequestStatus::Expired) => query
            .filter(C::Status.eq(Stored::Pending))
            .filter(C::ExpiresAt.lte(now)),
        Some(RequestStatus::Paid) => query.filter(C::Status.eq(Stored::Paid)),
        Some(RequestStatus::Declined) => query.filter(C::Status.eq(Stored::Declined)),
        Some(RequestStatus::Cancelled) => query.filter(C::Status.eq(Stored::Cancelled)),
    };
    keyset(db, query, C::CreatedAt, C::PaymentRequestId, page).await
}

pub const MAX_NOTE_CHARS: usize = 280;

/// A note or a reason: trimmed, at most 280 printable characters.
pub fn parse_text(
    field: &'static str,
    raw: Option<String>,
) -> Result<Option<String>, InvalidInput> {
    let Some(text) = raw.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_NOTE_CHARS || text.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {MAX_NOTE_CHARS} printable characters"),
        ));
    }
    Ok(Some(text))
}

/// The error for acting on `row` when it is no longer pending.
fn not_pending(row: &requests::Model, now: DateTime<Utc>) -> LedgerError {
    LedgerError::NotPending {
        state: RequestStatus::of(row, now).name(),
    }
}

fn is_party(row: &requests::Model, user_id: Uuid) -> bool {
    row.requester_id == user_id || row.payer_id == user_id
}

/// Moves a pending, unexpired request of `payer_id` to `paid`, inside the
/// paying transfer's database transaction. Another payment of it that got
/// here first (committed, or still open: the row lock waits for it) leaves
/// it not pending, and this one is refused with its state.
pub(super) async fn claim<C: ConnectionTrait>(
    txn: &C,
    payer_id: Uuid,
    pays: Pays,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    use requests::Column as C;
    let claimed = requests::Entity::update_many()
        .col_expr(C::Status, Expr::value(Stored::Paid))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::PaymentRequestId.eq(pays.payment_request_id))
        .filter(C::PayerId.eq(payer_id))
        .filter(C::Status.eq(Stored::Pending))
        .filter(C::ExpiresAt.gt(now))
        .exec(txn)
        .await?;
    if claimed.rows_affected == 1 {
        return Ok(());
    }
    let row = requests::Entity::find_by_id(pays.payment_request_id)
        .one(txn)
        .await?
        .filter(|r| r.payer_id == payer_id)
        .ok_or(LedgerError::NotFound)?;
    Err(not_pending(&row, now))
}

/// What the transfer that paid a request writes beside itself: the
/// transaction it is paid by, and the audit event.
pub(super) fn paid(writes: &mut Writes, payer_id: Uuid, pays: Pays, transaction_id: Uuid) {
    use requests::Column as C;
    writes.update(
        requests::Entity::update_many()
            .col_expr(C::TransactionId, Expr::value(transaction_id))
            .filter(C::PaymentRequestId.eq(pays.payment_request_id)),
    );
    let mut event = AuditEvent::by_user(SERVICE, "payment_request_paid", payer_id)
        .with_data(serde_json::json!({"payment_request_id": pays.payment_request_id}));
    event.transaction_id = Some(transaction_id);
    audit::record_many(writes, vec![event]);
}

/// Gives back a request claimed by a transfer that was then refused
/// (insufficient funds, a limit): it is pending again.
pub(super) fn unclaimed(writes: &mut Writes, pays: Pays, now: DateTime<Utc>) {
    use requests::Column as C;
    writes.update(
        requests::Entity::update_many()
            .col_expr(C::Status, Expr::value(Stored::Pending))
            .col_expr(C::Version, Expr::col(C::Version).add(1))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .filter(C::PaymentRequestId.eq(pays.payment_request_id))
            .filter(C::Status.eq(Stored::Paid))
            .filter(C::TransactionId.is_null()),
    );
}

/// Gives back the request (if any) whose paying transfer was held for
/// review and then rejected: no money moved, so it is pending again (or
/// expired, if its time ran out meanwhile), with no transaction. Returns
/// the request as it is after the change, to announce once committed.
pub(super) async fn payment_rejected<C: ConnectionTrait>(
    txn: &C,
    writes: &mut Writes,
    transaction_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<requests::Model>, LedgerError> {
    use requests::Column as C;
    let Some(mut row) = requests::Entity::find()
        .filter(C::TransactionId.eq(transaction_id))
        .filter(C::Status.eq(Stored::Paid))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    writes.update(
        requests::Entity::update_many()
            .col_expr(C::Status, Expr::value(Stored::Pending))
            .col_expr(C::TransactionId, Expr::value(Option::<Uuid>::None))
            .col_expr(C::Version, Expr::col(C::Version).add(1))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .filter(C::PaymentRequestId.eq(row.payment_request_id))
            .filter(C::Status.eq(Stored::Paid)),
    );
    row.status = Stored::Pending;
    row.transaction_id = None;
    row.version += 1;
    row.updated_at = now;
    Ok(Some(row))
}

impl Ledger {
    /// Asks `payer_email` for an amount. The same key with the same input
    /// returns the first request.
    pub async fn request_payment(
        &self,
        input: &PaymentRequestInput,
    ) -> Result<requests::Model, LedgerError> {
        let hash = input.fingerprint();
        let row = self
            .settings
            .retry
            .run(crate::db::retry::Safe::Keyed, || {
                self.request_payment_once(input, &hash)
            })
            .await?;
        self.notifier.payment_request_changed(&row);
        Ok(row)
    }

    async fn request_payment_once(
        &self,
        input: &PaymentRequestInput,
        hash: &str,
    ) -> Result<requests::Model, LedgerError> {
        let now = db_time(Utc::now());
        let txn = self.begin().await?;
        if let Some(first) = replay(&txn, input.requester_id, &input.idempotency_key, hash).await? {
            return Ok(first);
        }
        let parties = users::Entity::find()
            .filter(
                Condition::any()
                    .add(users::Column::UserId.eq(input.requester_id))
                    .add(users::Column::Email.eq(input.payer_email.as_str())),
            )
            .all(&txn)
            .await?;
        let requester = parties
            .iter()
            .find(|u| u.user_id == input.requester_id)
            .ok_or(LedgerError::NotFound)?;
        checks::may_move_money(requester, "your account is suspended")?;
        let payer = parties
            .iter()
            .find(|u| u.email == input.payer_email.as_str() && u.user_id != FEE_ACCOUNT_ID)
            .ok_or(LedgerError::UnknownPayer)?;
        if payer.user_id == requester.user_id {
            return Err(
                InvalidInput::new("payerEmail", "you cannot ask yourself for money").into(),
            );
        }
        declines_allow(&txn, requester.user_id, payer.user_id, now).await?;
        let id = Uuid::now_v7();
        let row = requests::ActiveModel {
            payment_request_id: Set(id),
            requester_id: Set(requester.user_id),
            payer_id: Set(payer.user_id),
            amount_minor: Set(input.amount.minor().into()),
            currency: Set(input.amount.currency()),
            note: Set(input.note.clone()),
            status: Set(Stored::Pending),
            decline_reason: Set(None),
            transaction_id: Set(None),
            idempotency_key: Set(Some(input.idempotency_key.as_str().to_owned())),
            request_hash: Set(Some(hash.to_owned())),
            version: Set(1),
            created_at: Set(now),
            expires_at: Set(now + self.settings.payment_request_ttl),
            updated_at: Set(now),
        };
        let inserted = requests::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    requests::Column::RequesterId,
                    requests::Column::IdempotencyKey,
                ])
                .do_nothing()
                .to_owned(),
            )
            .try_insert()
            .exec_without_returning(&txn)
            .await?;
        if matches!(
            inserted,
            TryInsertResult::Conflicted | TryInsertResult::Empty
        ) {
            // The same key, committed by a concurrent request meanwhile.
            return replay(&txn, input.requester_id, &input.idempotency_key, hash)
                .await?
                .ok_or(LedgerError::IdempotencyConflict);
        }
        audit::record(
            &txn,
            AuditEvent::by_user(SERVICE, "payment_request_created", requester.user_id).with_data(
                serde_json::json!({
                    "payment_request_id": id,
                    "payer_id": payer.user_id,
                    "amount_minor": input.amount.minor(),
                    "currency": input.amount.currency().code(),
                }),
            ),
        )
        .await?;
        commit_change(txn, id, now).await
    }

    /// Pays a request the caller was asked to pay, through the transfer
    /// path (funds, KYC limit, fraud review, idempotency). The same key
    /// again returns the request as it is, paid, and moves nothing.
    pub async fn pay_payment_request(
        &self,
        payer_id: Uuid,
        session: PayingSession,
        id: Uuid,
        key: IdempotencyKey,
    ) -> Result<requests::Model, LedgerError> {
        let row = self.party_row(id, payer_id).await?;
        if row.payer_id != payer_id {
            return Err(LedgerError::Forbidden("only the payer can pay a request"));
        }
        let requester = self
            .settings
            .retry
            .read(|| users::Entity::find_by_id(row.requester_id).one(&self.db))
            .await?
            .ok_or(LedgerError::NotFound)?;
        let amount = Amount::from_minor(row.amount_minor.get(), row.currency)
            .map_err(|_| LedgerError::NotFound)?;
        let recipient_email = Email::parse(&requester.email)?;
        self.transfer(TransferRequest {
            sender_id: payer_id,
            recipient_email,
            amount,
            description: row.note.clone(),
            idempotency_key: key,
            pays: Some(Pays {
                payment_request_id: id,
                requester_id: row.requester_id,
            }),
            session,
        })
        .await?;
        let row = self.party_row(id, payer_id).await?;
        self.notifier.payment_request_changed(&row);
        Ok(row)
    }

    /// The payer declines a pending request.
    pub async fn decline_payment_request(
        &self,
        payer_id: Uuid,
        id: Uuid,
        reason: Option<String>,
    ) -> Result<requests::Model, LedgerError> {
        self.decide(payer_id, id, Decision::Decline(reason)).await
    }

    /// The requester withdraws a pending request.
    pub async fn cancel_payment_request(
        &self,
        requester_id: Uuid,
        id: Uuid,
    ) -> Result<requests::Model, LedgerError> {
        self.decide(requester_id, id, Decision::Cancel).await
    }

    /// The request, when `user_id` is one of its parties.
    async fn party_row(&self, id: Uuid, user_id: Uuid) -> Result<requests::Model, LedgerError> {
        self.settings
            .retry
            .read(|| payment_request_by_id(&self.db, id))
            .await?
            .filter(|r| is_party(r, user_id))
            .ok_or(LedgerError::NotFound)
    }

    async fn decide(
        &self,
        user_id: Uuid,
        id: Uuid,
        decision: Decision,
    ) -> Result<requests::Model, LedgerError> {
        let row = self
            .settings
            .retry
            .run(crate::db::retry::Safe::BeforeCommit, || {
                self.decide_once(user_id, id, &decision)
            })
            .await?;
        self.notifier.payment_request_changed(&row);
        Ok(row)
    }

    async fn decide_once(
        &self,
        user_id: Uuid,
        id: Uuid,
        decision: &Decision,
    ) -> Result<requests::Model, LedgerError> {
        use requests::Column as C;
        let now = db_time(Utc::now());
        let txn = self.begin().await?;
        let row = requests::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .filter(|r| is_party(r, user_id))
            .ok_or(LedgerError::NotFound)?;
        let (status, party, event, reason) = match decision {
            Decision::Decline(reason) => (
                Stored::Declined,
                row.payer_id,
                "payment_request_declined",
                reason.clone(),
            ),
            Decision::Cancel => (
                Stored::Cancelled,
                row.requester_id,
                "payment_request_cancelled",
                None,
            ),
        };
        if party != user_id {
            return Err(LedgerError::Forbidden(match decision {
                Decision::Decline(_) => "only the payer can decline a request",
                Decision::Cancel => "only the requester can cancel a request",
            }));
        }
        let changed = requests::Entity::update_many()
            .col_expr(C::Status, Expr::value(status))
            .col_expr(C::DeclineReason, Expr::value(reason.clone()))
            .col_expr(C::Version, Expr::col(C::Version).add(1))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .filter(C::PaymentRequestId.eq(id))
            .filter(C::Status.eq(Stored::Pending))
            .filter(C::ExpiresAt.gt(now))
            .exec(&txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(not_pending(&row, now));
        }
        audit::record(
            &txn,
            AuditEvent::by_user(SERVICE, event, user_id)
                .with_data(serde_json::json!({"payment_request_id": id, "reason": reason})),
        )
        .await?;
        commit_change(txn, id, now).await
    }
}

/// Ends a change to the request `id`: reads it as the transaction left
/// it, adds the change to both parties' feeds, and commits.
async fn commit_change(
    txn: DatabaseTransaction,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<requests::Model, LedgerError> {
    let row = requests::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(LedgerError::NotFound)?;
    let mut writes = Writes::default();
    let mut feed = Feed::default();
    feed.payment_request(&row);
    feed.write(&mut writes, now);
    writes.run(&txn).await?;
    commit(txn).await?;
    Ok(row)
}

enum Decision {
    Decline(Option<String>),
    Cancel,
}

/// The request this key made, when it made one with the same input; a
/// conflict when it made another.
async fn replay<C: ConnectionTrait>(
    txn: &C,
    requester_id: Uuid,
    key: &IdempotencyKey,
    hash: &str,
) -> Result<Option<requests::Model>, LedgerError> {
    let first = requests::Entity::find()
        .filter(requests::Column::RequesterId.eq(requester_id))
        .filter(requests::Column::IdempotencyKey.eq(key.as_str()))
        .one(txn)
        .await?;
    match first {
        Some(row) if row.request_hash.as_deref() == Some(hash) => Ok(Some(row)),
        Some(_) => Err(LedgerError::IdempotencyConflict),
        None => Ok(None),
    }
}

/// A payer who declined `MAX_DECLINES` of this requester's requests within
/// the window receives no more from them until the oldest of those leaves it.
async fn declines_allow<C: ConnectionTrait>(
    txn: &C,
    requester_id: Uuid,
    payer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    use requests::Column as C;
    let since = now - Duration::hours(DECLINE_WINDOW_HOURS);
    let declined = requests::Entity::find()
        .filter(C::RequesterId.eq(requester_id))
        .filter(C::PayerId.eq(payer_id))
        .filter(C::Status.eq(Stored::Declined))
        .filter(C::UpdatedAt.gt(since))
        .order_by_desc(C::UpdatedAt);
    if declined.clone().count(txn).await? < MAX_DECLINES {
        return Ok(());
    }
    let oldest_counted = declined
        .offset(MAX_DECLINES - 1)
        .select_only()
        .column(C::UpdatedAt)
        .into_tuple::<DateTime<Utc>>()
        .one(txn)
        .await?
        .unwrap_or(now);
    let free_at = oldest_counted + Duration::hours(DECLINE_WINDOW_HOURS);
    Err(LedgerError::Declined {
        retry_after_secs: Ord::max((free_at - now).num_seconds(), 1) as u64,
    })
}

/// Forgets the requesters' idempotency keys past their retention, at most
/// `batch` rows per statement; returns how many were forgotten.
pub async fn forget_keys_before<C: ConnectionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DbErr> {
    use requests::Column as C;
    let oldest: Vec<Uuid> = requests::Entity::find()
        .filter(C::CreatedAt.lt(cutoff))
        .filter(C::IdempotencyKey.is_not_null())
        .order_by_asc(C::CreatedAt)
        .limit(batch)
        .select_only()
        .column(C::PaymentRequestId)
        .into_tuple()
        .all(db)
        .await?;
    if oldest.is_empty() {
        return Ok(0);
    }
    let done = requests::Entity::update_many()
        .col_expr(C::IdempotencyKey, Expr::value(Option::<String>::None))
        .col_expr(C::RequestHash, Expr::value(Option::<String>::None))
        .filter(C::PaymentRequestId.is_in(oldest))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}
