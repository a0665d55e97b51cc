//! The booking lifecycle, written once.
//!
//! ```text
//! held ──confirm──▶ confirmed ──reschedule──▶ confirmed
//!   │    └─confirm (approval needed)─▶ pending ──approve──▶ confirmed
//!   │                                    └──decline──▶ declined
//!   └──(ttl passes)──▶ expired          held | pending | confirmed ──cancel──▶ cancelled
//!
//! confirmed ──check-in──▶ checked_in ──complete──▶ completed
//!     ├──complete (once started)──▶ completed
//!     └──no-show (after the grace)──▶ no_show (the rest of its time is freed)
//! ```
//!
//! Everything that follows a booking's events asks this module what an event does, and nothing
//! else decides it: the aggregate's evolve, the command side's write guard, the bookings
//! projection and the daily stats. A new status or transition is added here (and in
//! [`crate::booking::Booking::decide`], which says which commands may cause it), and every one of
//! them follows.

use serde::{Deserialize, Serialize};

use crate::event::{BookingRescheduled, Event};
use crate::period::Period;

/// Where a booking is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Held,
    Pending,
    Confirmed,
    Cancelled,
    Declined,
    Expired,
    CheckedIn,
    Completed,
    NoShow,
}

impl BookingStatus {
    /// The status's name in events, answers and the read models.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::Pending => "pending",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Declined => "declined",
            BookingStatus::Expired => "expired",
            BookingStatus::CheckedIn => "checked_in",
            BookingStatus::Completed => "completed",
            BookingStatus::NoShow => "no_show",
        }
    }

    /// Every status, for parsing and for tests that walk them all.
    pub const ALL: [BookingStatus; 9] = [
        BookingStatus::Held,
        BookingStatus::Pending,
        BookingStatus::Confirmed,
        BookingStatus::Cancelled,
        BookingStatus::Declined,
        BookingStatus::Expired,
        BookingStatus::CheckedIn,
        BookingStatus::Completed,
        BookingStatus::NoShow,
    ];

    /// The status named `name` (as [`BookingStatus::as_str`] spells it).
    pub fn parse(name: &str) -> Option<BookingStatus> {
        BookingStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether a booking in this status occupies its units: guard rows on the write side, busy
    /// intervals on the read side. A no-show keeps only the time up to when it was recorded
    /// (its event says which: [`Allocation::Trimmed`]); a checked-in or completed booking keeps
    /// its whole period.
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            BookingStatus::Held
                | BookingStatus::Pending
                | BookingStatus::Confirmed
                | BookingStatus::CheckedIn
                | BookingStatus::Completed
                | BookingStatus::NoShow
        )
    }

    /// Whether it is booked for real (past being a hold, not refused, cancelled or missed):
    /// counted among a day's bookings, with its minutes booked.
    pub fn is_booked(self) -> bool {
        matches!(
            self,
            BookingStatus::Pending
                | BookingStatus::Confirmed
                | BookingStatus::CheckedIn
                | BookingStatus::Completed
        )
    }

    /// Whether it is firmly booked (confirmed, checked in or completed): what the stats count
    /// as booked minutes, utilization and booked revenue. A pending request may still be
    /// declined, a hold may still lapse, and a no-show used none of its time.
    pub fn is_firm(self) -> bool {
        matches!(
            self,
            BookingStatus::Confirmed | BookingStatus::CheckedIn | BookingStatus::Completed
        )
    }

    /// Whether the booking was refused: it never counts as a booking, even if it did for a
    /// while (a pending request that was declined).
    pub fn is_refused(self) -> bool {
        self == BookingStatus::Declined
    }

    /// Whether it counts toward a customer's active-bookings quota (until its period ends):
    /// it holds its time and has not ended early, as a completed or missed booking has.
    pub fn is_active(self) -> bool {
        self.holds_capacity() && !matches!(self, BookingStatus::Completed | BookingStatus::NoShow)
    }

    /// Whether it counts toward a customer's bookings-per-day quota: every booking but those
    /// that were withdrawn, refused or never confirmed.
    pub fn counts_per_day(self) -> bool {
        !matches!(
            self,
            BookingStatus::Cancelled | BookingStatus::Declined | BookingStatus::Expired
        )
    }

    /// Whether it is a hold that may still expire.
    pub fn may_expire(self) -> bool {
        self == BookingStatus::Held
    }
}

/// What an event does to the units a booking holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation<'a> {
    /// Nothing changes.
    Unchanged,
    /// The units are kept for good: the booking is no longer a hold that may expire.
    Kept,
    /// The units are freed for others.
    Released,
    /// The booking moved to other units and another period, atomically.
    Moved(&'a BookingRescheduled),
    /// The units are kept only over this blocked period, shorter than before (ending when the
    /// event was decided); the rest of the time is freed for others.
    Trimmed(Period),
}

/// What one event of a booking's stream (after its placement) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition<'a> {
    /// The status after the event (unchanged when `None`).
    pub status: Option<BookingStatus>,
    pub allocation: Allocation<'a>,
}

impl Transition<'_> {
    /// The status after the event, for a booking that was `before`.
    pub fn status_after(&self, before: BookingStatus) -> BookingStatus {
        self.status.unwrap_or(before)
    }
}

/// What `event` does to the booking whose stream it is on; `None` for an event that does not
/// follow a placement (a resource's, service's or series' events, or `BookingPlaced` itself).
pub fn transition(event: &Event) -> Option<Transition<'_>> {
    let (status, allocation) = match event {
        Event::BookingConfirmed(_) | Event::BookingApproved(_) => {
            (Some(BookingStatus::Confirmed), Allocation::Kept)
        }
        Event::BookingSubmittedForApproval(_) => (Some(BookingStatus::Pending), Allocation::Kept),
        Event::BookingDeclined(_) => (Some(BookingStatus::Declined), Allocation::Released),
        Event::BookingCancelled(_) => (Some(BookingStatus::Cancelled), Allocation::Released),
        Event::HoldExpired(_) => (Some(BookingStatus::Expired), Allocation::Released),
        Event::BookingRescheduled(moved) => (None, Allocation::Moved(moved)),
        Event::BookingCheckedIn(_) => (Some(BookingStatus::CheckedIn), Allocation::Unchanged),
        Event::BookingCompleted(_) => (Some(BookingStatus::Completed), Allocation::Unchanged),
        Event::BookingMarkedNoShow(missed) => (
            Some(BookingStatus::NoShow),
            Allocation::Trimmed(missed.blocked),
        ),
        Event::BookingPlaced(_)
        | Event::ResourceCreated(_)
        | Event::ResourceUpdated(_)
        | Event::BlackoutAdded(_)
        | Event::BlackoutRemoved(_)
        | Event::ServiceCreated(_)
        | Event::ServiceUpdated(_)
        | Event::CustomerErased(_)
        | Event::SeriesCreated(_)
        | Event::SeriesCancelled(_) => return None,
    };
    Some(Transition { status, allocation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firm_booking_is_booked_and_holds_its_capacity() {
        for status in BookingStatus::ALL {
            if status.is_firm() {
                assert!(status.is_booked() && status.holds_capacity(), "{status:?}");
            }
        }
        assert!(!BookingStatus::Pending.is_firm() && !BookingStatus::NoShow.is_firm());
    }

    #[test]
    fn every_status_round_trips_through_its_name() {
        for status in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(BookingStatus::parse("nonsense"), None);
    }

    #[test]
    fn an_active_booking_counts_per_day_and_a_withdrawn_one_counts_nowhere() {
        for status in BookingStatus::ALL {
            if status.is_active() {
                assert!(status.counts_per_day(), "{status:?}");
            }
        }
        for withdrawn in [
            BookingStatus::Cancelled,
            BookingStatus::Declined,
            BookingStatus::Expired,
        ] {
            assert!(!withdrawn.is_active() && !withdrawn.counts_per_day());
        }
        for ended in [BookingStatus::Completed, BookingStatus::NoShow] {
            assert!(!ended.is_active() && ended.counts_per_day());
        }
    }

    #[test]
    fn a_booked_status_holds_capacity_and_a_released_one_does_not() {
        for status in BookingStatus::ALL {
            if status.is_booked() || status.may_expire() {
                assert!(status.holds_capacity(), "{status:?}");
            }
            if status.is_refused() {
                assert!(
                    !status.holds_capacity() && !status.is_booked(),
                    "{status:?}"
                );
            }
        }
    }
}
