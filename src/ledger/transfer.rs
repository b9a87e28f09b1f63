//! P2P transfers. Requests wait in the [transfer queue](super::transfer_queue)
//! and run in batches: every request waiting when a worker is free goes
//! through one database transaction, from the idempotency keys to the audit
//! rows. Each request is still judged on its own, in arrival order, against
//! the balances and totals the ones before it left; a refused request
//! changes nothing and gives its key back.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    Ledger, LedgerError, Status, TxType,
    balance_changes::{BalanceChanges, Operation},
    changes::Feed,
    checks::{self, Outgoing},
    commit,
    fees::{FeeKind, fee_for},
    idempotency::{self, Claim, IdempotencyKey, KeyUse},
    payment_requests::{self, Pays},
    postings::{self, FEE_ACCOUNT_ID, Locked, db_time},
    records::{self, NewTransaction},
    step_up::{self, PayingSession},
};
use crate::{
    auth::Email,
    db::Writes,
    fraud::{self, Decision},
    money::{Amount, Currency},
    validation::InvalidInput,
};
use entity::{
    MinorUnit, transactions,
    user_profiles::{self, KycStatus},
    users,
    wallets::{self, WalletStatus},
};

pub struct TransferRequest {
    pub sender_id: Uuid,
    pub recipient_email: Email,
    pub amount: Amount,
    pub description: Option<String>,
    pub idempotency_key: IdempotencyKey,
    /// The payment request this transfer pays, if it pays one.
    pub pays: Option<Pays>,
    /// Large transfers need this session stepped up.
    pub session: PayingSession,
}

impl TransferRequest {
    /// What the request means, for its idempotency key.
    fn fingerprint(&self) -> String {
        idempotency::fingerprint(&[
            "transfer",
            self.recipient_email.as_str(),
            &self.amount.minor().to_string(),
            self.amount.currency().code(),
            self.description.as_deref().unwrap_or(""),
            &self
                .pays
                .map(|p| p.payment_request_id.to_string())
                .unwrap_or_default(),
        ])
    }
}

pub const MAX_DESCRIPTION_CHARS: usize = 280;

pub fn parse_description(raw: Option<String>) -> Result<Option<String>, InvalidInput> {
    let Some(text) = raw.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS || text.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} printable characters"),
        ));
    }
    Ok(Some(text))
}

/// Each request's answer so far, by position: `None` until it has one.
type Answers = Vec<Option<Result<transactions::Model, LedgerError>>>;

/// A request of the batch with the id its transaction will have.
type Numbered<'a> = (&'a TransferRequest, Uuid);

/// What a batch did: each request's answer, in order, and what changed.
pub(super) struct Batch {
    pub results: Vec<Result<transactions::Model, LedgerError>>,
    pub created: Vec<transactions::Model>,
    pub wallets: Vec<wallets::Model>,
    /// What the accepted requests' postings did to balances.
    pub balances: BalanceChanges,
}

/// The two users of one transfer, read and checked.
struct Parties {
    sender: users::Model,
    /// Whether the sender's identity is verified (no daily limit).
    verified: bool,
    receiver: users::Model,
}

/// What one accepted request adds to the batch's writes.
struct Accepted {
    row: NewTransaction,
    check: fraud::FraudCheck,
}

impl Ledger {
    /// Sends money to another user by email: `COMPLETED`, or
    /// `PENDING_REVIEW` with the funds frozen when the fraud rules hold it.
    pub async fn transfer(&self, req: TransferRequest) -> Result<transactions::Model, LedgerError> {
        step_up::require(&self.db, &self.settings, req.session, &req.amount).await?;
        self.transfers.submit(req).await
    }

    /// Runs `reqs` (no idempotency key twice) in one database transaction.
    /// The outer error is the batch's own (the database); a request's own
    /// refusal is its entry in `results`.
    pub(super) async fn transfer_batch(
        &self,
        reqs: &[&TransferRequest],
    ) -> Result<Batch, LedgerError> {
        let now = db_time(Utc::now());
        let mut answers: Answers = reqs.iter().map(|_| None).collect();
        // Each request with its transaction's id, chosen first so that its
        // key is taken already bound to it.
        let numbered: Vec<Numbered> = reqs.iter().map(|&r| (r, Uuid::now_v7())).collect();
        let txn = self.begin().await?;
        let fresh = claim_keys(&txn, &numbered, &mut answers).await?;
        let going = claim_requests(&txn, reqs, &fresh, &mut answers, now).await?;
        let parties = self.parties(&txn, reqs, &going, &mut answers).await?;
        let (accepted, mut locked) = self
            .judge(&txn, &numbered, &going, parties, &mut answers, now)
            .await?;
        let mut writes = Writes::default();
        let created = write(&mut writes, accepted, locked.as_mut(), &mut answers, now);
        for &i in &going {
            let Some(pays) = reqs[i].pays else { continue };
            match &answers[i] {
                Some(Ok(t)) => {
                    payment_requests::paid(&mut writes, reqs[i].sender_id, pays, t.transaction_id)
                }
                _ => payment_requests::unclaimed(&mut writes, pays, now),
            }
        }
        let (wallets, balances) = locked.map(Locked::into_changed).unwrap_or_default();
        let refused: Vec<(Uuid, &IdempotencyKey)> = fresh
            .iter()
            .filter(|&&i| !matches!(answers[i], Some(Ok(_))))
            .map(|&i| (reqs[i].sender_id, &reqs[i].idempotency_key))
            .collect();
        idempotency::release_many(&mut writes, &refused);
        let mut feed = Feed::of(&created, &wallets);
        for &i in &going {
            if let (Some(pays), Some(Ok(_))) = (reqs[i].pays, &answers[i]) {
                feed.request(
                    pays.payment_request_id,
                    pays.requester_id,
                    reqs[i].sender_id,
                );
            }
        }
        feed.write(&mut writes, now);
        writes.run(&txn).await?;
        commit(txn).await?;
        Ok(Batch {
            results: answers
                .into_iter()
                .map(|a| a.unwrap_or(Err(LedgerError::NotFound)))
                .collect(),
            created,
            wallets,
            balances,
        })
    }

    /// Locks the wallets of every request that got this far, reads the
    /// senders' totals under those locks (exact, whatever runs beside us),
    /// then judges each request in arrival order, posting in memory those
    /// that pass.
    async fn judge<C: ConnectionTrait>(
        &self,
        txn: &C,
        reqs: &[Numbered<'_>],
        fresh: &[usize],
        mut parties: HashMap<usize, Parties>,
        answers: &mut Answers,
        now: DateTime<Utc>,
    ) -> Result<(Vec<(usize, Accepted)>, Option<Locked>), LedgerError> {
        if parties.is_empty() {
            return Ok((vec![], None));
        }
        let mut owners = BTreeSet::new();
        let mut payees = BTreeSet::new();
        for (&i, p) in &parties {
            let req = reqs[i].0;
            let currency = req.amount.currency();
            owners.insert((p.sender.user_id, currency));
            payees.insert((p.receiver.user_id, currency));
            if self.fee(req) > 0 {
                payees.insert((FEE_ACCOUNT_ID, currency));
            }
        }
        let senders: BTreeSet<Uuid> = owners.iter().map(|(u, _)| *u).collect();
        owners.extend(payees.iter().copied());
        let mut locked = postings::lock_owned(txn, &owners).await?;
        let opened = postings::open_missing(txn, &mut locked, payees, now).await?;
        let mut sent = checks::outgoing_totals(txn, &self.settings, &senders, now).await?;
        let pairs = parties
            .values()
            .map(|p| (p.sender.user_id, p.receiver.user_id))
            .collect();
        let mut paid = checks::paid_before(txn, &pairs).await?;
        let mut accepted = Vec::new();
        for &i in fresh {
            let Some(p) = parties.remove(&i) else {
                continue;
            };
            let sent = sent.entry(p.sender.user_id).or_default();
            match self.accept(&mut locked, reqs[i], &p, sent, &mut paid, now) {
                Ok(a) => accepted.push((i, a)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let used = accepted
            .iter()
            .filter_map(|(_, a)| a.row.receiver_wallet_id)
            .collect();
        postings::close_unused(txn, &locked, opened, &used).await?;
        Ok((accepted, Some(locked)))
    }

    fn fee(&self, req: &TransferRequest) -> i64 {
        fee_for(&self.settings.fees, FeeKind::Transfer, &req.amount)
    }

    /// Reads the senders and recipients of the fresh requests, with their
    /// KYC status, in one statement and checks that they may trade. A request that fails here
    /// gets its refusal in `results` and is left out.
    async fn parties<C: ConnectionTrait>(
        &self,
        txn: &C,
        reqs: &[&TransferRequest],
        fresh: &[usize],
        answers: &mut Answers,
    ) -> Result<HashMap<usize, Parties>, LedgerError> {
        if fresh.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: BTreeSet<Uuid> = fresh.iter().map(|&i| reqs[i].sender_id).collect();
        let emails: BTreeSet<&str> = fresh
            .iter()
            .map(|&i| reqs[i].recipient_email.as_str())
            .collect();
        let users = users::Entity::find()
            .find_also_related(user_profiles::Entity)
            .filter(
                Condition::any()
                    .add(users::Column::UserId.is_in(ids))
                    .add(users::Column::Email.is_in(emails)),
            )
            .all(txn)
            .await?;
        let mut out = HashMap::new();
        for &i in fresh {
            match parties_of(reqs[i], &users) {
                Ok(p) => {
                    out.insert(i, p);
                }
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        Ok(out)
    }

    /// Judges one request against the locked wallets and the sender's
    /// totals so far, and posts it in memory when it passes.
    fn accept(
        &self,
        locked: &mut Locked,
        (req, id): Numbered<'_>,
        p: &Parties,
        sent: &mut Outgoing,
        paid: &mut HashSet<(Uuid, Uuid)>,
        now: DateTime<Utc>,
    ) -> Result<Accepted, LedgerError> {
        let amount = req.amount;
        let currency = amount.currency();
        let (sender_wallet, receiver_wallet) = open_wallets(locked, p, currency)?;
        let fee = self.fee(req);
        let debit = amount.minor() + fee;
        let available = locked.get(sender_wallet).available_balance_minor;
        if available.get() < debit {
            return Err(LedgerError::insufficient(available, currency));
        }
        checks::kyc_limit(&self.settings, p.verified, sent, &amount)?;

        let pair = (p.sender.user_id, p.receiver.user_id);
        let check = checks::fraud_check(
            &self.settings,
            &p.sender,
            sent,
            !paid.contains(&pair),
            &amount,
            id,
            now,
        );
        sent.add(&amount);
        paid.insert(pair);
        let legs = Legs {
            id,
            from: sender_wallet,
            to: receiver_wallet,
            amount: &amount,
            fee,
        };
        let status = post(locked, check.decision, legs)?;
        Ok(Accepted {
            row: NewTransaction {
                id,
                kind: TxType::Transfer,
                status,
                sender_id: Some(p.sender.user_id),
                receiver_id: Some(p.receiver.user_id),
                sender_wallet_id: Some(sender_wallet),
                receiver_wallet_id: Some(receiver_wallet),
                amount,
                fee_minor: fee,
                payment_method_id: None,
                account_id: None,
                related_transaction_id: None,
                description: req.description.clone(),
                actor_id: p.sender.user_id,
            },
            check,
        })
    }
}

/// The sender's and the receiver's wallets in `currency`, locked: a sender
/// without one has nothing to send, and neither may be frozen.
fn open_wallets(
    locked: &Locked,
    p: &Parties,
    currency: Currency,
) -> Result<(Uuid, Uuid), LedgerError> {
    let sender = locked
        .find(p.sender.user_id, currency)
        .ok_or_else(|| LedgerError::insufficient(MinorUnit::ZERO, currency))?;
    let receiver = locked
        .find(p.receiver.user_id, currency)
        .ok_or(LedgerError::NotFound)?;
    if sender.status == WalletStatus::Frozen || receiver.status == WalletStatus::Frozen {
        return Err(LedgerError::Restricted(
            "a wallet of this transfer is frozen",
        ));
    }
    Ok((sender.wallet_id, receiver.wallet_id))
}

/// What one accepted transfer moves.
struct Legs<'a> {
    id: Uuid,
    from: Uuid,
    to: Uuid,
    amount: &'a Amount,
    fee: i64,
}

/// Posts an accepted transfer as the fraud rules decided: allowed, it
/// moves the amount and the fee at once; for review, the sender's amount
/// and fee are held. Returns the transfer's status.
fn post(locked: &mut Locked, decision: Decision, legs: Legs) -> Result<Status, LedgerError> {
    let Legs {
        id,
        from,
        to,
        amount,
        fee,
    } = legs;
    let debit = amount.minor() + fee;
    match decision {
        Decision::Allow => {
            locked.post(from, -debit, 0, Some(id), Operation::TransferOut)?;
            locked.post(to, amount.minor(), 0, Some(id), Operation::TransferIn)?;
            if fee > 0 {
                let fee_wallet = fee_wallet(locked, amount.currency())?;
                locked.post(fee_wallet, fee, 0, Some(id), Operation::Fee)?;
            }
            Ok(Status::Completed)
        }
        Decision::Review => {
            locked.post(from, -debit, debit, Some(id), Operation::Hold)?;
            Ok(Status::PendingReview)
        }
    }
}

/// Takes the keys of all requests; a replay is answered with its original
/// transaction, a conflict with its error. Returns the requests that go on.
async fn claim_keys<C: ConnectionTrait>(
    txn: &C,
    reqs: &[Numbered<'_>],
    answers: &mut Answers,
) -> Result<Vec<usize>, LedgerError> {
    let hashes: Vec<String> = reqs.iter().map(|(r, _)| r.fingerprint()).collect();
    let uses: Vec<KeyUse> = reqs
        .iter()
        .zip(&hashes)
        .map(|(&(r, id), hash)| KeyUse {
            user_id: r.sender_id,
            key: &r.idempotency_key,
            request_hash: hash,
            transaction_id: Some(id),
        })
        .collect();
    for (i, claim) in idempotency::claim_many(txn, &uses)
        .await?
        .into_iter()
        .enumerate()
    {
        match claim {
            Ok(Claim::Fresh) => {}
            Ok(Claim::Replay(original)) => answers[i] = Some(Ok(*original)),
            Err(e) => answers[i] = Some(Err(e)),
        }
    }
    Ok((0..reqs.len()).filter(|&i| answers[i].is_none()).collect())
}

/// Claims the payment request of each fresh request that pays one; a
/// request whose payment request is no longer pending is answered so.
/// Returns the requests that go on.
async fn claim_requests<C: ConnectionTrait>(
    txn: &C,
    reqs: &[&TransferRequest],
    fresh: &[usize],
    answers: &mut Answers,
    now: DateTime<Utc>,
) -> Result<Vec<usize>, LedgerError> {
    let mut going = Vec::with_capacity(fresh.len());
    for &i in fresh {
        let Some(pays) = reqs[i].pays else {
            going.push(i);
            continue;
        };
        match payment_requests::claim(txn, reqs[i].sender_id, pays, now).await {
            Ok(()) => going.push(i),
            Err(LedgerError::Db(e)) => return Err(LedgerError::Db(e)),
            Err(e) => answers[i] = Some(Err(e)),
        }
    }
    Ok(going)
}

/// Adds to `writes` what the accepted requests did: their transactions
/// (with events, tallies and audit rows, fraud checks among them), then the
/// wallets and their history (which refer to the transactions). Each key
/// was taken bound to its transaction's id.
fn write(
    writes: &mut Writes,
    accepted: Vec<(usize, Accepted)>,
    locked: Option<&mut Locked>,
    answers: &mut Answers,
    now: DateTime<Utc>,
) -> Vec<transactions::Model> {
    let audit = accepted
        .iter()
        .map(|(_, a)| fraud::audit_event(&a.check))
        .collect();
    let (slots, rows): (Vec<usize>, Vec<NewTransaction>) =
        accepted.into_iter().map(|(i, a)| (i, a.row)).unzip();
    let created = records::insert_many(writes, rows, audit, now);
    if let Some(locked) = locked {
        locked.save(writes);
    }
    for (&i, row) in slots.iter().zip(&created) {
        answers[i] = Some(Ok(row.clone()));
    }
    created
}

fn parties_of(
    req: &TransferRequest,
    users: &[(users::Model, Option<user_profiles::Model>)],
) -> Result<Parties, LedgerError> {
    let (sender, profile) = users
        .iter()
        .find(|(u, _)| u.user_id == req.sender_id)
        .ok_or(LedgerError::NotFound)?;
    checks::may_move_money(sender, "your account is suspended")?;
    let (receiver, _) = users
        .iter()
        .find(|(u, _)| u.email == req.recipient_email.as_str() && u.user_id != FEE_ACCOUNT_ID)
        .ok_or(LedgerError::UnknownRecipient)?;
    // A request is paid to its requester, whatever their email is now.
    if req.pays.is_some_and(|p| p.requester_id != receiver.user_id) {
        return Err(LedgerError::NotFound);
    }
    if receiver.user_id == sender.user_id {
        return Err(
            InvalidInput::new("recipientEmail", "you cannot send money to yourself").into(),
        );
    }
    // The row just read decides: no second read of the same user.
    checks::may_move_money(receiver, "the recipient's account cannot receive money")?;
    Ok(Parties {
        sender: sender.clone(),
        verified: profile
            .as_ref()
            .is_some_and(|p| p.kyc_status == KycStatus::Verified),
        receiver: receiver.clone(),
    })
}

fn fee_wallet(locked: &Locked, currency: Currency) -> Result<Uuid, LedgerError> {
    Ok(locked
        .find(FEE_ACCOUNT_ID, currency)
        .ok_or(LedgerError::NotFound)?
        .wallet_id)
}
