//! A customer's personal data (name, email, phone) and the sealed form events carry it in.
//!
//! Events may never change, yet a customer may ask to be forgotten (GDPR art. 17). So personal
//! data never enters an event in the clear: the infrastructure seals it with a key of that
//! customer's own (`eventstore::personal`) and the events carry only the [`Sealed`] envelope.
//! Erasing the customer destroys the key; every copy of the envelope (the event, its JetStream
//! message, the read models, stored answers) then stays exactly as it was, shape and all, but
//! unreadable. This crate only validates the plain form and carries the sealed one, opaque: it
//! knows nothing of keys or ciphers.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most characters a name may have.
pub const MAX_NAME_CHARS: usize = 200;
/// The most characters an email address may have (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The most characters a phone number may have, separators included.
pub const MAX_PHONE_CHARS: usize = 32;

/// A customer's personal data as given on a booking. Every part is optional.
// `Debug` shows which parts are present, never their values: a `{:?}` in a log line must not
// leak them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PersonalData {
    /// 1 to 200 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, examples("Ada Lovelace"))
    )]
    pub name: Option<String>,
    /// An email address (`local@domain.tld`), at most 254 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 254, examples("ada@example.com"))
    )]
    pub email: Option<String>,
    /// Digits with an optional leading `+` and the separators space, `-`, `.`, `(`, `)`; 3 to
    /// 32 characters with at least 3 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 32, examples("+49 30 1234567"))
    )]
    pub phone: Option<String>,
}

impl fmt::Debug for PersonalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |part: &Option<String>| if part.is_some() { "<redacted>" } else { "-" };
        f.debug_struct("PersonalData")
            .field("name", &shown(&self.name))
            .field("email", &shown(&self.email))
            .field("phone", &shown(&self.phone))
            .finish()
    }
}

/// A part of [`PersonalData`] that is not acceptable. The message never repeats the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// `name`, `email` or `phone`.
    pub field: &'static str,
    pub message: &'static str,
}

impl PersonalData {
    /// Whether no part is given (then there is nothing to seal).
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.email.is_none() && self.phone.is_none()
    }

    /// The parts that break their rules, in field order (empty: all good).
    pub fn problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        if let Some(name) = &self.name
            && let Err(message) = check_name(name)
        {
            out.push(Invalid {
                field: "name",
                message,
            });
        }
        if let Some(email) = &self.email
            && let Err(message) = check_email(email)
        {
            out.push(Invalid {
                field: "email",
                message,
            });
        }
        if let Some(phone) = &self.phone
            && let Err(message) = check_phone(phone)
        {
            out.push(Invalid {
                field: "phone",
                message,
            });
        }
        out
    }
}

fn check_name(name: &str) -> Result<(), &'static str> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_NAME_CHARS {
        return Err("must be 1 to 200 characters, not only spaces");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// A deliberately modest check: one `@`, a non-empty local part of at most 64 characters, a
/// domain of dot-separated non-empty labels with at least one dot, no spaces or control
/// characters. Whether the address exists is not ours to know.
fn check_email(email: &str) -> Result<(), &'static str> {
    const MESSAGE: &str = "must be an email address like name@example.com (at most 254 characters)";
    if email.chars().count() > MAX_EMAIL_CHARS
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(MESSAGE);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(MESSAGE);
    };
    let labels_ok = domain.contains('.')
        && !domain.contains('@')
        && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || local.chars().count() > 64 || !labels_ok {
        return Err(MESSAGE);
    }
    Ok(())
}

fn check_phone(phone: &str) -> Result<(), &'static str> {
    const MESSAGE: &str = "must be a phone number: digits, an optional leading +, and spaces, \
                           -, ., ( or ); 3 to 32 characters";
    let chars = phone.chars().count();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone.chars().enumerate().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')') || (c == '+' && i == 0)
    });
    if !(3..=MAX_PHONE_CHARS).contains(&chars) || digits < 3 || !allowed {
        return Err(MESSAGE);
    }
    Ok(())
}

/// Personal data sealed with its customer's key: what events (and every copy of them) carry.
/// Opaque here; `eventstore::personal` seals and opens it. `key_id` names the key, which
/// erasure destroys; without it the envelope is noise of the same shape.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The cipher, so a later one can be introduced beside it.
    pub alg: String,
    /// The customer's key it was sealed with.
    pub key_id: Uuid,
    /// Base64 (standard, padded).
    pub nonce: String,
    /// Base64 (standard, padded): the sealed JSON of [`PersonalData`] and its tag.
    pub ciphertext: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("alg", &self.alg)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: Option<&str>, email: Option<&str>, phone: Option<&str>) -> PersonalData {
        PersonalData {
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
        }
    }

    #[test]
    fn ordinary_names_emails_and_phones_pass() {
        for (name, email, phone) in [
            ("Ada Lovelace", "ada@example.com", "+49 30 1234567"),
            (
                "Zoë O'Brien-Łukasiewicz",
                "z.o+tag@mail.example.co.uk",
                "(030) 123-45.67",
            ),
            ("李小龍", "x@y.z", "112"),
        ] {
            let given = data(Some(name), Some(email), Some(phone));
            assert_eq!(given.problems(), Vec::new(), "{name} {email} {phone}");
        }
        assert!(PersonalData::default().is_empty());
        assert!(PersonalData::default().problems().is_empty());
    }

    #[test]
    fn bad_parts_are_named_without_their_values() {
        let long = "x".repeat(201);
        for (given, field) in [
            (data(Some(""), None, None), "name"),
            (data(Some("   "), None, None), "name"),
            (data(Some(&long), None, None), "name"),
            (data(Some("a\u{0}b"), None, None), "name"),
            (data(None, Some("no-at-sign"), None), "email"),
            (data(None, Some("a@b"), None), "email"),
            (data(None, Some("a@@b.c"), None), "email"),
            (data(None, Some("@b.c"), None), "email"),
            (data(None, Some("a b@c.d"), None), "email"),
            (data(None, Some("a@b..c"), None), "email"),
            (data(None, None, Some("12")), "phone"),
            (data(None, None, Some("12+345")), "phone"),
            (data(None, None, Some("call me")), "phone"),
            (data(None, None, Some(&"1".repeat(33))), "phone"),
        ] {
            let problems = given.problems();
            assert_eq!(problems.len(), 1, "{field}");
            assert_eq!(problems[0].field, field);
            for value in [&given.name, &given.email, &given.phone]
                .into_iter()
                .flatten()
            {
                assert!(value.is_empty() || !problems[0].message.contains(value.as_str()));
            }
        }
    }

    #[test]
    fn debug_output_never_shows_the_values() {
        let given = data(Some("Secret Name"), Some("secret@example.com"), None);
        let shown = format!("{given:?}");
        assert!(!shown.contains("Secret"), "{shown}");
        assert!(!shown.contains("secret@"), "{shown}");
        let sealed = Sealed {
            alg: "x".into(),
            key_id: Uuid::nil(),
            nonce: "n0nce".into(),
            ciphertext: "c1pher".into(),
        };
        let shown = format!("{sealed:?}");
        assert!(
            !shown.contains("c1pher") && !shown.contains("n0nce"),
            "{shown}"
        );
    }
}
