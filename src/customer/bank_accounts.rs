use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{CustomerError, Customers, last_four};
use crate::{
    audit::{self, AuditEvent},
    db::{self, UniqueIndex},
    validation::InvalidInput,
};
use entity::accounts::{self, AccountStatus, AccountType};

/// A bank account (by its number's fingerprint) is linked once per user.
const ONE_LINK_PER_ACCOUNT: UniqueIndex = UniqueIndex {
    name: "uq_accounts_user_fingerprint",
    table: "accounts",
    columns: &["user_id", "account_number_fingerprint"],
};

/// A bank account to link: a US account number (4 to 17 digits) and an
/// ABA routing number whose checksum holds.
pub struct NewBankAccount {
    pub account_type: AccountType,
    pub account_number: SecretString,
    pub routing_number: String,
    pub bank_name: String,
}

impl NewBankAccount {
    pub fn parse(
        account_type: AccountType,
        account_number: SecretString,
        routing_number: &str,
        bank_name: &str,
    ) -> Result<Self, InvalidInput> {
        let number: String = account_number
            .expose_secret()
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if !(4..=17).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput::new("accountNumber", "must be 4 to 17 digits"));
        }
        if !routing_number_valid(routing_number) {
            return Err(InvalidInput::new(
                "routingNumber",
                "must be a 9-digit ABA routing number",
            ));
        }
        let bank_name = bank_name.trim();
        if bank_name.is_empty() || bank_name.chars().count() > 100 {
            return Err(InvalidInput::new("bankName", "must be 1 to 100 characters"));
        }
        Ok(Self {
            account_type,
            account_number: SecretString::from(number),
            routing_number: routing_number.to_owned(),
            bank_name: bank_name.to_owned(),
        })
    }
}

fn routing_number_valid(s: &str) -> bool {
    if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let d: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    sum.is_multiple_of(10)
}

impl Customers {
    pub async fn link_bank_account(
        &self,
        user_id: Uuid,
        new: NewBankAccount,
    ) -> Result<accounts::Model, CustomerError> {
        let digits = new.account_number.expose_secret();
        let txn = db::begin_write(&self.db).await?;
        let account = accounts::ActiveModel {
            account_id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            account_type: Set(new.account_type),
            account_number_ciphertext: Set(self.cipher.encrypt(&new.account_number)),
            account_number_fingerprint: Set(self.cipher.fingerprint(&new.account_number)),
            account_number_last_four: Set(last_four(digits)),
            routing_number: Set(Some(new.routing_number)),
            bank_name: Set(Some(new.bank_name)),
            status: Set(AccountStatus::Active),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if ONE_LINK_PER_ACCOUNT.violated_by(&e) {
                InvalidInput::new("accountNumber", "this account is already linked").into()
            } else {
                CustomerError::Db(e)
            }
        })?;
        let event = AuditEvent::by_user("customer", "bank_account.linked", user_id).with_data(
            serde_json::json!({"account_id": account.account_id, "last_four": account.account_number_last_four}),
        );
        audit::record(&txn, event).await?;
        txn.commit().await?;
        Ok(account)
    }

    /// Any linked account: the caller decides who may see it
    /// (`support::sight`).
    pub async fn bank_account(
        &self,
        account_id: Uuid,
    ) -> Result<Option<accounts::Model>, CustomerError> {
        Ok(accounts::Entity::find_by_id(account_id)
            .one(&self.db)
            .await?)
    }
}

/// Every user's accounts, for the per-request loader.
pub async fn accounts_of(
    db: &sea_orm::DatabaseConnection,
    user_ids: &[Uuid],
) -> Result<Vec<accounts::Model>, sea_orm::DbErr> {
    accounts::Entity::find()
        .filter(accounts::Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_asc(accounts::Column::CreatedAt)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_numbers_carry_a_checksum() {
        assert!(routing_number_valid("011000015"));
        assert!(routing_number_valid("021000021"));
        assert!(!routing_number_valid("021000022"));
        assert!(!routing_number_valid("02100002"));
    }
}
