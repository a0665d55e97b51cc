//! The work of the resource commands: create, update, add and remove blackouts.

use axum::http::StatusCode;
use domain::Event;
use domain::Period;
use domain::ids::{BlackoutId, ResourceId};
use domain::resource::{Resource, ResourceChanges, ResourceSpec};
use domain::stream::evolve_resource;
use eventstore::ExpectedVersion;
use platform::Problem;
use serde_json::json;
use sqlx::PgConnection;

use crate::error::{CommandError, resource_not_found};
use crate::store::{self, CommandMeta, aggregates, guard};
use domain::resource::ResourceView;

use crate::views::Reply;

/// `409 already_exists`, for a client-chosen id that is taken.
pub fn already_exists(what: &str) -> CommandError {
    CommandError::Rejected(Problem::new(
        StatusCode::CONFLICT,
        "already_exists",
        "Already exists",
        format!("a {what} with this id already exists"),
    ))
}

#[derive(Clone, Debug)]
pub struct CreateResource {
    pub id: ResourceId,
    pub spec: ResourceSpec,
}

pub async fn create(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &CreateResource,
) -> Result<Reply, CommandError> {
    let created = Resource::create(input.id, input.spec.clone())?;
    let event = Event::ResourceCreated(created.clone());
    let appended = store::append(conn, meta, input.id.0, ExpectedVersion::NoStream, &[event])
        .await
        .map_err(|err| match err {
            CommandError::Conflict => already_exists("resource or booking"),
            other => other,
        })?;
    let resource = Resource::created(&created, meta.now);
    Ok(Reply::new(
        StatusCode::CREATED,
        json!({ "resource": ResourceView::from(&resource), "position": appended.position }),
    ))
}

#[derive(Clone, Debug)]
pub struct UpdateResource {
    pub id: ResourceId,
    /// The version from `If-Match`, if the client sent one.
    pub if_match: Option<i64>,
    pub changes: ResourceChanges,
}

async fn load(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: ResourceId,
) -> Result<Resource, CommandError> {
    aggregates::load_resource(conn, &meta.tenant, id.0)
        .await?
        .ok_or_else(resource_not_found)
}

pub async fn update(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &UpdateResource,
) -> Result<Reply, CommandError> {
    let resource = load(conn, meta, input.id).await?;
    if let Some(expected) = input.if_match
        && expected != resource.version
    {
        return Err(CommandError::Rejected(
            Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "version_conflict",
                "The resource has changed",
                format!(
                    "If-Match names version {expected}, the resource is at version {}",
                    resource.version
                ),
            )
            .with_extra("current_version", resource.version),
        ));
    }
    let updated = resource.update(input.changes.clone())?;
    if updated.spec.capacity < resource.spec.capacity
        && guard::units_in_use_from(conn, resource.id.0, updated.spec.capacity, meta.now).await?
    {
        return Err(CommandError::Rejected(Problem::new(
            StatusCode::CONFLICT,
            "capacity_in_use",
            "Capacity still in use",
            "bookings that have not ended use units above the new capacity; cancel or move them first",
        )));
    }
    let event = Event::ResourceUpdated(updated);
    let appended = store::append(
        conn,
        meta,
        resource.id.0,
        ExpectedVersion::Exact(resource.version),
        std::slice::from_ref(&event),
    )
    .await?;
    let resource =
        evolve_resource(Some(resource), &event, meta.now).ok_or(CommandError::Conflict)?;
    Ok(Reply::new(
        StatusCode::OK,
        json!({ "resource": ResourceView::from(&resource), "position": appended.position }),
    ))
}

#[derive(Clone, Debug)]
pub struct AddBlackout {
    pub resource_id: ResourceId,
    pub blackout_id: BlackoutId,
    pub period: Period,
    pub reason: String,
}

pub async fn add_blackout(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &AddBlackout,
) -> Result<Reply, CommandError> {
    let resource = load(conn, meta, input.resource_id).await?;
    let added = resource.add_blackout(input.blackout_id, input.period, input.reason.clone())?;
    let appended = store::append(
        conn,
        meta,
        resource.id.0,
        ExpectedVersion::Exact(resource.version),
        &[Event::BlackoutAdded(added.clone())],
    )
    .await?;
    Ok(Reply::new(
        StatusCode::CREATED,
        json!({
            "blackout": {
                "id": added.blackout_id,
                "start": added.period.start(),
                "end": added.period.end(),
                "reason": added.reason,
            },
            "position": appended.position,
        }),
    ))
}

#[derive(Clone, Debug)]
pub struct RemoveBlackout {
    pub resource_id: ResourceId,
    pub blackout_id: BlackoutId,
}

pub async fn remove_blackout(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &RemoveBlackout,
) -> Result<Reply, CommandError> {
    let resource = load(conn, meta, input.resource_id).await?;
    let removed = resource.remove_blackout(input.blackout_id)?;
    let appended = store::append(
        conn,
        meta,
        resource.id.0,
        ExpectedVersion::Exact(resource.version),
        &[Event::BlackoutRemoved(removed)],
    )
    .await?;
    Ok(Reply::new(
        StatusCode::OK,
        json!({ "position": appended.position }),
    ))
}
