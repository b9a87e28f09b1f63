use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set, sea_query::Expr,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{CardExpiry, CardNumber, CustomerError, Customers, NewBankAccount, last_four};
use crate::{
    audit::{self, AuditEvent},
    db,
};
use entity::payment_methods;

pub enum NewPaymentMethod {
    Card {
        number: CardNumber,
        expiry: CardExpiry,
    },
    Bank(NewBankAccount),
}

const ACTIVE: &str = "active";
const REMOVED: &str = "removed";

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
                "card",
                self.cipher.encrypt(number.secret()),
                number.last_four(),
                Some(expiry.last_day()),
            ),
            NewPaymentMethod::Bank(bank) => {
                let digits = bank.account_number.expose_secret();
                let both = SecretString::from(format!("{}:{}", bank.routing_number, digits));
                ("bank", self.cipher.encrypt(&both), last_four(digits), None)
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
            method_type: Set(method_type.to_owned()),
            encrypted_data: Set(sealed),
            last_four: Set(Some(four)),
            expiry_date: Set(expiry),
            is_default: Set(!has_default),
            status: Set(ACTIVE.to_owned()),
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
        let txn = db::begin_write(&self.db).await?;
        let method = active_method(&txn, user_id, method_id).await?;
        let mut active = method.into_active_model();
        active.status = Set(REMOVED.to_owned());
        active.is_default = Set(false);
        let removed = active.update(&txn).await?;
        let event = AuditEvent::by_user("customer", "payment_method.removed", user_id)
            .with_data(serde_json::json!({"method_id": method_id}));
        audit::record(&txn, event).await?;
        txn.commit().await?;
        Ok(removed)
    }

    pub async fn set_default_payment_method(
        &self,
        user_id: Uuid,
        method_id: Uuid,
    ) -> Result<payment_methods::Model, CustomerError> {
        let txn = db::begin_write(&self.db).await?;
        let method = active_method(&txn, user_id, method_id).await?;
        // Clear first: the partial unique index allows one default per user.
        payment_methods::Entity::update_many()
            .col_expr(payment_methods::Column::IsDefault, Expr::value(false))
            .filter(payment_methods::Column::UserId.eq(user_id))
            .filter(payment_methods::Column::IsDefault.eq(true))
            .exec(&txn)
            .await?;
        let mut active = method.into_active_model();
        active.is_default = Set(true);
        let updated = active.update(&txn).await?;
        let event = AuditEvent::by_user("customer", "payment_method.default_set", user_id)
            .with_data(serde_json::json!({"method_id": method_id}));
        audit::record(&txn, event).await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Any active payment method: the caller decides who may see it
    /// (`support::sight`).
    pub async fn payment_method(
        &self,
        method_id: Uuid,
    ) -> Result<Option<payment_methods::Model>, CustomerError> {
        Ok(payment_methods::Entity::find_by_id(method_id)
            .filter(payment_methods::Column::Status.eq(ACTIVE))
            .one(&self.db)
            .await?)
    }
}

async fn active_method<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    method_id: Uuid,
) -> Result<payment_methods::Model, CustomerError> {
    payment_methods::Entity::find_by_id(method_id)
        .filter(payment_methods::Column::UserId.eq(user_id))
        .filter(payment_methods::Column::Status.eq(ACTIVE))
        .one(conn)
        .await?
        .ok_or(CustomerError::NotFound)
}

/// Every user's active methods, for the per-request loader.
pub async fn payment_methods_of(
    db: &sea_orm::DatabaseConnection,
    user_ids: &[Uuid],
) -> Result<Vec<payment_methods::Model>, sea_orm::DbErr> {
    payment_methods::Entity::find()
        .filter(payment_methods::Column::UserId.is_in(user_ids.iter().copied()))
        .filter(payment_methods::Column::Status.eq(ACTIVE))
        .order_by_asc(payment_methods::Column::CreatedAt)
        .all(db)
        .await
}
