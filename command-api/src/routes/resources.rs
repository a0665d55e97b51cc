//! `/v1/resources`: create and change resources and their blackouts (admin only).

use api::requests;
use api::views::{BlackoutAnswer, Nothing, ResourceAnswer, Written};
use api::{ErrorCode, problems};
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use domain::Period;
use domain::ids::{BlackoutId, ResourceId};
use domain::resource::{ResourceChanges, ResourceSpec};
use platform::Problem;
use platform::auth::Actor;
use platform::json::ApiJson;
use platform::path::ApiPath;

use super::{AppState, IdempotencyKey, command_request, path_id};
use crate::commands::{AddBlackout, CreateResource, RemoveBlackout, UpdateResource};
use crate::error::CommandError;
use crate::reply::Reply;
use crate::runner;

problems!(
    CreateProblems = [AlreadyExists] + AUTHENTICATED,
    COMMAND,
    JSON_BODY
);

/// Creates a resource.
#[utoipa::path(
    post,
    path = "/v1/resources",
    operation_id = "create_resource",
    tag = "resources",
    params(IdempotencyKey),
    request_body = requests::CreateResource,
    responses(
        (status = 201, description = "Created", body = Written<ResourceAnswer>),
        CreateProblems,
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    ApiJson(body): ApiJson<requests::CreateResource>,
) -> Result<Reply, Problem> {
    let request = command_request(&actor, &headers, "POST /v1/resources", &body)?;
    let command = CreateResource {
        id: body.id.map_or_else(ResourceId::generate, ResourceId),
        spec: ResourceSpec {
            name: body.name,
            kind: body.kind,
            capacity: body.capacity,
            time_zone: body.time_zone,
            opening_hours: body.opening_hours,
            policy: body.policy,
        },
    };
    runner::run(&state.pool, &state.wake, &request, &command)
        .await
        .map_err(CommandError::into_problem)
}

/// `If-Match: 3`, `"3"` or `W/"3"`.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    let Some(value) = headers.get("if-match") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| Problem::malformed("If-Match must be the resource's version, e.g. \"3\""))
}

problems!(
    UpdateProblems = [ResourceNotFound, VersionConflict, CapacityInUse] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Changes a resource's name, capacity, opening hours or policy.
#[utoipa::path(
    patch,
    path = "/v1/resources/{id}",
    operation_id = "update_resource",
    tag = "resources",
    params(
        ("id" = uuid::Uuid, Path, description = "The resource."),
        ("If-Match" = Option<String>, Header,
            description = "The version the change is for (`3`, `\"3\"` or `W/\"3\"`); \
                another is `412 version_conflict`."),
        IdempotencyKey,
    ),
    request_body = requests::UpdateResource,
    responses(
        (status = 200, description = "Changed", body = Written<ResourceAnswer>),
        UpdateProblems,
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<requests::UpdateResource>,
) -> Result<Reply, Problem> {
    let id = ResourceId(path_id(&id, ErrorCode::ResourceNotFound)?);
    let if_match = if_match(&headers)?;
    let path = format!("PATCH /v1/resources/{id} {if_match:?}");
    let request = command_request(&actor, &headers, &path, &body)?;
    let command = UpdateResource {
        id,
        if_match,
        changes: ResourceChanges {
            name: body.name,
            capacity: body.capacity,
            opening_hours: body.opening_hours,
            policy: body.policy,
        },
    };
    runner::run(&state.pool, &state.wake, &request, &command)
        .await
        .map_err(CommandError::into_problem)
}

/// `422 invalid_period` for `end <= start`.
pub fn period(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Period, Problem> {
    Period::new(start, end)
        .map_err(|_| Problem::new(ErrorCode::InvalidPeriod, "end must be after start"))
}

problems!(
    AddBlackoutProblems = [ResourceNotFound, InvalidPeriod] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Adds a blackout: a period in which the resource cannot be booked.
#[utoipa::path(
    post,
    path = "/v1/resources/{id}/blackouts",
    operation_id = "add_blackout",
    tag = "resources",
    params(("id" = uuid::Uuid, Path, description = "The resource."), IdempotencyKey),
    request_body = requests::AddBlackout,
    responses(
        (status = 201, description = "Added", body = Written<BlackoutAnswer>),
        AddBlackoutProblems,
    ),
)]
pub async fn add_blackout(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<requests::AddBlackout>,
) -> Result<Reply, Problem> {
    let resource_id = ResourceId(path_id(&id, ErrorCode::ResourceNotFound)?);
    let path = format!("POST /v1/resources/{resource_id}/blackouts");
    let request = command_request(&actor, &headers, &path, &body)?;
    let command = AddBlackout {
        resource_id,
        blackout_id: body.id.map_or_else(BlackoutId::generate, BlackoutId),
        period: period(body.start, body.end)?,
        reason: body.reason,
    };
    runner::run(&state.pool, &state.wake, &request, &command)
        .await
        .map_err(CommandError::into_problem)
}

problems!(
    RemoveBlackoutProblems = [ResourceNotFound, BlackoutNotFound] + AUTHENTICATED,
    PATH,
    COMMAND
);

/// Removes a blackout.
#[utoipa::path(
    delete,
    path = "/v1/resources/{id}/blackouts/{blackout_id}",
    operation_id = "remove_blackout",
    tag = "resources",
    params(
        ("id" = uuid::Uuid, Path, description = "The resource."),
        ("blackout_id" = uuid::Uuid, Path, description = "The blackout."),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Removed", body = Written<Nothing>),
        RemoveBlackoutProblems,
    ),
)]
pub async fn remove_blackout(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((id, blackout_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Reply, Problem> {
    let resource_id = ResourceId(path_id(&id, ErrorCode::ResourceNotFound)?);
    let blackout_id = BlackoutId(path_id(&blackout_id, ErrorCode::BlackoutNotFound)?);
    let path = format!("DELETE /v1/resources/{resource_id}/blackouts/{blackout_id}");
    let request = command_request(&actor, &headers, &path, &())?;
    let command = RemoveBlackout {
        resource_id,
        blackout_id,
    };
    runner::run(&state.pool, &state.wake, &request, &command)
        .await
        .map_err(CommandError::into_problem)
}
