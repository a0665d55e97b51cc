//! `/v1/services`: create, change and retire services (admin only).

use api::requests;
use api::views::{ServiceAnswer, Written};
use api::{ErrorCode, problems};
use domain::ids::{ResourceId, ServiceId};
use domain::service::{ServiceChanges, ServiceSpec};
use platform::Problem;
use platform::json::ApiJson;
use platform::path::ApiPath;
use serde::Deserialize;
use utoipa::IntoParams;

use super::resources::Commander;
use super::{IdempotencyKey, path_id};
use crate::commands::{CreateService, UpdateService};
use crate::reply::Reply;

/// `/v1/services/{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ServicePath {
    /// The service.
    #[param(value_type = uuid::Uuid)]
    id: String,
}

fn resource_ids(ids: Vec<uuid::Uuid>) -> Vec<ResourceId> {
    ids.into_iter().map(ResourceId).collect()
}

problems!(
    CreateProblems = [AlreadyExists] + AUTHENTICATED,
    COMMAND,
    JSON_BODY
);

/// Creates a service: a duration, a price and buffers, offered on some resources.
#[utoipa::path(
    post,
    path = "/v1/services",
    operation_id = "create_service",
    tag = "services",
    params(IdempotencyKey),
    request_body = requests::CreateService,
    responses(
        (status = 201, description = "Created", body = Written<ServiceAnswer>),
        CreateProblems,
    ),
)]
pub async fn create(
    cx: Commander,
    ApiJson(body): ApiJson<requests::CreateService>,
) -> Result<Reply, Problem> {
    let request = cx.request("POST /v1/services", &body)?;
    let command = CreateService {
        id: body.id.map_or_else(ServiceId::generate, ServiceId),
        spec: ServiceSpec {
            name: body.name,
            duration_minutes: body.duration_minutes,
            price: body.price,
            buffer_before_minutes: body.buffer_before_minutes,
            buffer_after_minutes: body.buffer_after_minutes,
            resource_ids: resource_ids(body.resource_ids),
            resource_kind: body.resource_kind,
            archived: false,
        },
    };
    cx.run(&request, command).await
}

problems!(
    UpdateProblems = [ServiceNotFound, VersionConflict, PreconditionRequired] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Changes a service, or retires or restores it (`{"archived": true|false}`). Bookings already
/// placed keep the price and period they were placed with.
#[utoipa::path(
    patch,
    path = "/v1/services/{id}",
    operation_id = "update_service",
    tag = "services",
    params(
        ServicePath,
        ("If-Match" = String, Header,
            description = "The version the change is for (`3`, `\"3\"` or `W/\"3\"`); \
                another is `412 version_conflict`, none `428 precondition_required`."),
        IdempotencyKey,
    ),
    request_body = requests::UpdateService,
    responses(
        (status = 200, description = "Changed", body = Written<ServiceAnswer>),
        UpdateProblems,
    ),
)]
pub async fn update(
    cx: Commander,
    ApiPath(path): ApiPath<ServicePath>,
    ApiJson(body): ApiJson<requests::UpdateService>,
) -> Result<Reply, Problem> {
    let id = ServiceId(path_id(&path.id, ErrorCode::ServiceNotFound)?);
    let if_match = cx.if_match()?;
    let request = cx.request(&format!("PATCH /v1/services/{id} {if_match}"), &body)?;
    let command = UpdateService {
        id,
        if_match,
        changes: ServiceChanges {
            name: body.name,
            duration_minutes: body.duration_minutes,
            price: body.price,
            buffer_before_minutes: body.buffer_before_minutes,
            buffer_after_minutes: body.buffer_after_minutes,
            resource_ids: body.resource_ids.map(resource_ids),
            resource_kind: body.resource_kind,
            archived: body.archived,
        },
    };
    cx.run(&request, command).await
}
