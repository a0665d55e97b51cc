//! `read.resources`: one row per resource, decoded back into the domain's `Resource` so
//! availability is computed by exactly the rules the command side enforces.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::attributes::Attributes;
use domain::hours::OpeningHours;
use domain::ids::{ResourceId, TenantId};
use domain::resource::{Blackout, Policy, Resource, ResourceSpec};
use eventstore::{Position, Xid8};
use readmodel::filter::ResourceFilter;
use readmodel::projections::Projection;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, Row as _};
use uuid::Uuid;

use super::StoreError;

const COLUMNS: &str = "resource_id, name, kind, capacity, time_zone, opening_hours, policy, \
                       blackouts, attributes, archived, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    resource_id: Uuid,
    name: String,
    kind: String,
    capacity: i32,
    time_zone: String,
    opening_hours: Option<Value>,
    policy: Value,
    blackouts: Value,
    attributes: Value,
    archived: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Resource {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, Self::Error> {
        let corrupt = |detail: String| StoreError::corrupt("read.resources", detail);
        let time_zone: Tz = row
            .time_zone
            .parse()
            .map_err(|_| corrupt(format!("unknown time zone {:?}", row.time_zone)))?;
        let opening_hours: Option<OpeningHours> = match row.opening_hours {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                serde_json::from_value(value)
                    .map_err(|e| corrupt(format!("opening_hours: {e}")))?,
            ),
        };
        let policy: Policy =
            serde_json::from_value(row.policy).map_err(|e| corrupt(format!("policy: {e}")))?;
        let blackouts: Vec<Blackout> = serde_json::from_value(row.blackouts)
            .map_err(|e| corrupt(format!("blackouts: {e}")))?;
        let Value::Object(attributes) = row.attributes else {
            return Err(corrupt(format!("attributes {}", row.attributes)));
        };
        let capacity = u32::try_from(row.capacity)
            .map_err(|_| corrupt(format!("capacity {}", row.capacity)))?;
        Ok(Resource {
            id: ResourceId(row.resource_id),
            spec: ResourceSpec {
                name: row.name,
                kind: row.kind,
                capacity,
                time_zone,
                opening_hours,
                policy,
                attributes: Attributes::new(attributes),
                archived: row.archived,
            },
            blackouts,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The resource, if it exists in `tenant` (primary key).
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: ResourceId,
) -> Result<Option<Resource>, StoreError> {
    Ok(get_many(pool, tenant, &[id]).await?.pop())
}

/// The resources of `tenant` among `ids` (primary key), in no particular order.
pub async fn get_many(
    pool: &PgPool,
    tenant: &TenantId,
    ids: &[ResourceId],
) -> Result<Vec<Resource>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from read.resources where resource_id = any($1) and tenant_id = $2"
    ))
    .bind(uuids(ids))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Resource::try_from).collect()
}

/// The ids as Postgres binds them.
fn uuids(ids: &[ResourceId]) -> Vec<Uuid> {
    ids.iter().map(|id| id.0).collect()
}

/// The resources of `tenant` among `ids` together with the `resources` projection's checkpoint,
/// in ONE statement: both come from the same snapshot, so the position a row is cached with is
/// exactly the state it reflects (see `busy::DAY_SQL`). One row even when no resource matches,
/// so an unknown id is known to be unknown as of that position. Served by the primary key.
///
/// `$1` checkpoint name, `$2` ids, `$3` tenant.
pub static AT_CHECKPOINT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select c.transaction_id as checkpoint_xid, c.global_position as checkpoint_position, r.*
         from (values (1)) as one (x)
         left join {by_name} c on true
         left join (select {COLUMNS} from read.resources where resource_id = any($2) and tenant_id = $3)
              as r on true",
        by_name = eventstore::checkpoint::BY_NAME
    )
});

/// A row of [`AT_CHECKPOINT_SQL`]: the checkpoint, and a resource unless none matched.
struct CheckpointedRow {
    xid: Option<Xid8>,
    global_position: Option<i64>,
    row: Option<Row>,
}

impl<'r> FromRow<'r, PgRow> for CheckpointedRow {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let id: Option<Uuid> = row.try_get("resource_id")?;
        Ok(Self {
            xid: row.try_get("checkpoint_xid")?,
            global_position: row.try_get("checkpoint_position")?,
            row: id.map(|_| Row::from_row(row)).transpose()?,
        })
    }
}

/// The resources of `tenant` among `ids` (in no particular order) and the position of the
/// `resources` projection they reflect.
pub async fn get_many_at_checkpoint(
    pool: &PgPool,
    tenant: &TenantId,
    ids: &[ResourceId],
) -> Result<(Position, Vec<Resource>), StoreError> {
    let rows: Vec<CheckpointedRow> = sqlx::query_as(AT_CHECKPOINT_SQL.as_str())
        .bind(Projection::Resources.checkpoint())
        .bind(uuids(ids))
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await?;
    let at = match rows.first() {
        Some(CheckpointedRow {
            xid: Some(Xid8(xid)),
            global_position: Some(global_position),
            ..
        }) => Position::new(*xid, *global_position),
        _ => Position::START,
    };
    let resources = rows
        .into_iter()
        .filter_map(|row| row.row)
        .map(Resource::try_from)
        .collect::<Result<_, _>>()?;
    Ok((at, resources))
}

/// What `GET /v1/resources` asks for.
#[derive(Clone, Debug)]
pub struct ResourceList {
    pub tenant: TenantId,
    pub filter: ResourceFilter,
    /// Keyset: only resources with a larger id.
    pub after: Option<ResourceId>,
    pub limit: i64,
}

/// Up to `limit` of `tenant`'s resources, archived ones included, by id
/// (`resources_tenant_idx`): what a summary of the tenant's open time looks at.
pub async fn all(
    pool: &PgPool,
    tenant: &TenantId,
    limit: i64,
) -> Result<Vec<Resource>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from read.resources where tenant_id = $1 order by resource_id limit $2"
    ))
    .bind(tenant.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Resource::try_from).collect()
}

/// The list query: by `resources_tenant_kind_idx` with a kind, else `resources_tenant_idx`;
/// ordered by id, which both indexes deliver without a sort (attribute filters narrow it by
/// `resources_attributes_idx`). `prefix` lets tests prepend `explain`.
pub fn list_query<'a>(prefix: &str, list: &'a ResourceList) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}select {COLUMNS} from read.resources where tenant_id = "
    ));
    query.push_bind(list.tenant.as_str());
    list.filter.push_sql(&mut query);
    if let Some(after) = list.after {
        query.push(" and resource_id > ").push_bind(after.0);
    }
    query
        .push(" order by resource_id limit ")
        .push_bind(list.limit);
    query
}

/// One page of resources.
pub async fn list(pool: &PgPool, list: &ResourceList) -> Result<Vec<Resource>, StoreError> {
    let rows: Vec<Row> = list_query("", list)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(Resource::try_from).collect()
}

/// What an availability search looks at: the tenant's resources that `filter` matches, after
/// `after` in (name, id) order, at most `limit` of them.
pub struct Candidates<'a> {
    pub tenant: &'a TenantId,
    pub filter: &'a ResourceFilter,
    pub after: Option<&'a (String, ResourceId)>,
    pub limit: i64,
}

/// The candidates query: by `resources_tenant_name_idx` (in its order, without a sort), or by
/// `resources_attributes_idx` for selective attribute filters. `prefix` lets tests prepend
/// `explain`.
pub fn candidates_query<'a>(prefix: &str, ask: &Candidates<'a>) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}select {COLUMNS} from read.resources where tenant_id = "
    ));
    query.push_bind(ask.tenant.as_str());
    ask.filter.push_sql(&mut query);
    if let Some((name, id)) = ask.after {
        query
            .push(" and (name, resource_id) > (")
            .push_bind(name.as_str())
            .push(", ")
            .push_bind(id.0)
            .push(")");
    }
    query
        .push(" order by name, resource_id limit ")
        .push_bind(ask.limit);
    query
}

/// The candidates of an availability search.
pub async fn candidates(pool: &PgPool, ask: &Candidates<'_>) -> Result<Vec<Resource>, StoreError> {
    let rows: Vec<Row> = candidates_query("", ask)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(Resource::try_from).collect()
}
