//! Field encryption for card and account numbers, the keys it needs, and
//! signed links.

mod field_cipher;
mod keys;
mod signed_links;

pub use field_cipher::{CipherError, FieldCipher};
pub use keys::{DevKeys, KeyError, check_jwt_secret, decode_encryption_key};
pub use signed_links::{LinkError, LinkSigner};
