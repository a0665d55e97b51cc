//! Identifier newtypes, so a booking id can never be passed where a resource id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7: new rows land at the end of b-tree indexes).
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

uuid_id!(
    /// A bookable resource; also the id of its event stream.
    ResourceId
);
uuid_id!(
    /// A booking; also the id of its event stream.
    BookingId
);
uuid_id!(
    /// A blackout of a resource.
    BlackoutId
);
uuid_id!(
    /// A service (what a customer books on a resource); also the id of its event stream.
    ServiceId
);
uuid_id!(
    /// A recurring series of bookings; also the id of its event stream.
    SeriesId
);

/// The customer a booking is for (for a client, the `sub` of its token).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub String);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant: every row, stream, cache key and NATS subject is scoped by one. Tenant ids become
/// part of NATS subjects and cache keys, so only a safe alphabet is accepted: 1 to 64 of a-z,
/// A-Z, 0-9, `_` and `-`. A `TenantId` is therefore always safe to embed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// A tenant id outside the safe alphabet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a tenant is 1 to 64 characters of a-z, A-Z, 0-9, _ or -")]
pub struct InvalidTenant;

impl TenantId {
    /// The tenant `id`, if it is 1 to 64 characters of the safe alphabet.
    pub fn parse(id: impl Into<String>) -> Result<Self, InvalidTenant> {
        let id = id.into();
        let safe = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if safe {
            Ok(Self(id))
        } else {
            Err(InvalidTenant)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenant;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::parse(id)
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidTenant;
    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::parse(id)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_outside_the_safe_alphabet_are_refused() {
        assert!(TenantId::parse("acme-eu_1").is_ok());
        assert_eq!(TenantId::parse("acme.eu"), Err(InvalidTenant));
        assert_eq!(TenantId::parse(""), Err(InvalidTenant));
        assert_eq!(TenantId::parse("a b"), Err(InvalidTenant));
        assert_eq!(TenantId::parse("x".repeat(65)), Err(InvalidTenant));
        assert!(TenantId::parse("x".repeat(64)).is_ok());
    }

    #[test]
    fn a_tenant_in_json_is_checked_when_read() {
        let tenant: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert!(serde_json::from_str::<TenantId>("\"acme.eu\"").is_err());
        assert_eq!(serde_json::to_string(&tenant).unwrap(), "\"acme\"");
    }
}
