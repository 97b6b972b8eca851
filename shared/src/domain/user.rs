use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// An email address, trimmed and lower-cased; compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or("must contain '@'")?;
        if email.chars().count() > 254 {
            return Err("must be at most 254 characters");
        }
        if local.is_empty() || local.len() > 64 {
            return Err("the part before '@' must be 1 to 64 characters");
        }
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if !domain_ok {
            return Err("has an invalid domain");
        }
        // RFC 2606 reserves `.invalid`; erased accounts get addresses there.
        if domain == "invalid" || domain.ends_with(".invalid") {
            return Err("uses a reserved domain");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',') {
            return Err("must not contain spaces, control characters, '<', '>' or ','");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed by its owner; never printed, never logged.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// A new password must be 8 to 128 characters and not only spaces
    /// (length over composition rules, as NIST SP 800-63B advises).
    pub fn parse_new(raw: String) -> Result<Self, String> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(format!("must be {} to {} characters", Self::MIN_CHARS, Self::MAX_CHARS));
        }
        if raw.trim().is_empty() {
            return Err("must not be only spaces".into());
        }
        Ok(Self(raw.into()))
    }

    /// A password offered at sign-in: any string, checked only against the hash.
    pub fn candidate(raw: String) -> Self {
        Self(raw.into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A first or last name: trimmed, 1 to 100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        match name.chars().count() {
            0 => Err("must not be empty"),
            101.. => Err("must be at most 100 characters"),
            _ if name.chars().any(char::is_control) => Err("must not contain control characters"),
            _ => Ok(Self(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: digits with an optional leading '+', spaces, dashes, dots
/// and parentheses; 4 to 32 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let phone = raw.trim();
        let body = phone.strip_prefix('+').unwrap_or(phone);
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if !(4..=32).contains(&phone.chars().count()) || digits < 4 {
            return Err("must have 4 to 32 characters with at least 4 digits");
        }
        if !body.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c)) {
            return Err("may contain only digits, a leading '+', spaces, '-', '.', '(' and ')'");
        }
        Ok(Self(phone.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user may do. Only an operator (CLI) or an admin grants `admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Guest,
    Host,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Host => "host",
            Role::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ana@Example.COM ").unwrap().as_str(), "ana@example.com");
        for bad in [
            "",
            "no-at-sign",
            "@example.com",
            "ana@",
            "ana@@example.com",
            "a b@example.com",
            "ana@-x.com",
            "ana@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn passwords_need_eight_to_128_characters_and_never_print() {
        assert!(Password::parse_new("short".into()).is_err());
        assert!(Password::parse_new("        ".into()).is_err());
        assert!(Password::parse_new("x".repeat(129)).is_err());
        let password = Password::parse_new("correct horse".into()).unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
    }

    #[test]
    fn names_and_phones_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse("  Ana ").unwrap().as_str(), "Ana");
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
        assert!(PhoneNumber::parse("+1 (555) 010-9999").is_ok());
        assert!(PhoneNumber::parse("call me").is_err());
        assert!(PhoneNumber::parse("+12").is_err());
    }
}
