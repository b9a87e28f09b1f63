use std::sync::Arc;

use argon2::{
    Argon2, PasswordHash, PasswordVerifier,
    password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};

use super::AuthError;

/// argon2id with the crate's recommended parameters. Hashing runs on the
/// blocking pool: it is CPU work measured in tens of milliseconds, and each
/// one takes 19 MiB. At most one per core runs at a time, so a burst of
/// logins queues instead of spawning hundreds of threads whose memory the
/// allocator keeps.
#[derive(Clone)]
pub struct PasswordHasher {
    /// A hash of a random password, verified when the email is unknown so
    /// that a failed login takes the same time whether or not it exists.
    decoy: Arc<String>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl PasswordHasher {
    pub fn new() -> Self {
        let decoy = hash_now(&SecretString::from(uuid::Uuid::new_v4().to_string()))
            .expect("hashing a random password");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            decoy: Arc::new(decoy),
            permits: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .map_err(|e| AuthError::Hashing(e.to_string()))?
    }

    /// Verifies against `stored`, or against the decoy when there is no
    /// user, and reports false in that case too.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> bool {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.decoy.as_str().to_owned());
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_now(password: &SecretString) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}
