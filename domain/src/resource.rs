//! The resource aggregate: something whose time is consumed (a room, a staff member, a hotel
//! room type, a class session), its opening hours, blackouts and booking policy.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::attributes::Attributes;
use crate::availability;
use crate::event::{BlackoutAdded, BlackoutRemoved, Event, ResourceCreated, ResourceUpdated};
use crate::hours::{OpeningHours, open_periods};
use crate::ids::{BlackoutId, ResourceId};
use crate::period::{self, Period};
pub use crate::policy::{Policy, QuotaUse};

/// Upper bounds that keep a single resource's data and arithmetic small.
pub const MAX_CAPACITY: u32 = 10_000;
const MAX_NAME_CHARS: usize = 200;
const MAX_REASON_CHARS: usize = 500;

/// The changeable description of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSpec {
    pub name: String,
    pub kind: String,
    pub capacity: u32,
    pub time_zone: Tz,
    /// `None` = open around the clock.
    pub opening_hours: Option<OpeningHours>,
    pub policy: Policy,
    /// What filters and search match on (absent in events older than attributes: empty).
    #[serde(default)]
    pub attributes: Attributes,
    /// An archived resource takes no new bookings or holds; its existing ones go on (absent
    /// in events older than archiving: not archived).
    #[serde(default)]
    pub archived: bool,
}

/// One invalid field, named by its JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldIssue {
    pub field: Cow<'static, str>,
    pub message: &'static str,
}

impl FieldIssue {
    pub fn new(field: impl Into<Cow<'static, str>>, message: &'static str) -> Self {
        Self {
            field: field.into(),
            message,
        }
    }
}

impl ResourceSpec {
    pub fn validate(&self) -> Result<(), ResourceError> {
        let mut issues = Vec::new();
        let name_chars = self.name.trim().chars().count();
        if name_chars == 0 || name_chars > MAX_NAME_CHARS {
            issues.push(FieldIssue::new("name", "must be 1 to 200 characters"));
        }
        if self.kind.is_empty()
            || self.kind.len() > 64
            || !self
                .kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            issues.push(FieldIssue::new(
                "kind",
                "must be 1 to 64 characters of a-z, 0-9 and _ (e.g. meeting_room)",
            ));
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            issues.push(FieldIssue::new("capacity", "must be between 1 and 10000"));
        }
        self.policy.validate(&mut issues);
        self.attributes.validate(&mut issues);
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ResourceError::Invalid(issues))
        }
    }
}

/// A period during which the resource cannot be booked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blackout {
    pub id: BlackoutId,
    #[serde(flatten)]
    pub period: Period,
    pub reason: String,
}

/// The changes of a `PATCH`: absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceChanges {
    pub name: Option<String>,
    pub capacity: Option<u32>,
    /// `Some(None)` = open around the clock from now on.
    pub opening_hours: Option<Option<OpeningHours>>,
    /// The fields given replace the current ones; the others stay.
    pub policy: Option<serde_json::Map<String, serde_json::Value>>,
    /// Replaces the whole object.
    pub attributes: Option<Attributes>,
    /// `true` archives the resource, `false` restores it.
    pub archived: Option<bool>,
}

/// Why a resource command is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("the resource is not valid")]
    Invalid(Vec<FieldIssue>),
    #[error("the resource has no blackout with this id")]
    BlackoutNotFound,
    #[error("no resource with this id")]
    NotFound,
    #[error("a resource or booking with this id already exists")]
    AlreadyExists,
}

/// The commands on a resource (see [`crate::aggregate::Aggregate`]).
#[derive(Clone, Debug, PartialEq)]
pub enum ResourceCommand {
    Create {
        id: ResourceId,
        spec: ResourceSpec,
    },
    Update(ResourceChanges),
    AddBlackout {
        blackout_id: BlackoutId,
        period: Period,
        reason: String,
    },
    RemoveBlackout {
        blackout_id: BlackoutId,
    },
}

/// A resource as its events made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    pub spec: ResourceSpec,
    pub blackouts: Vec<Blackout>,
    /// The version of its event stream.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource {
    /// The resource's local date at `at` (the day quotas and daily stats count on).
    pub fn local_day(&self, at: DateTime<Utc>) -> chrono::NaiveDate {
        at.with_timezone(&self.spec.time_zone).date_naive()
    }

    /// Decides a command against the resource (`None`: it does not exist yet).
    pub fn decide(
        state: Option<&Resource>,
        command: ResourceCommand,
    ) -> Result<Vec<Event>, ResourceError> {
        let event = match (state, command) {
            (None, ResourceCommand::Create { id, spec }) => {
                Event::ResourceCreated(Resource::create(id, spec)?)
            }
            (Some(_), ResourceCommand::Create { .. }) => return Err(ResourceError::AlreadyExists),
            (None, _) => return Err(ResourceError::NotFound),
            (Some(resource), ResourceCommand::Update(changes)) => {
                Event::ResourceUpdated(resource.update(changes)?)
            }
            (
                Some(resource),
                ResourceCommand::AddBlackout {
                    blackout_id,
                    period,
                    reason,
                },
            ) => Event::BlackoutAdded(resource.add_blackout(blackout_id, period, reason)?),
            (Some(resource), ResourceCommand::RemoveBlackout { blackout_id }) => {
                Event::BlackoutRemoved(resource.remove_blackout(blackout_id)?)
            }
        };
        Ok(vec![event])
    }

    /// Applies a later event of the resource's stream (evolve).
    pub fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        match event {
            Event::ResourceUpdated(updated) => self.spec = updated.spec.clone(),
            Event::BlackoutAdded(added) => self.blackouts.push(Blackout {
                id: added.blackout_id,
                period: added.period,
                reason: added.reason.clone(),
            }),
            Event::BlackoutRemoved(removed) => {
                self.blackouts.retain(|b| b.id != removed.blackout_id);
            }
            _ => return,
        }
        self.version += 1;
        self.updated_at = at;
    }

    /// Decides `CreateResource`.
    pub fn create(id: ResourceId, spec: ResourceSpec) -> Result<ResourceCreated, ResourceError> {
        spec.validate()?;
        Ok(ResourceCreated {
            resource_id: id,
            spec,
        })
    }

    /// Builds the state from its first event.
    pub fn created(event: &ResourceCreated, at: DateTime<Utc>) -> Self {
        Self {
            id: event.resource_id,
            spec: event.spec.clone(),
            blackouts: Vec::new(),
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    /// Decides `UpdateResource`.
    pub fn update(&self, changes: ResourceChanges) -> Result<ResourceUpdated, ResourceError> {
        let mut spec = self.spec.clone();
        if let Some(name) = changes.name {
            spec.name = name;
        }
        if let Some(capacity) = changes.capacity {
            spec.capacity = capacity;
        }
        if let Some(hours) = changes.opening_hours {
            spec.opening_hours = hours;
        }
        if let Some(attributes) = changes.attributes {
            spec.attributes = attributes;
        }
        if let Some(archived) = changes.archived {
            spec.archived = archived;
        }
        if let Some(patch) = changes.policy {
            let mut policy = serde_json::to_value(spec.policy)
                .ok()
                .and_then(|value| value.as_object().cloned())
                .unwrap_or_default();
            policy.extend(patch);
            spec.policy =
                serde_json::from_value(serde_json::Value::Object(policy)).map_err(|_| {
                    ResourceError::Invalid(vec![FieldIssue::new(
                        "policy",
                        "has an unknown field or a value of the wrong type",
                    )])
                })?;
        }
        spec.validate()?;
        Ok(ResourceUpdated {
            resource_id: self.id,
            spec,
        })
    }

    /// Decides `AddBlackout`.
    pub fn add_blackout(
        &self,
        blackout_id: BlackoutId,
        period: Period,
        reason: String,
    ) -> Result<BlackoutAdded, ResourceError> {
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(ResourceError::Invalid(vec![FieldIssue::new(
                "reason",
                "must be at most 500 characters",
            )]));
        }
        Ok(BlackoutAdded {
            resource_id: self.id,
            blackout_id,
            period,
            reason,
        })
    }

    /// Decides `RemoveBlackout`.
    pub fn remove_blackout(
        &self,
        blackout_id: BlackoutId,
    ) -> Result<BlackoutRemoved, ResourceError> {
        if self.blackouts.iter().any(|b| b.id == blackout_id) {
            Ok(BlackoutRemoved {
                resource_id: self.id,
                blackout_id,
            })
        } else {
            Err(ResourceError::BlackoutNotFound)
        }
    }

    /// The periods inside `window` when the resource is open: opening hours minus blackouts.
    pub fn open_periods(&self, window: Period) -> Vec<Period> {
        let open = open_periods(
            self.spec.opening_hours.as_ref(),
            self.spec.time_zone,
            window,
        );
        let blackouts = period::merge(self.blackouts.iter().map(|b| b.period).collect());
        period::subtract(&open, &blackouts)
    }

    /// Whether `period` lies inside one stretch of open time.
    pub fn is_open_during(&self, period: &Period) -> bool {
        availability::fits(&self.open_periods(*period), period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::BookingError;

    fn spec() -> ResourceSpec {
        ResourceSpec {
            name: "Room 101".into(),
            kind: "meeting_room".into(),
            capacity: 1,
            time_zone: chrono_tz::Europe::Berlin,
            opening_hours: None,
            policy: Policy::default(),
            attributes: Attributes::default(),
            archived: false,
        }
    }

    /// A resource just created from [`spec`].
    fn created() -> Resource {
        Resource::created(
            &Resource::create(ResourceId::generate(), spec()).unwrap(),
            Utc::now(),
        )
    }

    /// The update that patches `resource`'s policy to `{key: 10}`.
    fn with_policy(resource: &Resource, key: &str) -> Result<ResourceUpdated, ResourceError> {
        let mut patch = serde_json::Map::new();
        patch.insert(key.into(), 10.into());
        resource.update(ResourceChanges {
            policy: Some(patch),
            ..ResourceChanges::default()
        })
    }

    #[test]
    fn a_resource_without_a_name_or_capacity_is_refused_naming_both_fields() {
        let mut bad = spec();
        bad.name = " ".into();
        bad.capacity = 0;
        let Err(ResourceError::Invalid(issues)) = Resource::create(ResourceId::generate(), bad)
        else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = issues.iter().map(|i| i.field.as_ref()).collect();
        assert_eq!(fields, vec!["name", "capacity"]);
    }

    #[test]
    fn a_policy_patch_changes_only_the_given_fields() {
        let resource = created();
        let updated = with_policy(&resource, "buffer_after_minutes").unwrap();
        assert_eq!(updated.spec.policy.buffer_after_minutes, 10);
        assert_eq!(updated.spec.policy.slot_step_minutes, 15);
    }

    #[test]
    fn quotas_refuse_the_booking_past_either_limit_and_nothing_without_one() {
        let limited = Policy {
            max_active_bookings_per_customer: Some(3),
            max_bookings_per_customer_per_day: Some(2),
            ..Policy::default()
        };
        let using = |active, on_day| QuotaUse { active, on_day };
        // (policy, what the customer holds, refused with (limit, per))
        let cases = [
            (Policy::default(), using(1000, 1000), None),
            (limited, using(2, 1), None),
            (limited, using(3, 0), Some((3, "at a time"))),
            (limited, using(0, 2), Some((2, "per day"))),
            (limited, using(5, 5), Some((3, "at a time"))),
        ];
        for (policy, held, refused) in cases {
            let expected = refused.map(|(limit, per)| BookingError::QuotaExceeded { limit, per });
            assert_eq!(policy.check_quota(held).err(), expected, "{held:?}");
        }
        assert!(limited.has_quota() && !Policy::default().has_quota());
    }

    #[test]
    fn a_quota_of_zero_is_refused_and_null_in_a_patch_removes_one() {
        let resource = created();
        let Err(ResourceError::Invalid(issues)) = resource.update(ResourceChanges {
            policy: serde_json::json!({ "max_active_bookings_per_customer": 0 })
                .as_object()
                .cloned(),
            ..ResourceChanges::default()
        }) else {
            panic!("a quota of 0 is refused");
        };
        assert_eq!(issues[0].field, "policy.max_active_bookings_per_customer");
        let limited = with_policy(&resource, "max_bookings_per_customer_per_day").unwrap();
        assert_eq!(
            limited.spec.policy.max_bookings_per_customer_per_day,
            Some(10)
        );
        let mut resource = resource;
        resource.spec = limited.spec;
        let lifted = resource
            .update(ResourceChanges {
                policy: serde_json::json!({ "max_bookings_per_customer_per_day": null })
                    .as_object()
                    .cloned(),
                ..ResourceChanges::default()
            })
            .unwrap();
        assert_eq!(lifted.spec.policy, Policy::default());
    }

    #[test]
    fn a_policy_patch_with_an_unknown_field_is_refused() {
        let resource = created();
        assert!(matches!(
            with_policy(&resource, "buffer_afterr_minutes"),
            Err(ResourceError::Invalid(_))
        ));
    }

    #[test]
    fn a_resource_event_stored_before_the_lifecycle_fields_reads_them_as_their_defaults() {
        // The upcast of v1.1's policy fields: an old payload lacks them, serde's defaults fill
        // them in.
        let old = serde_json::json!({
            "resource_id": ResourceId::generate(), "name": "Room 101", "kind": "meeting_room",
            "capacity": 1, "time_zone": "Europe/Berlin", "opening_hours": null,
            "policy": { "slot_step_minutes": 30, "min_duration_minutes": 15,
                        "max_duration_minutes": 480, "buffer_before_minutes": 0,
                        "buffer_after_minutes": 10, "min_notice_minutes": 0,
                        "max_advance_days": 365, "hold_ttl_seconds": 300,
                        "requires_approval": false }
        });
        for kind in ["ResourceCreated", "ResourceUpdated"] {
            let event = Event::decode(kind, 1, &old).unwrap();
            let (Event::ResourceCreated(ResourceCreated { spec, .. })
            | Event::ResourceUpdated(ResourceUpdated { spec, .. })) = event
            else {
                panic!("decoded {kind} as another event");
            };
            assert_eq!(spec.policy.slot_step_minutes, 30);
            assert_eq!(spec.policy.check_in_opens_minutes, 60);
            assert_eq!(spec.policy.no_show_grace_minutes, 15);
            assert_eq!(spec.policy.cancel_cutoff_minutes, 0);
        }
    }

    #[test]
    fn a_patch_replaces_the_attributes_whole_and_archives_and_restores() {
        let resource = created();
        let attributes = |value: serde_json::Value| match value {
            serde_json::Value::Object(map) => Attributes::new(map),
            _ => Attributes::default(),
        };
        let mut resource = resource;
        let first = resource
            .update(ResourceChanges {
                attributes: Some(attributes(serde_json::json!({"building": "A", "seats": 4}))),
                archived: Some(true),
                ..ResourceChanges::default()
            })
            .unwrap();
        assert!(first.spec.archived);
        resource.spec = first.spec;
        let second = resource
            .update(ResourceChanges {
                attributes: Some(attributes(serde_json::json!({"seats": 6}))),
                archived: Some(false),
                ..ResourceChanges::default()
            })
            .unwrap();
        assert_eq!(second.spec.attributes.as_map().len(), 1);
        assert!(!second.spec.archived);
        let Err(ResourceError::Invalid(issues)) = resource.update(ResourceChanges {
            attributes: Some(attributes(serde_json::json!({"seats": null}))),
            ..ResourceChanges::default()
        }) else {
            panic!("expected a validation error");
        };
        assert_eq!(issues[0].field, "attributes.seats");
    }

    #[test]
    fn an_event_from_before_attributes_and_archiving_decodes_without_them() {
        let old = serde_json::json!({
            "resource_id": ResourceId::generate(), "name": "Room", "kind": "room",
            "capacity": 1, "time_zone": "Europe/Berlin", "opening_hours": null,
            "policy": Policy::default(),
        });
        let event = crate::Event::decode("ResourceUpdated", 1, &old).unwrap();
        let crate::Event::ResourceUpdated(updated) = event else {
            panic!("not an update");
        };
        assert_eq!(updated.spec.attributes, Attributes::default());
        assert!(!updated.spec.archived);
    }

    #[test]
    fn removing_an_unknown_blackout_is_refused() {
        let resource = created();
        assert_eq!(
            resource.remove_blackout(BlackoutId::generate()),
            Err(ResourceError::BlackoutNotFound)
        );
    }
}
