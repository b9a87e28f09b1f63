//! How one user is shown to another: a first name and the initial of the
//! last name, never an email, a phone or a wallet.

use std::collections::HashMap;

use entity::users;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

/// e.g. "Ada L." for Ada Lovelace.
pub fn display_name(first_name: &str, last_name: &str) -> String {
    let initial: String = last_name.chars().take(1).collect();
    format!("{first_name} {initial}.")
}

/// The display names of `user_ids` that exist, reading only the two name
/// columns: a counterparty's row holds a password hash and contact details
/// that no party shown to another user needs.
pub async fn display_names_of(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, DbErr> {
    use users::Column as C;
    let rows: Vec<(Uuid, String, String)> = users::Entity::find()
        .select_only()
        .columns([C::UserId, C::FirstName, C::LastName])
        .filter(C::UserId.is_in(user_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, first, last)| (id, display_name(&first, &last)))
        .collect())
}
