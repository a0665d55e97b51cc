//! The booking aggregate: the rules a period must follow and which command may move a booking
//! where (what each event then does is [`crate::lifecycle`]'s).
//!
//! Placing and rescheduling are decided in two steps, because the write-side guard (not this
//! crate) picks the units: [`plan_placement`] checks everything that can be checked without the
//! database, the store allocates units, and [`Placement::placed`] makes the event.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::event::{BookingPlaced, BookingRescheduled, BookingStatus, BookingTransition, Event};
use crate::ids::{BookingId, CustomerId, ResourceId};
use crate::lifecycle::{self, Allocation};
use crate::period::Period;
use crate::resource::Resource;

/// Free-form metadata is limited to this many bytes of JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Why a booking command is refused; each variant names the broken rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    #[error("quantity must be at least 1")]
    InvalidQuantity,
    #[error("quantity exceeds the resource's capacity of {capacity}")]
    QuantityExceedsCapacity { capacity: u32 },
    #[error("the duration must be between {min_minutes} and {max_minutes} minutes")]
    DurationOutOfRange { min_minutes: u32, max_minutes: u32 },
    #[error("bookings must start at least {min_notice_minutes} minutes from now")]
    InsufficientNotice { min_notice_minutes: u32 },
    #[error("bookings may start at most {max_advance_days} days from now")]
    TooFarInAdvance { max_advance_days: u32 },
    #[error("the period is outside the resource's opening hours or inside a blackout")]
    OutsideOpeningHours,
    #[error("metadata must be at most 4096 bytes of JSON")]
    MetadataTooLarge,
    #[error("a {status} booking cannot be {action}")]
    InvalidState {
        status: &'static str,
        action: &'static str,
    },
    #[error("the hold has expired")]
    HoldExpired,
    #[error("no booking with this id")]
    NotFound,
    #[error("the resource is archived: it takes no new bookings or holds")]
    ResourceArchived,
}

/// A request to place a booking (or a hold).
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceBooking {
    pub booking_id: BookingId,
    pub resource_id: ResourceId,
    pub period: Period,
    pub quantity: u32,
    pub customer_id: CustomerId,
    pub hold: bool,
    pub metadata: Map<String, Value>,
}

/// A placement that passed every rule but the guard; see the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub booking_id: BookingId,
    pub resource_id: ResourceId,
    pub period: Period,
    /// The period widened by the resource's buffers: what the guard reserves.
    pub blocked: Period,
    pub quantity: u32,
    pub customer_id: CustomerId,
    pub status: BookingStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
}

impl Placement {
    /// The event, once the guard has reserved `units`.
    pub fn placed(self, units: Vec<u32>) -> BookingPlaced {
        BookingPlaced {
            booking_id: self.booking_id,
            resource_id: self.resource_id,
            period: self.period,
            blocked: self.blocked,
            units,
            quantity: self.quantity,
            customer_id: self.customer_id,
            status: self.status,
            expires_at: self.expires_at,
            metadata: self.metadata,
        }
    }
}

/// Checks a booking request against the resource's rules at `now`.
pub fn plan_placement(
    resource: &Resource,
    command: PlaceBooking,
    now: DateTime<Utc>,
) -> Result<Placement, BookingError> {
    let metadata_bytes = serde_json::to_vec(&command.metadata).map_or(usize::MAX, |v| v.len());
    if metadata_bytes > MAX_METADATA_BYTES {
        return Err(BookingError::MetadataTooLarge);
    }
    check_period(resource, &command.period, command.quantity, now)?;
    let policy = &resource.spec.policy;
    let (status, expires_at) = if command.hold {
        (BookingStatus::Held, Some(now + policy.hold_ttl()))
    } else if policy.requires_approval {
        (BookingStatus::Pending, None)
    } else {
        (BookingStatus::Confirmed, None)
    };
    Ok(Placement {
        booking_id: command.booking_id,
        resource_id: resource.id,
        period: command.period,
        blocked: blocked(resource, &command.period),
        quantity: command.quantity,
        customer_id: command.customer_id,
        status,
        expires_at,
        metadata: command.metadata,
    })
}

fn blocked(resource: &Resource, period: &Period) -> Period {
    let policy = &resource.spec.policy;
    period.widen(policy.buffer_before(), policy.buffer_after())
}

/// The rules every booked period follows: a resource that is not archived, quantity, duration,
/// notice, advance, opening hours.
pub fn check_period(
    resource: &Resource,
    period: &Period,
    quantity: u32,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    let policy = &resource.spec.policy;
    if resource.spec.archived {
        return Err(BookingError::ResourceArchived);
    }
    if quantity == 0 {
        return Err(BookingError::InvalidQuantity);
    }
    if quantity > resource.spec.capacity {
        return Err(BookingError::QuantityExceedsCapacity {
            capacity: resource.spec.capacity,
        });
    }
    let minutes = period.duration();
    if minutes < Duration::minutes(i64::from(policy.min_duration_minutes))
        || minutes > Duration::minutes(i64::from(policy.max_duration_minutes))
    {
        return Err(BookingError::DurationOutOfRange {
            min_minutes: policy.min_duration_minutes,
            max_minutes: policy.max_duration_minutes,
        });
    }
    if period.start() < now + Duration::minutes(i64::from(policy.min_notice_minutes)) {
        return Err(BookingError::InsufficientNotice {
            min_notice_minutes: policy.min_notice_minutes,
        });
    }
    if period.start() > now + Duration::days(i64::from(policy.max_advance_days)) {
        return Err(BookingError::TooFarInAdvance {
            max_advance_days: policy.max_advance_days,
        });
    }
    if !resource.is_open_during(period) {
        return Err(BookingError::OutsideOpeningHours);
    }
    Ok(())
}

/// Commands on an existing booking that need no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookingCommand {
    /// Confirm a hold; `requires_approval` is the resource's current policy.
    Confirm {
        requires_approval: bool,
    },
    Approve,
    Decline {
        reason: Option<String>,
    },
    Cancel {
        reason: Option<String>,
    },
    /// Emitted by the sweeper (or a colliding command) once the hold's TTL has passed.
    Expire,
}

/// A reschedule that passed every rule but the guard.
#[derive(Clone, Debug, PartialEq)]
pub struct Rescheduling {
    pub period: Period,
    pub blocked: Period,
}

/// A booking as its events made it.
#[derive(Clone, Debug, PartialEq)]
pub struct Booking {
    pub id: BookingId,
    pub resource_id: ResourceId,
    pub period: Period,
    pub blocked: Period,
    pub units: Vec<u32>,
    pub quantity: u32,
    pub customer_id: CustomerId,
    pub status: BookingStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Booking {
    /// Builds the state from its first event.
    pub fn placed(event: &BookingPlaced, at: DateTime<Utc>) -> Self {
        Self {
            id: event.booking_id,
            resource_id: event.resource_id,
            period: event.period,
            blocked: event.blocked,
            units: event.units.clone(),
            quantity: event.quantity,
            customer_id: event.customer_id.clone(),
            status: event.status,
            expires_at: event.expires_at,
            metadata: event.metadata.clone(),
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    /// Applies a later event of this booking's stream (evolve), as [`lifecycle::transition`]
    /// says.
    pub fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        let Some(transition) = lifecycle::transition(event) else {
            return;
        };
        self.status = transition.status_after(self.status);
        match transition.allocation {
            Allocation::Kept => self.expires_at = None,
            Allocation::Moved(moved) => {
                self.period = moved.period;
                self.blocked = moved.blocked;
                self.units = moved.units.clone();
            }
            Allocation::Unchanged | Allocation::Released => {}
        }
        self.version += 1;
        self.updated_at = at;
    }

    /// Whether this is a hold whose time-to-live has passed (whether or not the sweeper has
    /// recorded it yet).
    pub fn hold_has_expired(&self, now: DateTime<Utc>) -> bool {
        self.status == BookingStatus::Expired
            || (self.status == BookingStatus::Held && self.expires_at.is_some_and(|at| at <= now))
    }

    fn transition(&self, reason: Option<String>) -> BookingTransition {
        BookingTransition {
            booking_id: self.id,
            resource_id: self.resource_id,
            reason,
        }
    }

    fn invalid(&self, action: &'static str) -> BookingError {
        BookingError::InvalidState {
            status: self.status.as_str(),
            action,
        }
    }

    /// Decides a command on this booking.
    pub fn decide(
        &self,
        command: BookingCommand,
        now: DateTime<Utc>,
    ) -> Result<Event, BookingError> {
        use BookingStatus as S;
        let expired = self.hold_has_expired(now);
        match command {
            BookingCommand::Expire => match self.status {
                S::Held if expired => Ok(Event::HoldExpired(self.transition(None))),
                _ => Err(self.invalid("expired")),
            },
            BookingCommand::Confirm { .. } | BookingCommand::Cancel { .. } if expired => {
                Err(BookingError::HoldExpired)
            }
            BookingCommand::Confirm { requires_approval } => match self.status {
                S::Held if requires_approval => {
                    Ok(Event::BookingSubmittedForApproval(self.transition(None)))
                }
                S::Held => Ok(Event::BookingConfirmed(self.transition(None))),
                _ => Err(self.invalid("confirmed")),
            },
            BookingCommand::Approve => match self.status {
                S::Pending => Ok(Event::BookingApproved(self.transition(None))),
                _ => Err(self.invalid("approved")),
            },
            BookingCommand::Decline { reason } => match self.status {
                S::Pending => Ok(Event::BookingDeclined(self.transition(reason))),
                _ => Err(self.invalid("declined")),
            },
            BookingCommand::Cancel { reason } => match self.status {
                S::Held | S::Pending | S::Confirmed => {
                    Ok(Event::BookingCancelled(self.transition(reason)))
                }
                _ => Err(self.invalid("cancelled")),
            },
        }
    }

    /// Checks a move to `period` against the resource's rules (first step of a reschedule).
    pub fn plan_reschedule(
        &self,
        resource: &Resource,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Rescheduling, BookingError> {
        if self.status != BookingStatus::Confirmed {
            return Err(self.invalid("rescheduled"));
        }
        check_period(resource, &period, self.quantity, now)?;
        Ok(Rescheduling {
            period,
            blocked: blocked(resource, &period),
        })
    }

    /// The event, once the guard has moved the allocation to `units`.
    pub fn rescheduled(&self, plan: Rescheduling, units: Vec<u32>) -> Event {
        Event::BookingRescheduled(BookingRescheduled {
            booking_id: self.id,
            resource_id: self.resource_id,
            period: plan.period,
            blocked: plan.blocked,
            units,
            previous: self.period,
        })
    }
}
