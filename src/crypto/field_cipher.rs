use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, AeadCore, KeyInit, OsRng},
};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// AES-256-GCM for sensitive fields, with the key id written into every
/// ciphertext (`v1:<kid>:<base64 nonce||ciphertext>`) so keys can rotate:
/// new writes use the current key, old rows name the key they need.
#[derive(Clone)]
pub struct FieldCipher {
    key_id: String,
    cipher: Aes256Gcm,
    fingerprint_key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was written with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("ciphertext failed authentication")]
    Tampered,
}

impl FieldCipher {
    pub fn new(key_id: &str, key: &[u8; 32]) -> Self {
        // The fingerprint key is derived, not the encryption key itself, so
        // the two uses never share a key.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(b"paygraph fingerprint key v1");
        let fingerprint_key: [u8; 32] = mac.finalize().into_bytes().into();
        Self {
            key_id: key_id.to_owned(),
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            fingerprint_key,
        }
    }

    pub fn encrypt(&self, plaintext: &SecretString) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plaintext.expose_secret().as_bytes())
            .expect("AES-GCM encryption of a short field cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!("v1:{}:{}", self.key_id, B64.encode(blob))
    }

    pub fn decrypt(&self, stored: &str) -> Result<SecretString, CipherError> {
        let mut parts = stored.splitn(3, ':');
        let (Some("v1"), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CipherError::Malformed);
        };
        if kid != self.key_id {
            return Err(CipherError::UnknownKey(kid.to_owned()));
        }
        let blob = B64.decode(body).map_err(|_| CipherError::Malformed)?;
        if blob.len() < 12 {
            return Err(CipherError::Malformed);
        }
        let (nonce, sealed) = blob.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| CipherError::Tampered)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CipherError::Malformed)
    }

    /// A keyed hash of a value, so uniqueness can be enforced by an index
    /// without storing the value or an unkeyed (brute-forceable) hash.
    pub fn fingerprint(&self, value: &SecretString) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.fingerprint_key).expect("any key length");
        mac.update(value.expose_secret().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn round_trips_and_never_contains_the_plaintext() {
        let c = FieldCipher::new("k1", &[7; 32]);
        let sealed = c.encrypt(&secret("4242424242424242"));
        assert!(sealed.starts_with("v1:k1:"));
        assert!(!sealed.contains("4242"));
        assert_eq!(
            c.decrypt(&sealed).unwrap().expose_secret(),
            "4242424242424242"
        );
    }

    #[test]
    fn refuses_tampering_and_unknown_keys() {
        let c = FieldCipher::new("k1", &[7; 32]);
        let sealed = c.encrypt(&secret("123456789"));
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(c.decrypt(&String::from_utf8(bytes).unwrap()).is_err());
        let other = FieldCipher::new("k2", &[7; 32]);
        assert!(matches!(other.decrypt(&sealed), Err(CipherError::UnknownKey(k)) if k == "k1"));
    }

    #[test]
    fn fingerprints_are_stable_and_keyed() {
        let a = FieldCipher::new("k1", &[1; 32]);
        let b = FieldCipher::new("k1", &[2; 32]);
        assert_eq!(a.fingerprint(&secret("x")), a.fingerprint(&secret("x")));
        assert_ne!(a.fingerprint(&secret("x")), b.fingerprint(&secret("x")));
    }
}
