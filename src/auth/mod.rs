//! Who is calling: registration, login, sessions, tokens and roles.

mod credentials;
mod devices;
mod error;
mod jwt;
mod password;
mod roles;
mod second_factor;
mod service;
mod sessions;
mod standing;
mod step_up;
mod totp;

pub use credentials::{Email, NewUser, parse_name, parse_phone};
pub use error::AuthError;
pub use jwt::{Claims, TokenKeys};
pub use password::PasswordHasher;
pub use roles::{Role, grant_role, revoke_role};
pub use second_factor::{SecondFactor, SecondFactorInput};
pub use service::{Auth, Caller, LoggedIn, Principal, SupportAgent};
pub use sessions::{ClientInfo, mask_address};
pub use standing::{Standing, Standings};

pub use entity::users::UserStatus;
