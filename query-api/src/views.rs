//! What query answers look like. Resources and bookings have exactly the shape command-api
//! answers with (API.md), so a client reads one representation whichever side it asked.

use api::ErrorCode;
pub use api::views::BookingView;
use chrono::{DateTime, NaiveDate, Utc};
use domain::Period;
use domain::availability::FreeRange;
use domain::event::BookingStatus;
use eventstore::Position;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::StoreError;
use crate::store::bookings::BookingRow;

/// The booking view of a read-model row (the representation is `api`'s, the same as
/// command-api's).
pub fn booking_view(row: BookingRow) -> Result<BookingView, StoreError> {
    let status = BookingStatus::parse(&row.status)
        .ok_or_else(|| StoreError::corrupt("read.bookings", format!("status {:?}", row.status)))?;
    let quantity = u32::try_from(row.quantity)
        .map_err(|_| StoreError::corrupt("read.bookings", format!("quantity {}", row.quantity)))?;
    let metadata = match row.metadata {
        Value::Object(metadata) => metadata,
        other => {
            return Err(StoreError::corrupt(
                "read.bookings",
                format!("metadata {other}"),
            ));
        }
    };
    Ok(BookingView {
        id: row.booking_id.0,
        resource_id: row.resource_id.0,
        start: row.start_at,
        end: row.end_at,
        quantity,
        customer_id: row.customer_id,
        customer: crate::store::personal::sealed_column(row.customer)?,
        status,
        expires_at: row.expires_at,
        metadata,
        service_id: row.service_id,
        price: match (row.price_amount_minor, row.price_currency) {
            (Some(amount_minor), Some(currency)) => Some(domain::service::Price {
                amount_minor,
                currency,
            }),
            _ => None,
        },
        series_id: row.series_id,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A page of a keyset-paginated list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `found`, which was fetched with one row more than `limit` to tell whether
    /// there is a next page: at most `limit` items, and the cursor after the last one if so.
    pub fn of<S>(
        mut found: Vec<S>,
        limit: i64,
        cursor: impl Fn(&S) -> String,
        view: impl Fn(&S) -> T,
    ) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = found.len() > limit;
        found.truncate(limit);
        let next_cursor = more.then(|| found.last().map(&cursor)).flatten();
        Page {
            items: found.iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// One resource's availability over a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityView {
    pub resource_id: Uuid,
    #[schema(examples("Europe/Berlin"))]
    pub time_zone: &'static str,
    /// The window asked for, as instants.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every write at or before this position is reflected in the answer.
    #[schema(value_type = String, examples("812.4711"))]
    pub position: Position,
    pub free: Vec<FreeRange>,
    /// Present when `duration_minutes` was given: each starts on the policy's slot step and
    /// fits `quantity` units with the buffers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<Vec<Period>>,
}

/// One event of a booking's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    /// Where the event stands in the store (usable as `min_position`).
    #[schema(value_type = String, examples("812.4711"))]
    pub position: Position,
    /// The event's type, e.g. `BookingPlaced`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    /// Who caused it: the `sub` of the command's token (`system:hold-sweeper` for an expiry).
    pub actor: Option<String>,
    /// The event as recorded; a `BookingPlaced`'s `customer` (stored encrypted) is shown
    /// opened, or as `{"erased": true}` once the customer was erased.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A list of items (lists that are not paginated).
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// One resource's day in the daily stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayStatsView {
    pub resource_id: Uuid,
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: FiguresView,
}

/// A group's figures in `GET /v1/stats/summary`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryItemView {
    /// What the figures are summed by: a resource's or a service's id, a kind, or a local day
    /// (`YYYY-MM-DD`); null for the bookings made without a service.
    pub group: Option<String>,
    #[serde(flatten)]
    pub figures: FiguresView,
    /// No-shows over no-shows, checked-in and completed bookings, to 4 decimals (0 when none).
    pub no_show_rate: f64,
    /// Cancellations over bookings placed, to 4 decimals (0 when none).
    pub cancellation_rate: f64,
}

/// The figures of a day or of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiguresView {
    /// Bookings starting then that were booked for real (a hold once confirmed; a declined
    /// request not at all).
    pub bookings: i64,
    /// Of those, the ones cancelled.
    pub cancellations: i64,
    /// Of those, the ones completed.
    pub completed: i64,
    /// Of those, the ones marked a no-show.
    pub no_shows: i64,
    /// Unit-minutes of the confirmed, checked-in and completed bookings within the period.
    pub booked_minutes: i64,
    /// Opening hours minus blackouts, times capacity, in unit-minutes (by the resources'
    /// current hours; 23 or 25 hours on DST days).
    pub open_minutes: i64,
    /// Booked unit-minutes over open unit-minutes, to 4 decimals; 0 when closed.
    pub utilization: f64,
    /// Per currency, the prices of the confirmed, checked-in and completed bookings starting
    /// then (booked) and of the completed ones (realized). Unpriced bookings add nothing.
    pub revenue: Vec<RevenueView>,
}

/// Revenue in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueView {
    /// ISO 4217.
    pub currency: String,
    /// In the currency's minor unit.
    pub booked_minor: i64,
    /// In the currency's minor unit.
    pub realized_minor: i64,
}

/// One answer of the live check.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub resource_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub quantity: u32,
    pub available: bool,
    /// Why not (the code a booking would be refused with), when not available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ErrorCode>,
}

/// One resource an availability search found free.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchItem {
    pub resource_id: Uuid,
    pub name: String,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, Value>,
    /// Units free over the whole period (buffers included): at least the `quantity` asked.
    pub units_free: u32,
}
