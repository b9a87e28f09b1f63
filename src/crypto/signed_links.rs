//! Links that carry their own permission, for a client that cannot send an
//! `Authorization` header (a phone's downloader): the grant and its expiry
//! are in the link, signed (HS256) with a key derived from `JWT_SECRET` for
//! one purpose only. A session token does not verify as a link, nor a link
//! of one purpose as another's: each purpose has its own key and audience.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, errors::ErrorKind,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link this service signed for this purpose, or changed since.
    #[error("this link is not valid")]
    Invalid,
    /// Signed by this service, but past its expiry.
    #[error("this link has expired")]
    Expired,
}

#[derive(Clone)]
pub struct LinkSigner {
    purpose: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// A grant with its audience and expiry, as signed.
#[derive(Serialize, Deserialize)]
struct Signed<C> {
    aud: String,
    exp: i64,
    #[serde(flatten)]
    grant: C,
}

impl LinkSigner {
    /// The signer of `purpose`'s links, its key derived from `secret` (the
    /// JWT secret every instance shares, so any instance verifies a link
    /// another signed).
    pub fn derive(secret: &[u8], purpose: &str) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
        mac.update(format!("paygraph signed link v1: {purpose}").as_bytes());
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[purpose]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        // The expiry is the one a client was told, to the second.
        validation.leeway = 0;
        Self {
            purpose: purpose.to_owned(),
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }

    /// A token (URL-safe: base64url parts joined by dots) that grants
    /// `grant` until `expires_at`.
    pub fn sign<C: Serialize>(&self, grant: C, expires_at: DateTime<Utc>) -> String {
        let signed = Signed {
            aud: self.purpose.clone(),
            exp: expires_at.timestamp(),
            grant,
        };
        encode(&Header::new(Algorithm::HS256), &signed, &self.encoding)
            .expect("HS256 signing of a serialisable grant cannot fail")
    }

    /// The grant of a token this signer made, unchanged and unexpired.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, LinkError> {
        // The signature is checked before the expiry: only a genuine link
        // is told that it expired.
        match decode::<Signed<C>>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims.grant),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(LinkError::Expired),
            Err(_) => Err(LinkError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    use chrono::Duration;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Grant {
        wallet: String,
    }

    fn grant() -> Grant {
        Grant {
            wallet: "w1".into(),
        }
    }

    fn signer() -> LinkSigner {
        LinkSigner::derive(b"a secret of at least thirty-two bytes", "export")
    }

    #[test]
    fn a_link_grants_what_was_signed_until_it_expires() {
        let s = signer();
        let soon = Utc::now() + Duration::minutes(5);
        assert_eq!(s.verify::<Grant>(&s.sign(grant(), soon)), Ok(grant()));
        let past = Utc::now() - Duration::seconds(1);
        assert_eq!(
            s.verify::<Grant>(&s.sign(grant(), past)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn a_changed_or_foreign_link_is_invalid() {
        let s = signer();
        let soon = Utc::now() + Duration::minutes(5);
        let token = s.sign(grant(), soon);
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        claims["wallet"] = "w2".into();
        let changed = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(s.verify::<Grant>(&changed), Err(LinkError::Invalid));
        // Expired and changed: invalid, not expired.
        let old = s.sign(grant(), Utc::now() - Duration::minutes(1));
        let old_parts: Vec<&str> = old.split('.').collect();
        let forged = format!("{}.{}.{}", old_parts[0], old_parts[1], parts[2]);
        assert_eq!(s.verify::<Grant>(&forged), Err(LinkError::Invalid));
        let other_purpose = LinkSigner::derive(b"a secret of at least thirty-two bytes", "other");
        assert_eq!(
            s.verify::<Grant>(&other_purpose.sign(grant(), soon)),
            Err(LinkError::Invalid)
        );
        let other_secret = LinkSigner::derive(b"another secret of thirty-two bytes!", "export");
        assert_eq!(
            s.verify::<Grant>(&other_secret.sign(grant(), soon)),
            Err(LinkError::Invalid)
        );
        assert_eq!(s.verify::<Grant>("not.a.token"), Err(LinkError::Invalid));
        assert_eq!(s.verify::<Grant>(""), Err(LinkError::Invalid));
    }
}
