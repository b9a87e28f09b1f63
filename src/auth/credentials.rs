//! Registration input, each part only constructible valid.

use secrecy::{ExposeSecret, SecretString};

use crate::validation::InvalidInput;

/// An email address, trimmed and lower-cased so that uniqueness is
/// case-insensitive by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let email = raw.trim().to_lowercase();
        let bad = || InvalidInput::new("email", "is not a valid email address");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = email.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub struct NewUser {
    pub email: Email,
    pub password: SecretString,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
}

impl NewUser {
    pub fn parse(
        email: &str,
        password: SecretString,
        first_name: &str,
        last_name: &str,
        phone: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let email = Email::parse(email)?;
        check_password(&password, &email)?;
        Ok(Self {
            first_name: parse_name("firstName", first_name)?,
            last_name: parse_name("lastName", last_name)?,
            phone: phone.map(parse_phone).transpose()?,
            email,
            password,
        })
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_CHARS: usize = 128;

fn check_password(password: &SecretString, email: &Email) -> Result<(), InvalidInput> {
    let p = password.expose_secret();
    let chars = p.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(InvalidInput::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(InvalidInput::new(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let lowered = p.to_lowercase();
    let local = email.as_str().split('@').next().unwrap_or_default();
    if lowered == email.as_str() || (local.len() >= 4 && lowered.contains(local)) {
        return Err(InvalidInput::new(
            "password",
            "must not contain your email address",
        ));
    }
    Ok(())
}

pub fn parse_name(field: &'static str, raw: &str) -> Result<String, InvalidInput> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(InvalidInput::new(field, "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

/// E.164: a plus sign and 8 to 15 digits; spaces, dashes and parentheses
/// are accepted on input and dropped.
pub fn parse_phone(raw: &str) -> Result<String, InvalidInput> {
    let kept: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = kept.strip_prefix('+').unwrap_or("");
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidInput::new(
            "phone",
            "must be an international number such as +14155550100",
        ));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "ann@x..com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn passwords_are_long_and_not_the_email() {
        let email = Email::parse("annabel@example.com").unwrap();
        let pw = |s: &str| check_password(&SecretString::from(s.to_owned()), &email);
        assert!(pw("short").is_err());
        assert!(pw("annabel@example.com").is_err());
        assert!(pw("ANNABEL-is-great").is_err());
        assert!(pw("correct horse battery").is_ok());
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(parse_phone("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert!(parse_phone("4155550100").is_err());
        assert!(parse_phone("+1abc").is_err());
    }
}
