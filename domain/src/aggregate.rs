//! One shape for every aggregate: its state folds from its stream's events ([`Aggregate::evolve`])
//! and its commands are decided against that state ([`Aggregate::decide`]), purely, with the
//! clock passed in. The command side loads an aggregate with [`Aggregate::fold`], and tests
//! read as given/when/then ([`given`]).
//!
//! Placing a booking and moving one are decided in two steps instead, because the write-side
//! guard picks the units between them (see [`crate::booking`]).

use chrono::{DateTime, Utc};

use crate::booking::{Booking, BookingCommand, BookingError};
use crate::event::Event;
use crate::resource::{Resource, ResourceCommand, ResourceError};
use crate::service::{Service, ServiceCommand, ServiceError};

/// An event-sourced aggregate.
pub trait Aggregate: Sized {
    type Command;
    type Error;

    /// The state the first event of a stream creates; `None` if it cannot start one.
    fn create(event: &Event, at: DateTime<Utc>) -> Option<Self>;

    /// Applies a later event of the stream, recorded at `at`.
    fn apply(&mut self, event: &Event, at: DateTime<Utc>);

    /// The events `command` produces against `state` (`None`: the stream does not exist yet).
    fn decide(
        state: Option<&Self>,
        command: Self::Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Self::Error>;

    /// The state after `event`.
    fn evolve(state: Option<Self>, event: &Event, at: DateTime<Utc>) -> Option<Self> {
        match state {
            None => Self::create(event, at),
            Some(mut state) => {
                state.apply(event, at);
                Some(state)
            }
        }
    }

    /// The state a whole stream makes, events in order with the times they were recorded.
    fn fold<'e>(events: impl IntoIterator<Item = (&'e Event, DateTime<Utc>)>) -> Option<Self> {
        events
            .into_iter()
            .fold(None, |state, (event, at)| Self::evolve(state, event, at))
    }
}

impl Aggregate for Resource {
    type Command = ResourceCommand;
    type Error = ResourceError;

    fn create(event: &Event, at: DateTime<Utc>) -> Option<Self> {
        match event {
            Event::ResourceCreated(created) => Some(Resource::created(created, at)),
            _ => None,
        }
    }

    fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        Resource::apply(self, event, at);
    }

    fn decide(
        state: Option<&Self>,
        command: ResourceCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, ResourceError> {
        Resource::decide(state, command)
    }
}

impl Aggregate for Service {
    type Command = ServiceCommand;
    type Error = ServiceError;

    fn create(event: &Event, at: DateTime<Utc>) -> Option<Self> {
        match event {
            Event::ServiceCreated(created) => Some(Service::created(created, at)),
            _ => None,
        }
    }

    fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        Service::apply(self, event, at);
    }

    fn decide(
        state: Option<&Self>,
        command: ServiceCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Event>, ServiceError> {
        Service::decide(state, command)
    }
}

impl Aggregate for Booking {
    type Command = BookingCommand;
    type Error = BookingError;

    fn create(event: &Event, at: DateTime<Utc>) -> Option<Self> {
        match event {
            Event::BookingPlaced(placed) => Some(Booking::placed(placed, at)),
            _ => None,
        }
    }

    fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        Booking::apply(self, event, at);
    }

    fn decide(
        state: Option<&Self>,
        command: BookingCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, BookingError> {
        let booking = state.ok_or(BookingError::NotFound)?;
        Ok(vec![booking.decide(command, now)?])
    }
}

/// A given/when/then test of an aggregate: the events so far, then a command at a moment.
pub fn given<A: Aggregate>(history: &[Event], at: DateTime<Utc>) -> Given<A> {
    Given {
        state: A::fold(history.iter().map(|event| (event, at))),
    }
}

/// An aggregate's state after its history.
pub struct Given<A> {
    pub state: Option<A>,
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` at `now`.
    pub fn when(self, command: A::Command, now: DateTime<Utc>) -> Then<A> {
        let decided = A::decide(self.state.as_ref(), command, now);
        Then {
            state: self.state,
            decided,
            now,
        }
    }
}

/// What a command decided, and the state it was decided against.
pub struct Then<A: Aggregate> {
    state: Option<A>,
    pub decided: Result<Vec<Event>, A::Error>,
    now: DateTime<Utc>,
}

impl<A> Then<A>
where
    A: Aggregate,
    A::Error: std::fmt::Debug + PartialEq,
{
    /// Asserts the command produced exactly `expected` and returns the state they lead to.
    #[track_caller]
    pub fn then(self, expected: &[Event]) -> A {
        let events = match self.decided {
            Ok(events) => events,
            Err(err) => panic!("expected {expected:?}, the command was refused: {err:?}"),
        };
        assert_eq!(events, expected, "the events decided");
        events
            .iter()
            .fold(self.state, |state, event| A::evolve(state, event, self.now))
            .unwrap_or_else(|| panic!("the events {events:?} start no stream"))
    }

    /// Asserts the command was refused with `expected`.
    #[track_caller]
    pub fn then_refused(self, expected: A::Error) {
        match self.decided {
            Err(err) => assert_eq!(err, expected, "the refusal"),
            Ok(events) => panic!("expected the refusal {expected:?}, got {events:?}"),
        }
    }
}
