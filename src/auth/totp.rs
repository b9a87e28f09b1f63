//! TOTP codes (RFC 6238: HMAC-SHA-1, six digits, 30-second steps, one
//! step of clock drift either way) and recovery codes, as values: what a
//! code is, which time step it belongs to, how a recovery code is written.
//! Storing them and taking a code once is `second_factor`'s job.

use rand::{RngCore, rngs::OsRng};
use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Algorithm, TOTP};

/// Seconds per time step: what every authenticator app uses.
pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Steps of drift accepted either side of now (RFC 6238 §5.2 recommends one).
const SKEW: u8 = 1;
/// 160 bits, the size RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
pub const ISSUER: &str = "paygraph";
pub const RECOVERY_CODES: usize = 10;

/// A TOTP secret, base32 as authenticator apps take it.
pub struct TotpSecret(SecretString);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(base32::encode(
            base32::Alphabet::Rfc4648 { padding: false },
            &bytes,
        )))
    }

    pub fn from_base32(text: SecretString) -> Self {
        Self(text)
    }

    pub fn base32(&self) -> &SecretString {
        &self.0
    }

    fn totp(&self, account: &str) -> Option<TOTP> {
        let bytes = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            self.0.expose_secret(),
        )?;
        Some(TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            SKEW,
            STEP_SECS,
            bytes,
            Some(ISSUER.to_owned()),
            account.replace(':', ""),
        ))
    }

    /// The `otpauth://totp/...` URI an authenticator app scans.
    pub fn uri(&self, account: &str) -> String {
        self.totp(account).map(|t| t.get_url()).unwrap_or_default()
    }

    /// The time step `code` belongs to, within the drift allowed around
    /// `now_secs`; `None` when it matches none.
    pub fn step_of(&self, code: &str, now_secs: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("")?;
        let now = now_secs / STEP_SECS;
        let skew = u64::from(SKEW);
        (now.saturating_sub(skew)..=now + skew).find(|step| {
            let expected = totp.generate(step * STEP_SECS);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ten recovery codes of 16 base32 characters (80 bits) each, written in
/// groups of four: `abcd-efgh-ijkl-mnop`.
pub fn recovery_codes() -> Vec<SecretString> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            OsRng.fill_bytes(&mut bytes);
            let text = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &bytes)
                .to_ascii_lowercase();
            let groups: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
            SecretString::from(groups.join("-"))
        })
        .collect()
}

/// A recovery code as typed, in the one form that is hashed: without
/// dashes or spaces, lower case.
pub fn normalized_recovery_code(typed: &str) -> SecretString {
    SecretString::from(
        typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .collect::<String>()
            .to_ascii_lowercase(),
    )
}

/// Seconds since the epoch, for code checks.
pub fn now_secs() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 vectors, last six digits.
    #[test]
    fn codes_match_the_rfc_vectors_and_name_their_step() {
        let secret = TotpSecret::from_base32(SecretString::from(base32::encode(
            base32::Alphabet::Rfc4648 { padding: false },
            b"12345678901234567890",
        )));
        assert_eq!(secret.step_of("287082", 59), Some(1));
        assert_eq!(secret.step_of("081804", 1_111_111_109), Some(37_037_036));
        assert_eq!(
            secret.step_of("081804", 1_111_111_109 + 30),
            Some(37_037_036)
        );
        assert_eq!(secret.step_of("081804", 1_111_111_109 + 90), None);
        assert_eq!(secret.step_of("28708", 59), None);
        assert_eq!(secret.step_of("abcdef", 59), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalise() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        let set: std::collections::HashSet<&str> =
            codes.iter().map(|c| c.expose_secret()).collect();
        assert_eq!(set.len(), 10);
        let one = codes[0].expose_secret();
        assert_eq!(one.len(), 19);
        assert_eq!(
            normalized_recovery_code(&one.to_uppercase()).expose_secret(),
            one.replace('-', "")
        );
    }
}
