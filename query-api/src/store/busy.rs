//! `read.busy`: the blocked periods (buffers included) per unit of live bookings, read one
//! resource-day at a time, the unit the availability cache stores.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use domain::Period;
use domain::ids::{ResourceId, TenantId};
use eventstore::{Position, Xid8};
use readmodel::cache::{BusyInterval, DayEntry};
use readmodel::projections::Projection;
use sqlx::PgPool;
use sqlx::postgres::types::PgRange;

use super::StoreError;

/// The busy intervals of one resource overlapping a span, together with the `bookings`
/// projection's checkpoint, in ONE statement: both come from the same snapshot, so the position
/// an entry is cached with is exactly the state it reflects (a projector commit can never fall
/// between the two reads). Served by `busy_resource_during_idx` (GiST on resource, during).
///
/// `$1` checkpoint name, `$2` resource, `$3` tenant, `$4` span.
pub static DAY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select c.transaction_id, c.global_position, b.unit, lower(b.during), upper(b.during)
         from (values (1)) as one (x)
         left join {} c on true
         left join read.busy b on b.resource_id = $2 and b.tenant_id = $3 and b.during && $4",
        eventstore::checkpoint::BY_NAME
    )
});

type DayRow = (
    Option<Xid8>,
    Option<i64>,
    Option<i32>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// The busy timeline of `resource` over `span` (one local day), and the position it reflects.
pub async fn load_day(
    pool: &PgPool,
    tenant: &TenantId,
    resource: ResourceId,
    span: Period,
) -> Result<(Position, DayEntry), StoreError> {
    let rows: Vec<DayRow> = sqlx::query_as(DAY_SQL.as_str())
        .bind(Projection::Bookings.checkpoint())
        .bind(resource.0)
        .bind(tenant.as_str())
        .bind(PgRange::from(span.start()..span.end()))
        .fetch_all(pool)
        .await?;
    let at = match rows.first() {
        Some((Some(Xid8(xid)), Some(global_position), ..)) => Position::new(*xid, *global_position),
        _ => Position::START,
    };
    let mut busy: Vec<BusyInterval> = rows
        .into_iter()
        .filter_map(|(_, _, unit, start, end)| {
            let unit = u32::try_from(unit?).ok()?;
            let period = Period::new(start?, end?).ok()?;
            Some(BusyInterval { unit, period })
        })
        .collect();
    busy.sort_unstable_by_key(|b| (b.period, b.unit));
    Ok((at, DayEntry { busy }))
}
