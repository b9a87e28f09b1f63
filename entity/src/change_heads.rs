use sea_orm::entity::prelude::*;

/// A user's last change feed number. The database transaction that adds
/// to the user's feed moves it forward, and so holds the row's lock until
/// it commits: a user's entries commit in the order of their numbers, and a
/// reader that has seen number n never finds n - 1 appear later.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_heads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub last_sequence: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
