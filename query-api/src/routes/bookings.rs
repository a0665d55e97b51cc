//! `GET /v1/bookings/{id}` and `GET /v1/bookings` (keyset-paginated by start).
//!
//! Admins and viewers see every booking of their tenant; a client sees only its own (customer =
//! its `sub`): another customer's booking is `404`, asking for another customer's list `403`.
//!
//! Filters combine: `resource_id`, `customer_id`, `status` (one of the nine statuses), and
//! `from`/`to`, which select bookings by their START: `from <= start < to`. Each is an RFC 3339
//! instant or a date (a UTC day; a date `to` includes that whole day).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use domain::ids::{BookingId, ResourceId};
use platform::Problem;
use platform::auth::Actor;
use platform::path::ApiPath;
use readmodel::projections::Projection;

use super::{AppState, path_id, read_after, sees_all_bookings};
use domain::event::BookingStatus;

use crate::cursor;
use crate::error::booking_not_found;
use crate::params::{self, Bound, MinPosition, Paging, QueryParams};
use crate::store::bookings::{self as store, BookingFilter};
use crate::store::{history, personal};
use crate::views::{BookingView, HistoryItem, Items, Page, booking_view};

/// The filters of `GET /v1/bookings`; they combine.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes what the handler parses by hand (`QueryParams`)"
)]
struct BookingFilters {
    resource_id: Option<uuid::Uuid>,
    /// Clients may only name themselves (their own bookings are all they see).
    customer_id: Option<String>,
    status: Option<BookingStatus>,
    /// Bookings starting at or after: an instant, or a date (a UTC day).
    #[param(inline)]
    from: Option<Bound>,
    /// Bookings starting before: an instant, or a date (a UTC day, included whole).
    #[param(inline)]
    to: Option<Bound>,
}

api::problems!(GetProblems = [BookingNotFound] + AUTHENTICATED, PATH, QUERY);
api::problems!(ListProblems = [InvalidCursor] + AUTHENTICATED, QUERY);

/// A booking (a client's own only: another customer's is `404`).
#[utoipa::path(
    get,
    path = "/v1/bookings/{id}",
    tag = "bookings",
    operation_id = "get_booking",
    params(("id" = uuid::Uuid, Path, description = "The booking."), MinPosition),
    responses((status = 200, description = "The booking", body = BookingView), GetProblems),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant, booking.id = %id))]
pub async fn get(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    query: QueryParams,
) -> Result<Response, Problem> {
    let id = path_id(&id, booking_not_found)?;
    read_after(&state, query, &[Projection::Bookings]).await?;
    let booking = store::get(&state.pool, &actor.tenant, BookingId(id))
        .await?
        .filter(|booking| sees_all_bookings(&actor) || booking.customer_id == actor.id)
        .ok_or_else(booking_not_found)?;
    // Whoever gets this far may see its personal data: an admin, a viewer or the owner.
    let mut views = [booking_view(booking)?];
    personal::open_bookings(&state.pool, &actor.tenant, &mut views).await?;
    let [view] = views;
    Ok(Json(view).into_response())
}

/// The booking's events in order, with who caused each: its audit trail, read from the event
/// store itself (owner, admins and viewers; another customer's booking is `404`).
#[utoipa::path(
    get,
    path = "/v1/bookings/{id}/history",
    tag = "bookings",
    operation_id = "booking_history",
    params(("id" = uuid::Uuid, Path, description = "The booking."), MinPosition),
    responses(
        (status = 200, description = "The booking's events, oldest first", body = Items<HistoryItem>),
        GetProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant, booking.id = %id))]
pub async fn history(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    query: QueryParams,
) -> Result<Response, Problem> {
    let id = path_id(&id, booking_not_found)?;
    // The store is the source: nothing to wait for, but a position it never wrote is refused.
    read_after(&state, query, &[]).await?;
    let found = history::get(&state.pool, &actor.tenant, BookingId(id))
        .await?
        .filter(|found| sees_all_bookings(&actor) || found.customer_id == actor.id)
        .ok_or_else(booking_not_found)?;
    let mut items: Vec<HistoryItem> = found
        .events
        .into_iter()
        .map(|event| HistoryItem {
            position: event.position,
            event_type: event.event_type,
            recorded_at: event.recorded_at,
            actor: event.metadata["actor"].as_str().map(str::to_owned),
            data: event.payload,
        })
        .collect();
    personal::open_history(&state.pool, &actor.tenant, &found.customer_id, &mut items).await?;
    Ok(Json(Items { items }).into_response())
}

fn status(name: &'static str, value: &str) -> Result<String, Problem> {
    match BookingStatus::parse(value) {
        Some(status) => Ok(status.as_str().to_owned()),
        None => {
            let names: Vec<&str> = BookingStatus::ALL.iter().map(|s| s.as_str()).collect();
            Err(Problem::invalid_field(
                name,
                format!("must be one of {}", names.join(", ")),
            ))
        }
    }
}

/// `from`/`to` of the list: instants, or dates as UTC days (`to` inclusive: its whole day).
fn utc_bound(bound: Bound, end: bool) -> chrono::DateTime<chrono::Utc> {
    match bound {
        Bound::Instant(at) => at,
        Bound::Date(day) => {
            let day = if end { day + Duration::days(1) } else { day };
            day.and_time(chrono::NaiveTime::MIN).and_utc()
        }
    }
}

/// Bookings by start (a client's own only), keyset-paginated.
#[utoipa::path(
    get,
    path = "/v1/bookings",
    tag = "bookings",
    operation_id = "list_bookings",
    params(BookingFilters, Paging, MinPosition),
    responses(
        (status = 200, description = "A page of bookings", body = Page<BookingView>),
        ListProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let resource_id = query.parse("resource_id", params::uuid)?.map(ResourceId);
    let mut customer_id = query.take("customer_id")?;
    let status = query.parse("status", status)?;
    let from = query
        .parse("from", params::bound)?
        .map(|b| utc_bound(b, false));
    let to = query
        .parse("to", params::bound)?
        .map(|b| utc_bound(b, true));
    let limit = query
        .parse("limit", params::limit)?
        .unwrap_or(params::DEFAULT_LIMIT);
    let after = query.parse("cursor", cursor::parse_booking)?;
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
    if !sees_all_bookings(&actor) {
        match &customer_id {
            Some(customer) if *customer != actor.id => {
                return Err(Problem::forbidden(
                    "clients may only list their own bookings",
                ));
            }
            _ => customer_id = Some(actor.id.clone()),
        }
    }
    state
        .freshness
        .wait(&state.pool, &[Projection::Bookings], min_position)
        .await?;
    let filter = BookingFilter {
        tenant: actor.tenant.clone(),
        resource_id,
        customer_id,
        status,
        from,
        to,
        after,
        limit: limit + 1,
    };
    let bookings = store::list(&state.pool, &filter).await?;
    let page = Page::of(
        bookings,
        limit,
        |b| cursor::booking(b.start_at, b.booking_id),
        Clone::clone,
    );
    let mut items = page
        .items
        .into_iter()
        .map(booking_view)
        .collect::<Result<Vec<_>, _>>()?;
    // Clients list only their own bookings; admins and viewers see every one's data.
    personal::open_bookings(&state.pool, &actor.tenant, &mut items).await?;
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    })
    .into_response())
}
