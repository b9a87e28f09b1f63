//! Opaque global IDs: base64url of `Kind:uuid`. Clients never build them;
//! a malformed one or one of the wrong kind is `BAD_USER_INPUT`.

use async_graphql::ID;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use uuid::Uuid;

use crate::validation::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Wallet,
    Transaction,
    Account,
    PaymentMethod,
    PaymentRequest,
    SupportAction,
    Session,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Wallet => "Wallet",
            Self::Transaction => "Transaction",
            Self::Account => "Account",
            Self::PaymentMethod => "PaymentMethod",
            Self::PaymentRequest => "PaymentRequest",
            Self::SupportAction => "SupportAction",
            Self::Session => "Session",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::User,
            Self::Wallet,
            Self::Transaction,
            Self::Account,
            Self::PaymentMethod,
            Self::PaymentRequest,
            Self::SupportAction,
            Self::Session,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

pub fn encode(kind: Kind, id: Uuid) -> ID {
    ID(B64.encode(format!("{}:{}", kind.as_str(), id)))
}

/// Decodes any global ID into its kind and key.
pub fn decode_any(field: &'static str, id: &ID) -> Result<(Kind, Uuid), InvalidInput> {
    let bad = || InvalidInput::new(field, "is not a valid ID");
    let raw = B64.decode(id.as_str()).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (kind, key) = raw.split_once(':').ok_or_else(bad)?;
    Ok((
        Kind::parse(kind).ok_or_else(bad)?,
        key.parse().map_err(|_| bad())?,
    ))
}

/// Decodes an ID that must be of `kind`.
pub fn decode(field: &'static str, kind: Kind, id: &ID) -> Result<Uuid, InvalidInput> {
    match decode_any(field, id)? {
        (k, key) if k == kind => Ok(key),
        _ => Err(InvalidInput::new(
            field,
            format!("is not a {} ID", kind.as_str()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let key = Uuid::now_v7();
        let id = encode(Kind::Wallet, key);
        assert_eq!(decode("id", Kind::Wallet, &id).unwrap(), key);
        assert!(decode("id", Kind::User, &id).is_err());
        assert!(decode("id", Kind::User, &ID("garbage".into())).is_err());
        assert!(decode("id", Kind::User, &ID(B64.encode("User:not-a-uuid"))).is_err());
    }
}
