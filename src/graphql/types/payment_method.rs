use crate::graphql::scalars::Timestamp;
use async_graphql::{Enum, ID, Object};
use chrono::Datelike;

use crate::graphql::ids::{self, Kind};
use entity::payment_methods;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::payment_methods::MethodType")]
pub enum PaymentMethodType {
    Card,
    Bank,
}

/// A card or bank account to pay in from. Only its last four digits are
/// ever shown.
pub struct PaymentMethod(pub payment_methods::Model);

#[Object]
impl PaymentMethod {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::PaymentMethod, self.0.method_id)
    }

    #[graphql(name = "type")]
    async fn method_type(&self) -> PaymentMethodType {
        self.0.method_type.into()
    }

    async fn last_four(&self) -> Option<&str> {
        self.0.last_four.as_deref()
    }

    async fn expiry_month(&self) -> Option<u32> {
        self.0.expiry_date.map(|d| d.month())
    }

    async fn expiry_year(&self) -> Option<i32> {
        self.0.expiry_date.map(|d| d.year())
    }

    async fn is_default(&self) -> bool {
        self.0.is_default
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }
}
