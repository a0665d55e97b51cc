//! The booking aggregate: the rules a period must follow and which command may move a booking
//! where (what each event then does is [`crate::lifecycle`]'s).
//!
//! Placing and rescheduling are decided in two steps, because the write-side guard (not this
//! crate) picks the units: [`plan_placement`] checks everything that can be checked without the
//! database, the store allocates units, and [`Placement::placed`] makes the event.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::event::{
    BookingMarkedNoShow, BookingPlaced, BookingRescheduled, BookingStatus, BookingTransition, Event,
};
use crate::ids::{BookingId, CustomerId, ResourceId, SeriesId, ServiceId};
use crate::lifecycle::{self, Allocation};
use crate::period::Period;
use crate::personal::Sealed;
use crate::resource::{Policy, Resource};
use crate::service::{self, Price, ServiceTerms};

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
    #[error(
        "the customer already has {limit} bookings on this resource {per}, the most its policy allows"
    )]
    QuotaExceeded { limit: u32, per: &'static str },
    #[error("no booking with this id")]
    NotFound,
    #[error("check-in is open from {opens} until {closes}")]
    CheckInWindow {
        opens: DateTime<Utc>,
        closes: DateTime<Utc>,
    },
    #[error("a no-show can be recorded from {from} on")]
    NoShowTooEarly { from: DateTime<Utc> },
    #[error("a confirmed booking can be completed once it has started")]
    NotStarted,
    #[error(
        "a client cannot cancel or reschedule less than {cutoff_minutes} minutes before the start"
    )]
    CutoffPassed { cutoff_minutes: u32 },
    #[error("the booking has started: it can only be completed or marked a no-show")]
    Started,
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
    /// The customer's personal data, already sealed by the caller.
    pub customer: Option<Sealed>,
    pub hold: bool,
    pub metadata: Map<String, Value>,
    /// The service booked: its buffers apply where larger than the resource's.
    pub service: Option<ServiceTerms>,
    /// The price recorded with the booking (the service's at booking time, or an admin's).
    pub price: Option<Price>,
    /// The series it is an occurrence of, if any.
    pub series_id: Option<SeriesId>,
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
    pub customer: Option<Sealed>,
    pub status: BookingStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    pub service_id: Option<ServiceId>,
    pub price: Option<Price>,
    pub series_id: Option<SeriesId>,
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
            customer: self.customer,
            status: self.status,
            expires_at: self.expires_at,
            metadata: self.metadata,
            service_id: self.service_id,
            price: self.price,
            series_id: self.series_id,
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
        blocked: blocked(resource, command.service.as_ref(), &command.period),
        quantity: command.quantity,
        customer_id: command.customer_id,
        customer: command.customer,
        status,
        expires_at,
        metadata: command.metadata,
        service_id: command.service.map(|s| s.service_id),
        price: command.price,
        series_id: command.series_id,
    })
}

/// The period widened by the buffers: the resource's, or the service's where larger.
fn blocked(resource: &Resource, service: Option<&ServiceTerms>, period: &Period) -> Period {
    let (before, after) = service::buffers(resource, service);
    period.widen(before, after)
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

/// Who asks to cancel or move a booking: a client is bound by the resource's cancellation
/// cut-off, an admin is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requester {
    Admin,
    Client { cutoff_minutes: u32 },
}

impl Requester {
    /// A client, bound by the cut-off of `policy`.
    pub fn client(policy: &Policy) -> Requester {
        Requester::Client {
            cutoff_minutes: policy.cancel_cutoff_minutes,
        }
    }
}

/// Commands on an existing booking that need no new allocation.
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
        by: Requester,
    },
    /// Emitted by the sweeper (or a colliding command) once the hold's TTL has passed.
    Expire,
    /// Check in a confirmed booking; `opens` is the resource's `check_in_opens_minutes`.
    CheckIn {
        opens: Duration,
    },
    /// A checked-in booking, or a confirmed one that has started, is over.
    Complete,
    /// The customer of a confirmed booking did not come; `grace` is the resource's
    /// `no_show_grace_minutes`.
    MarkNoShow {
        grace: Duration,
    },
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
    /// The customer's personal data as the event sealed it.
    pub customer: Option<Sealed>,
    pub status: BookingStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    /// The service booked, if any.
    pub service_id: Option<ServiceId>,
    /// The price recorded at booking time.
    pub price: Option<Price>,
    /// The series it is an occurrence of, if any.
    pub series_id: Option<SeriesId>,
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
            customer: event.customer.clone(),
            status: event.status,
            expires_at: event.expires_at,
            metadata: event.metadata.clone(),
            service_id: event.service_id,
            price: event.price.clone(),
            series_id: event.series_id,
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
            Allocation::Trimmed(blocked) => self.blocked = blocked,
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
            BookingCommand::Confirm { .. }
            | BookingCommand::Cancel { .. }
            | BookingCommand::CheckIn { .. }
            | BookingCommand::Complete
            | BookingCommand::MarkNoShow { .. }
                if expired =>
            {
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
            BookingCommand::Cancel { reason, by } => match self.status {
                S::Held | S::Pending | S::Confirmed => {
                    self.may_change(by, now)?;
                    Ok(Event::BookingCancelled(self.transition(reason)))
                }
                _ => Err(self.invalid("cancelled")),
            },
            BookingCommand::CheckIn { opens } => match self.status {
                S::Confirmed => {
                    let (opens, closes) = (self.period.start() - opens, self.period.end());
                    if (opens..closes).contains(&now) {
                        Ok(Event::BookingCheckedIn(self.transition(None)))
                    } else {
                        Err(BookingError::CheckInWindow { opens, closes })
                    }
                }
                _ => Err(self.invalid("checked in")),
            },
            BookingCommand::Complete => match self.status {
                S::CheckedIn => Ok(Event::BookingCompleted(self.transition(None))),
                S::Confirmed if now >= self.period.start() => {
                    Ok(Event::BookingCompleted(self.transition(None)))
                }
                S::Confirmed => Err(BookingError::NotStarted),
                _ => Err(self.invalid("completed")),
            },
            BookingCommand::MarkNoShow { grace } => match self.status {
                S::Confirmed => {
                    let from = self.period.start() + grace;
                    // At the blocked period's very first instant (no grace, no buffer before)
                    // nothing would be kept: that instant is still too early.
                    if now < from || now <= self.blocked.start() {
                        return Err(BookingError::NoShowTooEarly { from });
                    }
                    Ok(Event::BookingMarkedNoShow(BookingMarkedNoShow {
                        booking_id: self.id,
                        resource_id: self.resource_id,
                        blocked: self.blocked_until(now),
                    }))
                }
                _ => Err(self.invalid("marked a no-show")),
            },
        }
    }

    /// Whether `by` may still cancel or move the booking at `now`: nobody once it has started,
    /// a client not within the cut-off before its start.
    fn may_change(&self, by: Requester, now: DateTime<Utc>) -> Result<(), BookingError> {
        let start = self.period.start();
        if now >= start {
            return Err(BookingError::Started);
        }
        match by {
            Requester::Client { cutoff_minutes }
                if now > start - Duration::minutes(i64::from(cutoff_minutes)) =>
            {
                Err(BookingError::CutoffPassed { cutoff_minutes })
            }
            Requester::Client { .. } | Requester::Admin => Ok(()),
        }
    }

    /// Its blocked period cut off at `now` (whole if `now` is past its end). Only called with
    /// `now` past the blocked period's start, so what is kept is never empty.
    fn blocked_until(&self, now: DateTime<Utc>) -> Period {
        Period::new(self.blocked.start(), now.min(self.blocked.end())).unwrap_or(self.blocked)
    }

    /// Checks a move to `period`, asked by `by`, against the resource's rules (first step of a
    /// reschedule).
    pub fn plan_reschedule(
        &self,
        resource: &Resource,
        period: Period,
        by: Requester,
        now: DateTime<Utc>,
    ) -> Result<Rescheduling, BookingError> {
        if self.status != BookingStatus::Confirmed {
            return Err(self.invalid("rescheduled"));
        }
        self.may_change(by, now)?;
        check_period(resource, &period, self.quantity, now)?;
        // The buffers it was placed with (a service's may be larger than the resource's) go
        // with it, or the resource's current ones where those are larger.
        let (before, after) = service::buffers(resource, None);
        let before = before.max(self.period.start() - self.blocked.start());
        let after = after.max(self.blocked.end() - self.period.end());
        Ok(Rescheduling {
            period,
            blocked: period.widen(before, after),
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
