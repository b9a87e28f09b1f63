use sea_orm::entity::prelude::*;

use crate::{Currency, MinorUnit};

/// What a user has sent, per currency and per minute: the outgoing payments
/// (transfers and withdrawals) that were not failed, cancelled or reversed,
/// counted in the minute they were created. The KYC daily limit and the
/// fraud velocity rule read these few rows instead of the user's history.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outgoing_tallies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: Currency,
    /// The start of the minute (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: DateTimeUtc,
    pub payments: i64,
    pub amount_minor: MinorUnit,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::UserId"
    )]
    Users,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
