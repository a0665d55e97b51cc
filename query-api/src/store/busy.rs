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

/// [`DAY_SQL`] for many resource-days at once: each day's busy intervals tagged with its place
/// in the arrays (`ord`, from 1), and the checkpoint, in ONE statement. Days without busy time
/// come back as one row without a unit.
///
/// `$1` checkpoint name, `$2` resources, `$3` tenants, `$4` spans.
pub static DAYS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select c.transaction_id, c.global_position, d.ord, b.unit, lower(b.during),
                upper(b.during)
         from (values (1)) as one (x)
         left join {} c on true
         left join unnest($2::uuid[], $3::text[], $4::tstzrange[])
              with ordinality as d (resource_id, tenant_id, span, ord) on true
         left join read.busy b
              on b.resource_id = d.resource_id and b.tenant_id = d.tenant_id and b.during && d.span",
        eventstore::checkpoint::BY_NAME
    )
});

type DaysRow = (
    Option<Xid8>,
    Option<i64>,
    Option<i64>,
    Option<i32>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// The busy timelines of many `(tenant, resource, span)` days (each span one local day), in
/// that order, and the one position they all reflect.
pub async fn load_days(
    pool: &PgPool,
    days: &[(&TenantId, ResourceId, Period)],
) -> Result<(Position, Vec<DayEntry>), StoreError> {
    let rows: Vec<DaysRow> = sqlx::query_as(DAYS_SQL.as_str())
        .bind(Projection::Bookings.checkpoint())
        .bind(days.iter().map(|(_, r, _)| r.0).collect::<Vec<_>>())
        .bind(days.iter().map(|(t, _, _)| t.as_str()).collect::<Vec<_>>())
        .bind(
            days.iter()
                .map(|(_, _, span)| PgRange::from(span.start()..span.end()))
                .collect::<Vec<_>>(),
        )
        .fetch_all(pool)
        .await?;
    let at = match rows.first() {
        Some((Some(Xid8(xid)), Some(global_position), ..)) => Position::new(*xid, *global_position),
        _ => Position::START,
    };
    let mut entries = vec![DayEntry { busy: Vec::new() }; days.len()];
    for (_, _, ord, unit, start, end) in rows {
        let found = (|| {
            let index = usize::try_from(ord?.checked_sub(1)?).ok()?;
            let unit = u32::try_from(unit?).ok()?;
            let period = Period::new(start?, end?).ok()?;
            Some((index, BusyInterval { unit, period }))
        })();
        if let Some((index, busy)) = found
            && let Some(entry) = entries.get_mut(index)
        {
            entry.busy.push(busy);
        }
    }
    for entry in &mut entries {
        entry.busy.sort_unstable_by_key(|b| (b.period, b.unit));
    }
    Ok((at, entries))
}

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
