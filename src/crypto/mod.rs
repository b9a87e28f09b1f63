//! Field encryption for card and account numbers, and the keys it needs.

mod field_cipher;
mod keys;

pub use field_cipher::{CipherError, FieldCipher};
pub use keys::{DevKeys, KeyError, check_jwt_secret, decode_encryption_key};
