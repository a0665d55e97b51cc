//! `/v1/resources`: create and change resources and their blackouts (admin only); and what
//! every command handler shares ([`Commander`], [`period`]).

use api::requests;
use api::views::{BlackoutAnswer, Nothing, ResourceAnswer, Written};
use api::{ErrorCode, problems};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use domain::Period;
use domain::attributes::Attributes;
use domain::ids::{BlackoutId, ResourceId};
use domain::resource::{ResourceChanges, ResourceSpec};
use platform::Problem;
use platform::auth::Actor;
use platform::json::ApiJson;
use platform::path::ApiPath;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::{AppState, IdempotencyKey, command_request, path_id};
use crate::commands::{AddBlackout, Command, CreateResource, RemoveBlackout, UpdateResource};
use crate::error::CommandError;
use crate::reply::Reply;
use crate::runner::{self, CommandRequest};

/// What a command handler starts from: the shared state, the caller (its roles already checked
/// by the route's layer) and the request's headers.
pub struct Commander {
    state: AppState,
    pub actor: Actor,
    headers: HeaderMap,
}

impl FromRequestParts<AppState> for Commander {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        Ok(Self {
            actor: Actor::from_request_parts(parts, state).await?,
            state: state.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl Commander {
    /// The command's request context for `method_and_path` with `body` (what an
    /// `Idempotency-Key` is checked against). Build it before the command, so a malformed key
    /// is refused before anything in the body is judged.
    pub fn request(
        &self,
        method_and_path: &str,
        body: &impl Serialize,
    ) -> Result<CommandRequest, Problem> {
        command_request(&self.actor, &self.headers, method_and_path, body)
    }

    /// The version `If-Match` names (see [`if_match`]).
    pub fn if_match(&self) -> Result<i64, Problem> {
        if_match(&self.headers)
    }

    /// Runs `command` and answers with what it did (or why it refused). A booking's personal
    /// data, sealed in the answer as stored, is opened for the caller (see `crate::personal`).
    pub async fn run(
        &self,
        request: &CommandRequest,
        command: impl Command,
    ) -> Result<Reply, Problem> {
        let mut reply = runner::run(&self.state.pool, &self.state.wake, request, &command)
            .await
            .map_err(CommandError::into_problem)?;
        crate::personal::open_answer(&self.state.pool, &self.actor.tenant, &mut reply.body)
            .await
            .map_err(CommandError::into_problem)?;
        Ok(reply)
    }
}

/// `/v1/resources/{id}…`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ResourcePath {
    /// The resource.
    #[param(value_type = uuid::Uuid)]
    id: String,
}

impl ResourcePath {
    fn id(&self) -> Result<ResourceId, Problem> {
        resource_id(&self.id)
    }
}

/// Anything but a UUID names no resource: `404`.
fn resource_id(raw: &str) -> Result<ResourceId, Problem> {
    path_id(raw, ErrorCode::ResourceNotFound).map(ResourceId)
}

/// `/v1/resources/{id}/blackouts/{blackout_id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BlackoutPath {
    /// The resource.
    #[param(value_type = uuid::Uuid)]
    id: String,
    /// The blackout.
    #[param(value_type = uuid::Uuid)]
    blackout_id: String,
}

impl BlackoutPath {
    /// The resource's `404` comes before the blackout's.
    fn ids(&self) -> Result<(ResourceId, BlackoutId), Problem> {
        let resource_id = resource_id(&self.id)?;
        let blackout_id = path_id(&self.blackout_id, ErrorCode::BlackoutNotFound)?;
        Ok((resource_id, BlackoutId(blackout_id)))
    }
}

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
    cx: Commander,
    ApiJson(body): ApiJson<requests::CreateResource>,
) -> Result<Reply, Problem> {
    let request = cx.request("POST /v1/resources", &body)?;
    let command = CreateResource {
        id: body.id.map_or_else(ResourceId::generate, ResourceId),
        spec: ResourceSpec {
            name: body.name,
            kind: body.kind,
            capacity: body.capacity,
            time_zone: body.time_zone,
            opening_hours: body.opening_hours,
            policy: body.policy,
            attributes: Attributes::new(body.attributes),
            archived: false,
        },
    };
    cx.run(&request, command).await
}

/// `If-Match: 3`, `"3"` or `W/"3"`: the version of the resource or service being changed,
/// required from v1.1 on (`428 precondition_required`).
fn if_match(headers: &HeaderMap) -> Result<i64, Problem> {
    let Some(value) = headers.get("if-match") else {
        return Err(Problem::new(
            ErrorCode::PreconditionRequired,
            "send the version you read (e.g. \"3\") as If-Match",
        ));
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Problem::malformed("If-Match must be a version, e.g. \"3\""))
}

problems!(
    UpdateProblems = [
        ResourceNotFound,
        VersionConflict,
        PreconditionRequired,
        CapacityInUse
    ] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Changes a resource's name, capacity, opening hours, policy or attributes, or archives or
/// restores it (`{"archived": true|false}`).
#[utoipa::path(
    patch,
    path = "/v1/resources/{id}",
    operation_id = "update_resource",
    tag = "resources",
    params(
        ResourcePath,
        ("If-Match" = String, Header,
            description = "The version the change is for (`3`, `\"3\"` or `W/\"3\"`); \
                another is `412 version_conflict`, none `428 precondition_required`."),
        IdempotencyKey,
    ),
    request_body = requests::UpdateResource,
    responses(
        (status = 200, description = "Changed", body = Written<ResourceAnswer>),
        UpdateProblems,
    ),
)]
pub async fn update(
    cx: Commander,
    ApiPath(path): ApiPath<ResourcePath>,
    ApiJson(body): ApiJson<requests::UpdateResource>,
) -> Result<Reply, Problem> {
    let id = path.id()?;
    let if_match = cx.if_match()?;
    let request = cx.request(&format!("PATCH /v1/resources/{id} {if_match}"), &body)?;
    let command = UpdateResource {
        id,
        if_match,
        changes: ResourceChanges {
            name: body.name,
            capacity: body.capacity,
            opening_hours: body.opening_hours,
            policy: body.policy,
            attributes: body.attributes.map(Attributes::new),
            archived: body.archived,
        },
    };
    cx.run(&request, command).await
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
    params(ResourcePath, IdempotencyKey),
    request_body = requests::AddBlackout,
    responses(
        (status = 201, description = "Added", body = Written<BlackoutAnswer>),
        AddBlackoutProblems,
    ),
)]
pub async fn add_blackout(
    cx: Commander,
    ApiPath(path): ApiPath<ResourcePath>,
    ApiJson(body): ApiJson<requests::AddBlackout>,
) -> Result<Reply, Problem> {
    let resource_id = path.id()?;
    let request = cx.request(
        &format!("POST /v1/resources/{resource_id}/blackouts"),
        &body,
    )?;
    let command = AddBlackout {
        resource_id,
        blackout_id: body.id.map_or_else(BlackoutId::generate, BlackoutId),
        period: period(body.start, body.end)?,
        reason: body.reason,
    };
    cx.run(&request, command).await
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
    params(BlackoutPath, IdempotencyKey),
    responses(
        (status = 200, description = "Removed", body = Written<Nothing>),
        RemoveBlackoutProblems,
    ),
)]
pub async fn remove_blackout(
    cx: Commander,
    ApiPath(path): ApiPath<BlackoutPath>,
) -> Result<Reply, Problem> {
    let (resource_id, blackout_id) = path.ids()?;
    let path = format!("DELETE /v1/resources/{resource_id}/blackouts/{blackout_id}");
    let request = cx.request(&path, &())?;
    let command = RemoveBlackout {
        resource_id,
        blackout_id,
    };
    cx.run(&request, command).await
}
