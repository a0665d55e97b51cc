//! `evolve`: folding a stream's events into its aggregate's state.

use chrono::{DateTime, Utc};

use crate::booking::Booking;
use crate::event::Event;
use crate::resource::{Blackout, Resource};

/// The next state of a resource stream after `event` (recorded at `at`).
pub fn evolve_resource(
    state: Option<Resource>,
    event: &Event,
    at: DateTime<Utc>,
) -> Option<Resource> {
    let Some(mut resource) = state else {
        return match event {
            Event::ResourceCreated(created) => Some(Resource::created(created, at)),
            _ => None,
        };
    };
    match event {
        Event::ResourceUpdated(updated) => resource.spec = updated.spec.clone(),
        Event::BlackoutAdded(added) => resource.blackouts.push(Blackout {
            id: added.blackout_id,
            period: added.period,
            reason: added.reason.clone(),
        }),
        Event::BlackoutRemoved(removed) => {
            resource.blackouts.retain(|b| b.id != removed.blackout_id);
        }
        _ => return Some(resource),
    }
    resource.version += 1;
    resource.updated_at = at;
    Some(resource)
}

/// The next state of a booking stream after `event` (recorded at `at`).
pub fn evolve_booking(state: Option<Booking>, event: &Event, at: DateTime<Utc>) -> Option<Booking> {
    match (state, event) {
        (None, Event::BookingPlaced(placed)) => Some(Booking::placed(placed, at)),
        (None, _) => None,
        (Some(mut booking), event) => {
            booking.apply(event, at);
            Some(booking)
        }
    }
}
