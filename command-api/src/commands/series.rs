//! Recurring series: `POST /v1/series` books every occurrence of a rule, `POST
//! /v1/series/{id}/cancel` cancels them from a point on.
//!
//! Creating is one transaction, as pool bookings are (see [`super::pools`]): the domain checks
//! what holds for the whole series and expands the rule ([`plan_series`]); each occurrence is
//! then placed inside a savepoint with the very steps of a single booking ([`place_on`]: the
//! domain's rules, quotas, the guard, its `BookingPlaced` carrying the series' id), and a
//! refusal rolls back only its savepoint and is noted with the code that booking got. The
//! series itself is decided from what was booked and what was refused, and `SeriesCreated`
//! goes on its own stream last. With `fail`, one refusal refuses the command, and the runner
//! rolls the whole transaction back: no other transaction ever sees half a series. Concurrent
//! series meet in the guard's rows, as single bookings do (an insert waits for the transaction
//! holding an overlapping row, then collides or succeeds), so of N overlapping `fail` series
//! exactly one is booked.
//!
//! Cancelling is one transaction too: each live occurrence from `from` on gets the ordinary
//! `BookingCancelled` (so the guard, quotas, projections and caches follow as for any cancel),
//! then `SeriesCancelled` records the cancellation on the series' stream.

use api::views::{BookingView, OccurrenceView, SeriesAnswer, SeriesCancelAnswer, SeriesView};
use chrono::{DateTime, Utc};
use domain::aggregate::Aggregate;
use domain::booking::{Booking, BookingCommand, Requester};
use domain::event::BookingStatus;
use domain::ids::{BookingId, CustomerId, SeriesId, ServiceId};
use domain::resource::Resource;
use domain::series::{self, Series, SeriesCommand, SeriesError, Skipped, plan_series};
use domain::service::Service;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::bookings::{place_on, step};
use super::pools::code;
use super::{Command, Done, Effect, commit, load, start};
use crate::error::CommandError;
use crate::store::{self, CommandMeta, StreamId, aggregates};

/// `POST /v1/series`.
#[derive(Clone, Debug)]
pub struct CreateSeries {
    /// With `service_id`, only the start of the spec's period counts: the service gives the end.
    pub series: series::CreateSeries,
    pub service_id: Option<ServiceId>,
    /// A client-chosen id may already be taken; a fresh UUIDv7 of ours cannot be.
    pub id_from_client: bool,
}

impl Command for CreateSeries {
    type Answer = SeriesAnswer;

    /// Only a client's id needs the lock (see `PlaceBooking::streams`); the occurrences'
    /// bookings get fresh ids nobody else knows yet.
    fn streams(&self) -> Vec<Uuid> {
        if self.id_from_client {
            vec![self.series.series_id.stream()]
        } else {
            Vec::new()
        }
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<SeriesAnswer>, CommandError> {
        let series_id = self.series.series_id;
        if self.id_from_client && store::stream_exists(conn, series_id).await? {
            return Err(SeriesError::AlreadyExists.into());
        }
        let resource: Resource = load(conn, meta, self.series.spec.resource_id).await?;
        let service: Option<Service> = match self.service_id {
            Some(service_id) => Some(load(conn, meta, service_id).await?),
            None => None,
        };
        let mut command = self.series.clone();
        if let Some(service) = &service {
            // Not offered here: every occurrence would be refused the same way.
            service.terms_on(&resource)?;
            command.spec.period = service
                .period_from(command.spec.period.start())
                .ok_or(CommandError::Defect("a service of no duration"))?;
            command.spec.service_id = Some(service.id);
        }
        let plan = plan_series(&resource, command, meta.now)?;
        let (booked, skipped) =
            place_occurrences(conn, meta, &resource, service.as_ref(), &plan).await?;
        let pending = booked.iter().any(|b| b.status == BookingStatus::Pending);
        let booked_ids = booked.iter().map(|b| BookingId(b.id)).collect();
        let events = Series::decide(
            None,
            SeriesCommand::Create {
                plan: Box::new(plan),
                booked: booked_ids,
                skipped,
            },
            meta.now,
        )?;
        let taken = || SeriesError::AlreadyExists.into();
        let (series, position) = start::<Series>(conn, meta, series_id, &events, taken).await?;
        Ok(Done {
            // Like a single booking: `202` while the occurrences wait for an approval.
            effect: if pending {
                Effect::Pending
            } else {
                Effect::Created
            },
            answer: SeriesAnswer {
                series: SeriesView::from(&series),
                bookings: booked,
                skipped: series.skipped.iter().map(OccurrenceView::from).collect(),
            },
            position,
        })
    }
}

/// Places each occurrence of `plan` in a savepoint of its own: the bookings placed, and the
/// occurrences refused with the code each got.
async fn place_occurrences(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource: &Resource,
    service: Option<&Service>,
    plan: &series::SeriesPlan,
) -> Result<(Vec<BookingView>, Vec<Skipped>), CommandError> {
    let spec = &plan.spec;
    let mut booked = Vec::with_capacity(plan.occurrences.len());
    let mut skipped = Vec::new();
    for period in &plan.occurrences {
        let input = domain::booking::PlaceBooking {
            booking_id: BookingId::generate(),
            resource_id: resource.id,
            period: *period,
            quantity: spec.quantity,
            customer_id: spec.customer_id.clone(),
            customer: None,
            hold: spec.hold,
            metadata: spec.metadata.clone(),
            service: None,
            price: None,
            series_id: Some(plan.series_id),
        };
        let mut savepoint = conn.begin().await?;
        match place_on(&mut savepoint, meta, resource, input, service).await {
            Ok(done) => {
                savepoint.commit().await?;
                booked.push(done.answer.booking);
            }
            Err(err) if err.is_rejection() => {
                savepoint.rollback().await?;
                let code = code(&err).ok_or(CommandError::Defect("a refusal without a code"))?;
                skipped.push(Skipped {
                    period: *period,
                    code: code.as_str().to_owned(),
                });
            }
            Err(err) => return Err(err),
        }
    }
    Ok((booked, skipped))
}

/// `POST /v1/series/{id}/cancel`.
#[derive(Clone, Debug)]
pub struct CancelSeries {
    pub series_id: SeriesId,
    /// Cancel the occurrences starting at or after this; `None`: every one not yet started.
    pub from: Option<DateTime<Utc>>,
    /// For a client: its own id; only its series are visible.
    pub owner: Option<CustomerId>,
}

impl Command for CancelSeries {
    type Answer = SeriesCancelAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.series_id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<SeriesCancelAnswer>, CommandError> {
        let series: Series = load(conn, meta, self.series_id).await?;
        if self
            .owner
            .as_ref()
            .is_some_and(|owner| *owner != series.spec.customer_id)
        {
            return Err(SeriesError::NotFound.into());
        }
        let from = Series::cancel_from(self.from, meta.now);
        // The occurrences' streams are locked only now, possibly after this transaction's
        // first write (its Idempotency-Key): as for an expiring hold, a booking written since
        // then by a newer transaction means starting over (see `ExpireHold::expire`).
        let streams: Vec<Uuid> = series.booking_ids.iter().map(|id| id.stream()).collect();
        eventstore::append::lock_streams(conn, &streams).await?;
        if store::streams_newer_than_transaction(conn, &streams).await? {
            return Err(CommandError::Retry);
        }
        let mut bookings: Vec<Booking> =
            aggregates::load_many(conn, &meta.tenant, &series.booking_ids).await?;
        bookings.sort_by_key(|b| (b.period.start(), b.id));
        let by = match self.owner {
            Some(_) => {
                let resource: Resource = load(conn, meta, series.spec.resource_id).await?;
                Requester::client(&resource.spec.policy)
            }
            None => Requester::Admin,
        };
        let mut cancelled = Vec::new();
        for booking in bookings {
            // A hold past its TTL is the sweeper's to expire, not this request's to cancel.
            if !Series::cancellable(booking.period.start(), booking.status, from)
                || booking.hold_has_expired(meta.now)
            {
                continue;
            }
            let command = BookingCommand::Cancel {
                reason: Some(format!("series {} cancelled", series.id)),
                by,
            };
            let (booking, _) = step(conn, meta, booking, command).await?;
            cancelled.push(booking.id);
        }
        let events = Series::decide(
            Some(&series),
            SeriesCommand::Cancel {
                from,
                cancelled: cancelled.clone(),
            },
            meta.now,
        )?;
        let (series, position) = commit(conn, meta, series, &events).await?;
        Ok(Done {
            effect: Effect::Changed,
            answer: SeriesCancelAnswer {
                series: SeriesView::from(&series),
                cancelled: cancelled.iter().map(|id| id.0).collect(),
            },
            position,
        })
    }
}
