//! Users' rows as the API reads them by id. Who may see a row is the
//! caller's decision (`support::sight`).

use entity::users;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// One user, if they exist.
pub async fn user_by_id(
    db: &DatabaseConnection,
    user_id: Uuid,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(user_id).one(db).await
}

/// Users by id, whole rows, for the per-request loader.
pub async fn users_by_id(
    db: &DatabaseConnection,
    user_ids: &[Uuid],
) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::UserId.is_in(user_ids.iter().copied()))
        .all(db)
        .await
}
