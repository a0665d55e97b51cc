//! The service aggregate: what a customer books on a resource (a 45-minute cut at €25), with
//! its duration, price, buffers and the resources it is offered on.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, ServiceCreated, ServiceUpdated};
use crate::ids::{ResourceId, ServiceId};
use crate::period::Period;
use crate::resource::{FieldIssue, Resource};

const MAX_NAME_CHARS: usize = 200;
/// At most 366 days, like a resource's longest booking.
const MAX_DURATION_MINUTES: u32 = 366 * 1440;
const MAX_BUFFER_MINUTES: u32 = 1440;
const MAX_RESOURCE_IDS: usize = 100;

/// An amount of money in the currency's minor unit (cents).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// In the currency's minor unit (2500 = €25.00); at least 0.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub amount_minor: i64,
    /// An ISO 4217 code, in upper case.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{3}$", examples("EUR")))]
    pub currency: String,
}

impl Price {
    /// Adds what is wrong with the price (named under `field`) to `issues`.
    pub fn validate(&self, field: &str, issues: &mut Vec<FieldIssue>) {
        if self.amount_minor < 0 {
            issues.push(FieldIssue::new(
                format!("{field}.amount_minor"),
                "must be at least 0",
            ));
        }
        if !crate::currency::is_iso_4217(&self.currency) {
            issues.push(FieldIssue::new(
                format!("{field}.currency"),
                "must be an ISO 4217 currency code in upper case (e.g. EUR)",
            ));
        }
    }
}

/// The changeable description of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub name: String,
    pub duration_minutes: u32,
    pub price: Price,
    #[serde(default)]
    pub buffer_before_minutes: u32,
    #[serde(default)]
    pub buffer_after_minutes: u32,
    /// The resources it is offered on (with `resource_kind`: either matches); both empty:
    /// every resource.
    #[serde(default)]
    pub resource_ids: Vec<ResourceId>,
    #[serde(default)]
    pub resource_kind: Option<String>,
    /// An archived service takes no new bookings.
    #[serde(default)]
    pub archived: bool,
}

impl ServiceSpec {
    pub fn validate(&self) -> Result<(), ServiceError> {
        let mut issues = Vec::new();
        let name_chars = self.name.trim().chars().count();
        if name_chars == 0 || name_chars > MAX_NAME_CHARS {
            issues.push(FieldIssue::new("name", "must be 1 to 200 characters"));
        }
        if !(1..=MAX_DURATION_MINUTES).contains(&self.duration_minutes) {
            issues.push(FieldIssue::new(
                "duration_minutes",
                "must be between 1 and 527040 (366 days)",
            ));
        }
        self.price.validate("price", &mut issues);
        if self.buffer_before_minutes > MAX_BUFFER_MINUTES {
            issues.push(FieldIssue::new(
                "buffer_before_minutes",
                "must be at most 1440",
            ));
        }
        if self.buffer_after_minutes > MAX_BUFFER_MINUTES {
            issues.push(FieldIssue::new(
                "buffer_after_minutes",
                "must be at most 1440",
            ));
        }
        if self.resource_ids.len() > MAX_RESOURCE_IDS {
            issues.push(FieldIssue::new("resource_ids", "must be at most 100 ids"));
        }
        if let Some(kind) = &self.resource_kind
            && (kind.is_empty()
                || kind.len() > 64
                || !kind
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        {
            issues.push(FieldIssue::new(
                "resource_kind",
                "must be 1 to 64 characters of a-z, 0-9 and _",
            ));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(issues))
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::minutes(i64::from(self.duration_minutes))
    }
}

/// What a booking takes from its service: the id, and the buffers to apply where larger than
/// the resource's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceTerms {
    pub service_id: ServiceId,
    pub buffer_before_minutes: u32,
    pub buffer_after_minutes: u32,
}

/// The buffers a booking keeps free: the resource's, or the service's where larger.
pub fn buffers(resource: &Resource, service: Option<&ServiceTerms>) -> (Duration, Duration) {
    let policy = &resource.spec.policy;
    let (before, after) = service.map_or((0, 0), |s| {
        (s.buffer_before_minutes, s.buffer_after_minutes)
    });
    (
        Duration::minutes(i64::from(policy.buffer_before_minutes.max(before))),
        Duration::minutes(i64::from(policy.buffer_after_minutes.max(after))),
    )
}

/// The changes of a `PATCH`: absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceChanges {
    pub name: Option<String>,
    pub duration_minutes: Option<u32>,
    pub price: Option<Price>,
    pub buffer_before_minutes: Option<u32>,
    pub buffer_after_minutes: Option<u32>,
    pub resource_ids: Option<Vec<ResourceId>>,
    /// `Some(None)`: no longer restricted by kind.
    pub resource_kind: Option<Option<String>>,
    pub archived: Option<bool>,
}

/// Why a service command (or a booking of a service) is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("the service is not valid")]
    Invalid(Vec<FieldIssue>),
    #[error("no service with this id")]
    NotFound,
    #[error("a service with this id already exists")]
    AlreadyExists,
    #[error("the service is not offered on this resource (or it is archived)")]
    NotOffered,
}

/// The commands on a service.
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceCommand {
    Create { id: ServiceId, spec: ServiceSpec },
    Update(ServiceChanges),
}

/// A service as its events made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub id: ServiceId,
    pub spec: ServiceSpec,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Service {
    pub fn created(event: &ServiceCreated, at: DateTime<Utc>) -> Self {
        Self {
            id: event.service_id,
            spec: event.spec.clone(),
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    pub fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        if let Event::ServiceUpdated(updated) = event {
            self.spec = updated.spec.clone();
            self.version += 1;
            self.updated_at = at;
        }
    }

    pub fn decide(
        state: Option<&Service>,
        command: ServiceCommand,
    ) -> Result<Vec<Event>, ServiceError> {
        let event = match (state, command) {
            (None, ServiceCommand::Create { id, spec }) => {
                spec.validate()?;
                Event::ServiceCreated(ServiceCreated {
                    service_id: id,
                    spec,
                })
            }
            (Some(_), ServiceCommand::Create { .. }) => return Err(ServiceError::AlreadyExists),
            (None, ServiceCommand::Update(_)) => return Err(ServiceError::NotFound),
            (Some(service), ServiceCommand::Update(changes)) => {
                Event::ServiceUpdated(service.update(changes)?)
            }
        };
        Ok(vec![event])
    }

    fn update(&self, changes: ServiceChanges) -> Result<ServiceUpdated, ServiceError> {
        let mut spec = self.spec.clone();
        let ServiceChanges {
            name,
            duration_minutes,
            price,
            buffer_before_minutes,
            buffer_after_minutes,
            resource_ids,
            resource_kind,
            archived,
        } = changes;
        spec.name = name.unwrap_or(spec.name);
        spec.duration_minutes = duration_minutes.unwrap_or(spec.duration_minutes);
        spec.price = price.unwrap_or(spec.price);
        spec.buffer_before_minutes = buffer_before_minutes.unwrap_or(spec.buffer_before_minutes);
        spec.buffer_after_minutes = buffer_after_minutes.unwrap_or(spec.buffer_after_minutes);
        spec.resource_ids = resource_ids.unwrap_or(spec.resource_ids);
        spec.resource_kind = resource_kind.unwrap_or(spec.resource_kind);
        spec.archived = archived.unwrap_or(spec.archived);
        spec.validate()?;
        Ok(ServiceUpdated {
            service_id: self.id,
            spec,
        })
    }

    /// Whether a new booking of this service may be placed on `resource`: the service is not
    /// archived, and the resource is among its `resource_ids` or of its `resource_kind` (when
    /// neither is given, every resource is).
    pub fn offered_on(&self, resource: &Resource) -> bool {
        let spec = &self.spec;
        if spec.archived {
            return false;
        }
        let unrestricted = spec.resource_ids.is_empty() && spec.resource_kind.is_none();
        unrestricted
            || spec.resource_ids.contains(&resource.id)
            || spec.resource_kind.as_deref() == Some(resource.spec.kind.as_str())
    }

    /// What a booking of this service on `resource` takes from it, refused when it is not
    /// offered there.
    pub fn terms_on(&self, resource: &Resource) -> Result<ServiceTerms, ServiceError> {
        if !self.offered_on(resource) {
            return Err(ServiceError::NotOffered);
        }
        Ok(ServiceTerms {
            service_id: self.id,
            buffer_before_minutes: self.spec.buffer_before_minutes,
            buffer_after_minutes: self.spec.buffer_after_minutes,
        })
    }

    /// The period of a booking of this service starting at `start`.
    pub fn period_from(&self, start: DateTime<Utc>) -> Option<Period> {
        Period::new(start, start + self.spec.duration()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::given;
    use crate::resource::{Policy, ResourceSpec};

    fn spec() -> ServiceSpec {
        ServiceSpec {
            name: "Cut".into(),
            duration_minutes: 45,
            price: Price {
                amount_minor: 2500,
                currency: "EUR".into(),
            },
            buffer_before_minutes: 0,
            buffer_after_minutes: 10,
            resource_ids: Vec::new(),
            resource_kind: Some("barber".into()),
            archived: false,
        }
    }

    fn resource(kind: &str) -> Resource {
        Resource::created(
            &Resource::create(
                ResourceId::generate(),
                ResourceSpec {
                    name: "Anna".into(),
                    kind: kind.into(),
                    capacity: 1,
                    time_zone: chrono_tz::Europe::Berlin,
                    opening_hours: None,
                    policy: Policy::default(),
                    attributes: Default::default(),
                    archived: false,
                },
            )
            .unwrap(),
            Utc::now(),
        )
    }

    #[test]
    fn a_bad_price_currency_or_zero_duration_is_refused_by_field() {
        let mut bad = spec();
        bad.duration_minutes = 0;
        bad.price = Price {
            amount_minor: -1,
            currency: "eur".into(),
        };
        let id = ServiceId::generate();
        let fields: Vec<String> =
            match Service::decide(None, ServiceCommand::Create { id, spec: bad }) {
                Err(ServiceError::Invalid(issues)) => {
                    issues.into_iter().map(|i| i.field.into_owned()).collect()
                }
                other => panic!("{other:?}"),
            };
        assert_eq!(
            fields,
            ["duration_minutes", "price.amount_minor", "price.currency"]
        );
    }

    #[test]
    fn a_service_is_offered_on_its_kind_or_ids_until_archived() {
        let id = ServiceId::generate();
        let now = Utc::now();
        let created = Event::ServiceCreated(ServiceCreated {
            service_id: id,
            spec: spec(),
        });
        let service = given::<Service>(std::slice::from_ref(&created), now)
            .state
            .unwrap();
        let other = resource("room");
        assert!(service.offered_on(&resource("barber")));
        assert!(!service.offered_on(&other));
        let mut listed = spec();
        listed.resource_ids = vec![other.id];
        let changes = ServiceChanges {
            resource_ids: Some(vec![other.id]),
            ..ServiceChanges::default()
        };
        let service = given::<Service>(std::slice::from_ref(&created), now)
            .when(ServiceCommand::Update(changes), now)
            .then(&[Event::ServiceUpdated(ServiceUpdated {
                service_id: id,
                spec: listed,
            })]);
        assert!(service.offered_on(&other));
        assert_eq!(service.version, 2);
        let archive = ServiceChanges {
            archived: Some(true),
            ..ServiceChanges::default()
        };
        let events = Service::decide(Some(&service), ServiceCommand::Update(archive)).unwrap();
        let archived = given::<Service>(&[created, events[0].clone()], now)
            .state
            .unwrap();
        assert_eq!(archived.terms_on(&other), Err(ServiceError::NotOffered));
    }
}
