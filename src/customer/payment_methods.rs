use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, Set, sea_query::Expr,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{CardExpiry, CardNumber, CustomerError, Customers, NewBankAccount, last_four};
use crate::{
    audit::{self, AuditEvent},
    db,
};
use entity::payment_methods::{self, MethodStatus, MethodType};

pub enum NewPaymentMethod {
    Card {
        number: CardNumber,
        expiry: CardExpiry,
    },
    Bank(NewBankAccount),
}

impl Customers {
    /// Adds a card or bank payment method. The first one a user adds
    /// becomes the default.
    pub async fn add_payment_method(
        &self,
        user_id: Uuid,
        method: NewPaymentMethod,
    ) -> Result<payment_methods::Model, CustomerError> {
        let (method_type, sealed, four, expiry) = match &method {
            NewPaymentMethod::Card { number, expiry } => (
                MethodType::Card,
                self.cipher.encrypt(number.secret()),
                number.last_four(),
                Some(expiry.last_day()),
            ),
            NewPaymentMethod::Bank(bank) => {
                let digits = bank.account_number.expose_secret();
                let both = SecretString::from(format!("{}:{}", bank.routing_number, digits));
                (
                    MethodType::Bank,
                    self.cipher.encrypt(&both),
                    last_four(digits),
                    None,
                )
            }
        };
        let txn = db::begin_write(&self.db).await?;
        let has_default = payment_methods::Entity::find()
            .filter(payment_methods::Column::UserId.eq(user_id))
            .filter(payment_methods::Column::IsDefault.eq(true))
            .count(&txn)
            .await?
            > 0;
        let saved = payment_methods::ActiveModel {
            method_id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            method_type: Set(method_type),
            encrypted_data: Set(sealed),
            last_four: Set(Some(four)),
            expiry_date: Set(expiry),
            is_default: Set(!has_default),
            status: Set(MethodStatus::Active),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&txn)
        .await?;
        let brand = match &method {
            NewPaymentMethod::Card { number, .. } => Some(number.brand()),
            NewPaymentMethod::Bank(_) => None,
        };
        let event = AuditEvent::by_user("customer", "payment_method.added", user_id).with_data(
            serde_json::json!({"method_id": saved.method_id, "type": method_type, "brand": brand, "last_four": saved.last_four}),
        );
        audit::record(&txn, event).await?;
        txn.commit().await?;
        Ok(saved)
    }

    /// Removes a method from use. The row stays (past transactions refer to
    /// it) but its ciphertext is no longer readable through the API.
    pub async fn remove_payment_method(
        &self,
        user_id: Uuid,
        method_id: Uuid,
    ) -> Result<payment_methods::Model, CustomerError> {
        let (txn, mut method) = self.change_method(user_id, method_id).await?;
        method.status = Set(MethodStatus::Removed);
        method.is_default = Set(false);
        save_change(txn, user_id, method, "payment_method.removed").await
    }

    pub async fn set_default_payment_method(
        &self,
        user_id: Uuid,
        method_id: Uuid,
    ) -> Result<payment_methods::Model, CustomerError> {
        let (txn, mut method) = self.change_method(user_id, method_id).await?;
        // Clear first: the partial unique index allows one default per user.
        payment_methods::Entity::update_many()
            .col_expr(payment_methods::Column::IsDefault, Expr::value(false))
            .filter(payment_methods::Column::UserId.eq(user_id))
            .filter(payment_methods::Column::IsDefault.eq(true))
            .exec(&txn)
            .await?;
        method.is_default = Set(true);
        save_change(txn, user_id, method, "payment_method.default_set").await
    }

    /// Opens a change of one of the user's active methods: a write
    /// transaction, and the method read in it.
    async fn change_method(
        &self,
        user_id: Uuid,
        method_id: Uuid,
    ) -> Result<(DatabaseTransaction, payment_methods::ActiveModel), CustomerError> {
        let txn = db::begin_write(&self.db).await?;
        let method = payment_methods::Entity::find_by_id(method_id)
            .filter(payment_methods::Column::UserId.eq(user_id))
            .filter(payment_methods::Column::Status.eq(MethodStatus::Active))
            .one(&txn)
            .await?
            .ok_or(CustomerError::NotFound)?;
        Ok((txn, method.into_active_model()))
    }

    /// Any active payment method: the caller decides who may see it
    /// (`support::sight`).
    pub async fn payment_method(
        &self,
        method_id: Uuid,
    ) -> Result<Option<payment_methods::Model>, CustomerError> {
        Ok(payment_methods::Entity::find_by_id(method_id)
            .filter(payment_methods::Column::Status.eq(MethodStatus::Active))
            .one(&self.db)
            .await?)
    }
}

/// Saves a change to one of the user's methods, audits it as `action`,
/// and commits.
async fn save_change(
    txn: DatabaseTransaction,
    user_id: Uuid,
    method: payment_methods::ActiveModel,
    action: &'static str,
) -> Result<payment_methods::Model, CustomerError> {
    let saved = method.update(&txn).await?;
    let event = AuditEvent::by_user("customer", action, user_id)
        .with_data(serde_json::json!({"method_id": saved.method_id}));
    audit::record(&txn, event).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Every user's active methods, for the per-request loader.
pub async fn payment_methods_of(
    db: &sea_orm::DatabaseConnection,
    user_ids: &[Uuid],
) -> Result<Vec<payment_methods::Model>, sea_orm::DbErr> {
    payment_methods::Entity::find()
        .filter(payment_methods::Column::UserId.is_in(user_ids.iter().copied()))
        .filter(payment_methods::Column::Status.eq(MethodStatus::Active))
        .order_by_asc(payment_methods::Column::CreatedAt)
        .all(db)
        .await
}
