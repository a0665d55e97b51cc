//! The series aggregate: a recurring booking (every Monday and Wednesday of a term), one stream
//! of its own next to the ordinary bookings it placed.
//!
//! Creating a series is decided in two steps, like placing a booking, because the write-side
//! guard (not this crate) says which occurrences can be had: [`plan_series`] checks what holds
//! for the whole series (the rule, the resource, the quantity, the advance limit) and expands
//! the rule into its occurrences; the command side tries each occurrence as an ordinary
//! booking (each carrying the series' id); [`SeriesPlan::created`] then decides the series
//! itself from what was booked and what was refused: with [`OnConflict::Fail`] any refusal
//! refuses the series (and the command side books nothing), with [`OnConflict::Skip`] the
//! series keeps the occurrences it got, as long as there is at least one.
//!
//! Cancelling a series cancels its occurrences as ordinary bookings ([`Series::cancellable`]
//! says which) and records [`SeriesCancelled`] on the series' stream.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::aggregate::Aggregate;
use crate::booking::{BookingError, MAX_METADATA_BYTES};
use crate::event::{Event, SeriesCancelled, SeriesCreated};
use crate::ids::{BookingId, CustomerId, ResourceId, SeriesId, ServiceId};
use crate::lifecycle::BookingStatus;
use crate::period::Period;
use crate::recurrence::{RecurrenceError, RecurrenceRule};
use crate::resource::Resource;

/// What to do with occurrences that cannot be booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// All or nothing: one occurrence refused refuses the series.
    Fail,
    /// Book every occurrence that can be had; list the others.
    Skip,
}

impl OnConflict {
    pub fn as_str(self) -> &'static str {
        match self {
            OnConflict::Fail => "fail",
            OnConflict::Skip => "skip",
        }
    }
}

/// Why a series command is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    /// The rule is outside the supported subset, malformed, or its expansion is refused.
    #[error("invalid rrule: {0}")]
    InvalidRule(#[from] RecurrenceError),
    /// A rule every occurrence breaks the same way: the refusal a single booking would get.
    #[error(transparent)]
    Booking(#[from] BookingError),
    /// Occurrences that could not be booked (all of them for `skip`, any for `fail`).
    #[error("{} occurrence(s) of the series cannot be booked, so nothing was booked", .conflicts.len())]
    Conflict { conflicts: Vec<Skipped> },
    #[error("no series with this id")]
    NotFound,
    #[error("a series with this id already exists")]
    AlreadyExists,
}

/// An occurrence that was not booked, and the `code` a single booking of it was refused with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    #[serde(flatten)]
    pub period: Period,
    pub code: String,
}

/// What a series was asked for: its first occurrence, its rule and the terms every occurrence
/// is booked on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesSpec {
    pub resource_id: ResourceId,
    pub customer_id: CustomerId,
    /// The first occurrence (with a service: its start plus the service's duration).
    #[serde(flatten)]
    pub period: Period,
    pub rrule: RecurrenceRule,
    pub on_conflict: OnConflict,
    pub quantity: u32,
    /// Every occurrence is placed as a hold (each confirmed, or expiring, on its own).
    pub hold: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<ServiceId>,
    pub metadata: Map<String, Value>,
}

/// A request to create a series.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateSeries {
    pub series_id: SeriesId,
    pub spec: SeriesSpec,
}

/// A series that passed every series-wide rule: its occurrences, to be booked one by one.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPlan {
    pub series_id: SeriesId,
    pub spec: SeriesSpec,
    /// In order; the first is the spec's period.
    pub occurrences: Vec<Period>,
}

/// Checks what holds for the whole series on `resource` at `now`, and expands its rule in the
/// resource's zone.
///
/// Refused here, as a single booking would be, and never as a per-occurrence conflict: an
/// archived resource, a quantity the resource cannot take, metadata over the limit, a first
/// occurrence of a length the policy does not allow, and a series whose last occurrence starts
/// beyond the policy's `max_advance_days` (the rule reaches too far: a `skip` series is not
/// silently cut short). Everything that may differ per occurrence (opening hours, notice, what
/// is taken, quotas) is left to each occurrence's own booking.
pub fn plan_series(
    resource: &Resource,
    command: CreateSeries,
    now: DateTime<Utc>,
) -> Result<SeriesPlan, SeriesError> {
    let spec = &command.spec;
    let policy = &resource.spec.policy;
    if resource.spec.archived {
        return Err(BookingError::ResourceArchived.into());
    }
    if spec.quantity == 0 {
        return Err(BookingError::InvalidQuantity.into());
    }
    if spec.quantity > resource.spec.capacity {
        return Err(BookingError::QuantityExceedsCapacity {
            capacity: resource.spec.capacity,
        }
        .into());
    }
    let metadata_bytes = serde_json::to_vec(&spec.metadata).map_or(usize::MAX, |v| v.len());
    if metadata_bytes > MAX_METADATA_BYTES {
        return Err(BookingError::MetadataTooLarge.into());
    }
    let length = spec.period.duration();
    if length < Duration::minutes(i64::from(policy.min_duration_minutes))
        || length > Duration::minutes(i64::from(policy.max_duration_minutes))
    {
        return Err(BookingError::DurationOutOfRange {
            min_minutes: policy.min_duration_minutes,
            max_minutes: policy.max_duration_minutes,
        }
        .into());
    }
    let occurrences = spec.rrule.expand(spec.period, resource.spec.time_zone)?;
    let horizon = now + Duration::days(i64::from(policy.max_advance_days));
    if occurrences.iter().any(|o| o.start() > horizon) {
        return Err(BookingError::TooFarInAdvance {
            max_advance_days: policy.max_advance_days,
        }
        .into());
    }
    Ok(SeriesPlan {
        series_id: command.series_id,
        spec: command.spec,
        occurrences,
    })
}

impl SeriesPlan {
    /// The series, once each occurrence was tried: `booked` the ids of those placed, `skipped`
    /// those refused. With `fail` any refusal is a [`SeriesError::Conflict`] (nothing may stay
    /// booked); with `skip` only a series of which nothing could be booked is.
    pub fn created(
        self,
        booked: Vec<BookingId>,
        skipped: Vec<Skipped>,
    ) -> Result<SeriesCreated, SeriesError> {
        let refused = match self.spec.on_conflict {
            OnConflict::Fail => !skipped.is_empty(),
            OnConflict::Skip => booked.is_empty(),
        };
        if refused {
            return Err(SeriesError::Conflict { conflicts: skipped });
        }
        Ok(SeriesCreated {
            series_id: self.series_id,
            spec: self.spec,
            booking_ids: booked,
            skipped,
        })
    }
}

/// Commands on an existing series (creation is [`plan_series`] and [`SeriesPlan::created`]).
#[derive(Clone, Debug, PartialEq)]
pub enum SeriesCommand {
    /// Create it: the plan, with what was booked and what was refused.
    Create {
        plan: Box<SeriesPlan>,
        booked: Vec<BookingId>,
        skipped: Vec<Skipped>,
    },
    /// Record the cancellation of its occurrences from `from` on (`cancelled`: the ids of
    /// those the command cancelled).
    Cancel {
        from: DateTime<Utc>,
        cancelled: Vec<BookingId>,
    },
}

/// A series as its events made it.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub id: SeriesId,
    pub spec: SeriesSpec,
    /// The occurrences booked when it was created, in order.
    pub booking_ids: Vec<BookingId>,
    pub skipped: Vec<Skipped>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Series {
    pub fn created(event: &SeriesCreated, at: DateTime<Utc>) -> Self {
        Self {
            id: event.series_id,
            spec: event.spec.clone(),
            booking_ids: event.booking_ids.clone(),
            skipped: event.skipped.clone(),
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    pub fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        if let Event::SeriesCancelled(_) = event {
            self.version += 1;
            self.updated_at = at;
        }
    }

    /// Where a cancellation asked at `now` starts: `from`, or by default now (every occurrence
    /// not yet started).
    pub fn cancel_from(from: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        from.unwrap_or(now)
    }

    /// Whether a cancellation from `from` cancels this occurrence: it starts at or after
    /// `from` and is still live (held, pending or confirmed). Occurrences already cancelled,
    /// declined, expired, checked in, completed or marked a no-show are left as they are.
    pub fn cancellable(start: DateTime<Utc>, status: BookingStatus, from: DateTime<Utc>) -> bool {
        start >= from
            && matches!(
                status,
                BookingStatus::Held | BookingStatus::Pending | BookingStatus::Confirmed
            )
    }
}

impl Aggregate for Series {
    type Command = SeriesCommand;
    type Error = SeriesError;

    fn create(event: &Event, at: DateTime<Utc>) -> Option<Self> {
        match event {
            Event::SeriesCreated(created) => Some(Series::created(created, at)),
            _ => None,
        }
    }

    fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        Series::apply(self, event, at);
    }

    fn decide(
        state: Option<&Self>,
        command: SeriesCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, SeriesError> {
        match (state, command) {
            (
                None,
                SeriesCommand::Create {
                    plan,
                    booked,
                    skipped,
                },
            ) => Ok(vec![Event::SeriesCreated(
                (*plan).created(booked, skipped)?,
            )]),
            (Some(_), SeriesCommand::Create { .. }) => Err(SeriesError::AlreadyExists),
            (None, SeriesCommand::Cancel { .. }) => Err(SeriesError::NotFound),
            (Some(series), SeriesCommand::Cancel { from, cancelled }) => {
                Ok(vec![Event::SeriesCancelled(SeriesCancelled {
                    series_id: series.id,
                    from,
                    booking_ids: cancelled,
                })])
            }
        }
    }
}
