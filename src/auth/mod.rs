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

/// A user's standing, as stored in `users.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Suspended,
    Closed,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    /// The status [`UserStatus::as_str`] names; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Suspended, Self::Closed]
            .into_iter()
            .find(|status| status.as_str() == s)
    }

    /// Lenient: a value this build does not know counts as active.
    pub fn from_db(s: &str) -> Self {
        Self::parse(s).unwrap_or(Self::Active)
    }
}
