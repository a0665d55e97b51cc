//! A resource's booking policy: the rules every booking of it follows (durations, buffers,
//! notice, holds, approval, the lifecycle's windows and the customer quotas), with their defaults
//! and limits.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::booking::BookingError;
use crate::resource::{FieldIssue, MAX_CAPACITY};

/// How a resource may be booked. Every field has a default (API.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Slots start on this step of the local wall clock.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1440))]
    pub slot_step_minutes: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub min_duration_minutes: u32,
    /// At least `min_duration_minutes`, at most 366 days.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 527040))]
    pub max_duration_minutes: u32,
    /// Time kept free before each booking.
    #[cfg_attr(feature = "openapi", schema(maximum = 1440))]
    pub buffer_before_minutes: u32,
    /// Time kept free after each booking.
    #[cfg_attr(feature = "openapi", schema(maximum = 1440))]
    pub buffer_after_minutes: u32,
    /// How long before its start a booking must be placed.
    #[cfg_attr(feature = "openapi", schema(maximum = 527040))]
    pub min_notice_minutes: u32,
    /// How far ahead a booking may start.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3660))]
    pub max_advance_days: u32,
    /// How long a hold lasts unless confirmed.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86400))]
    pub hold_ttl_seconds: u32,
    /// Confirmed bookings wait as `pending` for an admin's approval.
    pub requires_approval: bool,
    /// How long before its start a confirmed booking may be checked in (until its end).
    #[cfg_attr(feature = "openapi", schema(maximum = 527040))]
    pub check_in_opens_minutes: u32,
    /// How long after its start a confirmed booking may be marked a no-show.
    #[cfg_attr(feature = "openapi", schema(maximum = 527040))]
    pub no_show_grace_minutes: u32,
    /// A client cannot cancel or reschedule less than this before the start (admins can).
    #[cfg_attr(feature = "openapi", schema(maximum = 527040))]
    pub cancel_cutoff_minutes: u32,
    /// How many active bookings (held, pending, confirmed or checked in, not yet ended) one
    /// customer may have
    /// on the resource at once; absent = no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub max_active_bookings_per_customer: Option<u32>,
    /// How many bookings one customer may have on the resource per local day (all but
    /// cancelled, declined and expired ones count); absent = no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub max_bookings_per_customer_per_day: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            slot_step_minutes: 15,
            min_duration_minutes: 15,
            max_duration_minutes: 480,
            buffer_before_minutes: 0,
            buffer_after_minutes: 0,
            min_notice_minutes: 0,
            max_advance_days: 365,
            hold_ttl_seconds: 300,
            requires_approval: false,
            check_in_opens_minutes: 60,
            no_show_grace_minutes: 15,
            cancel_cutoff_minutes: 0,
            max_active_bookings_per_customer: None,
            max_bookings_per_customer_per_day: None,
        }
    }
}

impl Policy {
    pub fn buffer_before(&self) -> Duration {
        Duration::minutes(i64::from(self.buffer_before_minutes))
    }

    pub fn buffer_after(&self) -> Duration {
        Duration::minutes(i64::from(self.buffer_after_minutes))
    }

    pub fn hold_ttl(&self) -> Duration {
        Duration::seconds(i64::from(self.hold_ttl_seconds))
    }

    pub fn check_in_opens(&self) -> Duration {
        Duration::minutes(i64::from(self.check_in_opens_minutes))
    }

    pub fn no_show_grace(&self) -> Duration {
        Duration::minutes(i64::from(self.no_show_grace_minutes))
    }

    pub fn cancel_cutoff(&self) -> Duration {
        Duration::minutes(i64::from(self.cancel_cutoff_minutes))
    }

    pub(crate) fn validate(&self, issues: &mut Vec<FieldIssue>) {
        let mut check = |ok: bool, field: &'static str, message: &'static str| {
            if !ok {
                issues.push(FieldIssue::new(field, message));
            }
        };
        check(
            (1..=1440).contains(&self.slot_step_minutes),
            "policy.slot_step_minutes",
            "must be between 1 and 1440",
        );
        check(
            self.min_duration_minutes >= 1,
            "policy.min_duration_minutes",
            "must be at least 1",
        );
        check(
            self.max_duration_minutes >= self.min_duration_minutes
                && self.max_duration_minutes <= 366 * 1440,
            "policy.max_duration_minutes",
            "must be at least min_duration_minutes and at most 366 days",
        );
        check(
            self.buffer_before_minutes <= 1440,
            "policy.buffer_before_minutes",
            "must be at most 1440",
        );
        check(
            self.buffer_after_minutes <= 1440,
            "policy.buffer_after_minutes",
            "must be at most 1440",
        );
        check(
            self.min_notice_minutes <= 366 * 1440,
            "policy.min_notice_minutes",
            "must be at most 366 days",
        );
        check(
            (1..=3660).contains(&self.max_advance_days),
            "policy.max_advance_days",
            "must be between 1 and 3660",
        );
        check(
            (1..=86_400).contains(&self.hold_ttl_seconds),
            "policy.hold_ttl_seconds",
            "must be between 1 and 86400",
        );
        check(
            self.check_in_opens_minutes <= 366 * 1440,
            "policy.check_in_opens_minutes",
            "must be at most 366 days",
        );
        check(
            self.no_show_grace_minutes <= 366 * 1440,
            "policy.no_show_grace_minutes",
            "must be at most 366 days",
        );
        check(
            self.cancel_cutoff_minutes <= 366 * 1440,
            "policy.cancel_cutoff_minutes",
            "must be at most 366 days",
        );
        let quota = |limit: Option<u32>| limit.is_none_or(|n| (1..=MAX_CAPACITY).contains(&n));
        check(
            quota(self.max_active_bookings_per_customer),
            "policy.max_active_bookings_per_customer",
            "must be between 1 and 10000 when set",
        );
        check(
            quota(self.max_bookings_per_customer_per_day),
            "policy.max_bookings_per_customer_per_day",
            "must be between 1 and 10000 when set",
        );
    }

    /// Whether the policy limits what one customer may book.
    pub fn has_quota(&self) -> bool {
        self.max_active_bookings_per_customer.is_some()
            || self.max_bookings_per_customer_per_day.is_some()
    }

    /// Checks a new booking of a customer who has `held` bookings counting toward the quotas
    /// (see [`QuotaUse`]) on the resource already.
    pub fn check_quota(&self, held: QuotaUse) -> Result<(), BookingError> {
        let over = |limit: Option<u32>, count: u32| limit.filter(|&limit| count >= limit);
        if let Some(limit) = over(self.max_active_bookings_per_customer, held.active) {
            return Err(BookingError::QuotaExceeded {
                limit,
                per: "at a time",
            });
        }
        if let Some(limit) = over(self.max_bookings_per_customer_per_day, held.on_day) {
            return Err(BookingError::QuotaExceeded {
                limit,
                per: "per day",
            });
        }
        Ok(())
    }
}

/// What one customer already holds on a resource, as the quotas count it: its active bookings
/// (see [`crate::lifecycle::BookingStatus::is_active`]) and its bookings on the new booking's
/// local day (see [`crate::lifecycle::BookingStatus::counts_per_day`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaUse {
    pub active: u32,
    pub on_day: u32,
}
