use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AuthError;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    /// The session this token belongs to; logout deletes it.
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks tokens. The algorithm is pinned (HS256), so `none` and
/// algorithm-confusion tokens fail; issuer, audience, expiry and key id
/// are all required.
#[derive(Clone)]
pub struct TokenKeys {
    key_id: String,
    issuer: String,
    audience: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8], key_id: &str, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            key_id: key_id.to_owned(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, user_id: Uuid, session_id: Uuid, expires_at: i64) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: chrono::Utc::now().timestamp(),
            exp: expires_at,
        };
        encode(&header, &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Unauthenticated)?;
        if header.kid.as_deref() != Some(self.key_id.as_str()) {
            return Err(AuthError::Unauthenticated);
        }
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[9; 32], "k1", "paygraph", "paygraph-api")
    }

    fn in_an_hour() -> i64 {
        chrono::Utc::now().timestamp() + 3600
    }

    #[test]
    fn accepts_its_own_tokens() {
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        let claims = keys().verify(&keys().issue(u, s, in_an_hour())).unwrap();
        assert_eq!((claims.sub, claims.sid), (u, s));
    }

    #[test]
    fn rejects_forgeries() {
        let k = keys();
        let token = k.issue(Uuid::now_v7(), Uuid::now_v7(), in_an_hour());
        let parts: Vec<&str> = token.split('.').collect();

        let none_header = B64.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        assert!(k.verify(&format!("{none_header}.{}.", parts[1])).is_err());

        let mut payload: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = serde_json::json!(Uuid::now_v7());
        let tampered = B64.encode(payload.to_string());
        assert!(
            k.verify(&format!("{}.{tampered}.{}", parts[0], parts[2]))
                .is_err()
        );

        let other = TokenKeys::new(&[8; 32], "k1", "paygraph", "paygraph-api");
        assert!(
            k.verify(&other.issue(Uuid::now_v7(), Uuid::now_v7(), in_an_hour()))
                .is_err()
        );

        let expired = k.issue(
            Uuid::now_v7(),
            Uuid::now_v7(),
            chrono::Utc::now().timestamp() - 60,
        );
        assert!(k.verify(&expired).is_err());

        let wrong_aud = TokenKeys::new(&[9; 32], "k1", "paygraph", "elsewhere");
        assert!(
            k.verify(&wrong_aud.issue(Uuid::now_v7(), Uuid::now_v7(), in_an_hour()))
                .is_err()
        );

        let wrong_kid = TokenKeys::new(&[9; 32], "k2", "paygraph", "paygraph-api");
        assert!(
            k.verify(&wrong_kid.issue(Uuid::now_v7(), Uuid::now_v7(), in_an_hour()))
                .is_err()
        );
    }
}
