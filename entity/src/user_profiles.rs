use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where the user's identity check stands; only `Verified` lifts the daily
/// limit. Stored in `kyc_status` as its `string_value`, which is also its
/// serialised form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "snake_case")]
pub enum KycStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "verified")]
    Verified,
    #[sea_orm(string_value = "rejected")]
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub profile_id: Uuid,
    /// One profile per user (`uq_user_profiles_user_id`).
    #[sea_orm(unique)]
    pub user_id: Uuid,
    pub date_of_birth: Option<Date>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub address: Option<Json>,
    pub kyc_status: KycStatus,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub kyc_documents: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// Audit events carry the serialised form; it is the stored one.
    #[test]
    fn serialised_as_stored() {
        for k in KycStatus::iter() {
            assert_eq!(serde_json::to_value(k).unwrap(), k.to_value().as_str());
        }
    }
}
