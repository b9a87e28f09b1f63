//! Development keys: generated once for the embedded default and kept
//! beside the SQLite file, so tokens and ciphertexts survive a restart.

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct DevKeys {
    pub jwt_secret: String,
    pub encryption_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the development key file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("the development key file {0} is corrupt")]
    Corrupt(String),
    #[error("{0} must be base64 of exactly 32 bytes")]
    BadEncryptionKey(&'static str),
    #[error("JWT_SECRET must be at least 32 bytes")]
    ShortJwtSecret,
}

impl DevKeys {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let mut jwt = [0u8; 48];
        let mut enc = [0u8; 32];
        rng.fill_bytes(&mut jwt);
        rng.fill_bytes(&mut enc);
        Self {
            jwt_secret: B64.encode(jwt),
            encryption_key: B64.encode(enc),
        }
    }

    /// Loads the file, or creates it (mode 0600) when absent. Returns the
    /// keys and whether they were just generated.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(|k| (k, false))
                .map_err(|_| KeyError::Corrupt(name)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::generate();
                write_private(
                    path,
                    &serde_json::to_string_pretty(&keys).expect("serialisable"),
                )
                .map_err(|e| KeyError::Io(name, e))?;
                Ok((keys, true))
            }
            Err(e) => Err(KeyError::Io(name, e)),
        }
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

pub fn decode_encryption_key(b64: &str) -> Result<[u8; 32], KeyError> {
    B64.decode(b64.trim())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or(KeyError::BadEncryptionKey("PAYGRAPH_ENCRYPTION_KEY"))
}

pub fn check_jwt_secret(secret: &str) -> Result<(), KeyError> {
    if secret.len() < 32 {
        return Err(KeyError::ShortJwtSecret);
    }
    Ok(())
}
