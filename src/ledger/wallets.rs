use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::{Ledger, LedgerError, changes::Feed, commit, postings};
use crate::{
    audit::{self, AuditEvent},
    db::{UniqueIndex, Writes, retry::Safe},
    money::{Amount, Currency},
    validation::InvalidInput,
};
use entity::wallets;

/// One wallet per user and currency.
const ONE_WALLET_PER_CURRENCY: UniqueIndex = UniqueIndex {
    name: "uq_wallets_user_currency",
    table: "wallets",
    columns: &["user_id", "currency"],
};

impl Ledger {
    /// Opens the user's wallet in `currency`; one per user and currency.
    pub async fn create_wallet(
        &self,
        user_id: Uuid,
        currency: Currency,
    ) -> Result<wallets::Model, LedgerError> {
        // After a commit whose outcome is unknown it does not run again: it
        // would find its own wallet and refuse.
        self.settings
            .retry
            .run(Safe::BeforeCommit, || {
                self.create_wallet_once(user_id, currency)
            })
            .await
    }

    async fn create_wallet_once(
        &self,
        user_id: Uuid,
        currency: Currency,
    ) -> Result<wallets::Model, LedgerError> {
        let txn = self.begin().await?;
        let wallet = postings::new_wallet(user_id, currency, chrono::Utc::now())
            .insert(&txn)
            .await
            .map_err(|e| {
                if ONE_WALLET_PER_CURRENCY.violated_by(&e) {
                    let message = format!("you already have a {currency} wallet");
                    LedgerError::Invalid(InvalidInput::new("currency", message))
                } else {
                    LedgerError::Db(e)
                }
            })?;
        let event = AuditEvent::by_user("ledger", "wallet.created", user_id).with_data(
            serde_json::json!({"wallet_id": wallet.wallet_id, "currency": currency.code()}),
        );
        audit::record(&txn, event).await?;
        let mut writes = Writes::default();
        Feed::of(&[], std::slice::from_ref(&wallet)).write(&mut writes, wallet.created_at);
        writes.run(&txn).await?;
        commit(txn).await?;
        self.notifier.wallet_changed(&wallet);
        Ok(wallet)
    }
}

/// A wallet of `user_id`, or `NotFound` (also when it is someone else's).
pub async fn owned_wallet<C: ConnectionTrait>(
    txn: &C,
    user_id: Uuid,
    wallet_id: Uuid,
) -> Result<wallets::Model, LedgerError> {
    wallets::Entity::find_by_id(wallet_id)
        .one(txn)
        .await?
        .filter(|w| w.user_id == user_id)
        .ok_or(LedgerError::NotFound)
}

/// Parses an amount in the wallet's own currency.
pub fn amount_in(wallet: &wallets::Model, text: &str) -> Result<(Amount, Currency), LedgerError> {
    let currency = wallet.currency;
    let amount =
        Amount::parse(text, currency).map_err(|e| InvalidInput::new("amount", e.to_string()))?;
    Ok((amount, currency))
}
