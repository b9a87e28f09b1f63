//! How one user is shown to another: a first name and the initial of the
//! last name, never an email, a phone or a wallet.

use entity::users;

/// e.g. "Ada L." for Ada Lovelace.
pub fn display_name(user: &users::Model) -> String {
    let initial: String = user.last_name.chars().take(1).collect();
    format!("{} {}.", user.first_name, initial)
}
