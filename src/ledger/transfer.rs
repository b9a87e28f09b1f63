//! P2P transfers: one database transaction from the idempotency key to the
//! audit rows.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    Ledger, LedgerError, Posted, Status, TxType, checks,
    fees::{FeeKind, fee_for},
    idempotency::{self, Claim, IdempotencyKey},
    postings::{self, FEE_ACCOUNT_ID, WALLET_FROZEN},
    records::{self, NewTransaction},
};
use crate::{auth::Email, fraud::Decision, money::Amount, validation::InvalidInput};
use entity::{transactions, users, wallets};

pub struct TransferRequest {
    pub sender_id: Uuid,
    pub recipient_email: Email,
    pub amount: Amount,
    pub description: Option<String>,
    pub idempotency_key: IdempotencyKey,
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

impl Ledger {
    /// Sends money to another user by email: `COMPLETED`, or
    /// `PENDING_REVIEW` with the funds frozen when the fraud rules hold it.
    pub async fn transfer(
        &self,
        req: &TransferRequest,
    ) -> Result<transactions::Model, LedgerError> {
        self.run(|| self.transfer_once(req)).await
    }

    async fn transfer_once(&self, req: &TransferRequest) -> Result<Posted, LedgerError> {
        let now = chrono::Utc::now();
        let amount = req.amount;
        let currency = amount.currency();
        let hash = idempotency::fingerprint(&[
            "transfer",
            req.recipient_email.as_str(),
            &amount.minor().to_string(),
            currency.code(),
            req.description.as_deref().unwrap_or(""),
        ]);
        let txn = self.begin().await?;
        if let Claim::Replay(id) =
            idempotency::claim(&txn, req.sender_id, &req.idempotency_key, &hash).await?
        {
            let original = transactions::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or(LedgerError::NotFound)?;
            txn.commit().await?;
            return Ok(Posted {
                transaction: original,
                wallets: vec![],
            });
        }

        let sender = checks::active_user(&txn, req.sender_id, "your account is suspended").await?;
        let receiver = users::Entity::find()
            .filter(users::Column::Email.eq(req.recipient_email.as_str()))
            .one(&txn)
            .await?
            .filter(|u| u.user_id != FEE_ACCOUNT_ID)
            .ok_or(LedgerError::UnknownRecipient)?;
        if receiver.user_id == sender.user_id {
            return Err(
                InvalidInput::new("recipientEmail", "you cannot send money to yourself").into(),
            );
        }
        checks::active_user(
            &txn,
            receiver.user_id,
            "the recipient's account cannot receive money",
        )
        .await?;

        let sender_wallet = wallets::Entity::find()
            .filter(wallets::Column::UserId.eq(sender.user_id))
            .filter(wallets::Column::Currency.eq(currency.code()))
            .one(&txn)
            .await?
            .ok_or_else(|| LedgerError::insufficient(0, currency))?
            .wallet_id;
        let receiver_wallet =
            postings::ensure_wallet(&txn, receiver.user_id, currency, now).await?;
        let fee = fee_for(&self.settings.fees, FeeKind::Transfer, &amount);
        let fee_wallet = postings::ensure_wallet(&txn, FEE_ACCOUNT_ID, currency, now).await?;
        let mut locked =
            postings::lock(&txn, &[sender_wallet, receiver_wallet, fee_wallet]).await?;
        if locked.get(sender_wallet).status == WALLET_FROZEN
            || locked.get(receiver_wallet).status == WALLET_FROZEN
        {
            return Err(LedgerError::Restricted(
                "a wallet of this transfer is frozen",
            ));
        }
        let available = locked.get(sender_wallet).available_balance_minor;
        if available < amount.minor() + fee {
            return Err(LedgerError::insufficient(available, currency));
        }
        checks::kyc_limit(&txn, &self.settings, sender.user_id, &amount, now).await?;

        let id = Uuid::now_v7();
        let decision = checks::fraud_check(
            &txn,
            &self.settings,
            &sender,
            Some(receiver.user_id),
            &amount,
            id,
            now,
        )
        .await?;
        let status = match decision {
            Decision::Allow => Status::Completed,
            Decision::Review => Status::PendingReview,
        };
        let row = records::insert(
            &txn,
            NewTransaction {
                id,
                kind: TxType::Transfer,
                status,
                sender_id: Some(sender.user_id),
                receiver_id: Some(receiver.user_id),
                sender_wallet_id: Some(sender_wallet),
                receiver_wallet_id: Some(receiver_wallet),
                amount,
                fee_minor: fee,
                payment_method_id: None,
                account_id: None,
                related_transaction_id: None,
                description: req.description.clone(),
                actor_id: sender.user_id,
            },
            now,
        )
        .await?;
        let debit = amount.minor() + fee;
        match status {
            Status::Completed => {
                locked
                    .post(&txn, sender_wallet, -debit, 0, Some(id), "transfer_out")
                    .await?;
                locked
                    .post(
                        &txn,
                        receiver_wallet,
                        amount.minor(),
                        0,
                        Some(id),
                        "transfer_in",
                    )
                    .await?;
                if fee > 0 {
                    locked
                        .post(&txn, fee_wallet, fee, 0, Some(id), "fee")
                        .await?;
                }
            }
            _ => {
                locked
                    .post(&txn, sender_wallet, -debit, debit, Some(id), "hold")
                    .await?
            }
        }
        idempotency::bind(&txn, sender.user_id, &req.idempotency_key, id).await?;
        txn.commit().await?;
        Ok(Posted {
            transaction: row,
            wallets: locked.into_wallets(),
        })
    }
}
