//! `GET /v1/services` (keyset-paginated by id) and `GET /v1/services/{id}`.

use api::views::ServiceView;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use domain::ids::ServiceId;
use platform::Problem;
use platform::auth::Actor;
use platform::path::ApiPath;
use readmodel::projections::Projection;

use super::{AppState, path_id, read_after};
use crate::cursor;
use crate::error::service_not_found;
use crate::params::{self, MinPosition, Paging, QueryParams};
use crate::store::services as store;
use crate::views::Page;

api::problems!(ListProblems = [InvalidCursor] + AUTHENTICATED, QUERY);
api::problems!(GetProblems = [ServiceNotFound] + AUTHENTICATED, PATH, QUERY);

/// The tenant's services (archived ones too), by id.
#[utoipa::path(
    get,
    path = "/v1/services",
    tag = "services",
    operation_id = "list_services",
    params(Paging, MinPosition),
    responses(
        (status = 200, description = "A page of services", body = Page<ServiceView>),
        ListProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let limit = query
        .parse("limit", params::limit)?
        .unwrap_or(params::DEFAULT_LIMIT);
    let after = query.parse("cursor", cursor::parse_service)?;
    read_after(&state, query, &[Projection::Resources]).await?;
    let services = store::list(&state.pool, &actor.tenant, after, limit + 1).await?;
    let page = Page::of(
        services,
        limit,
        |s| cursor::service(s.id),
        |s| ServiceView::from(s),
    );
    Ok(Json(page).into_response())
}

/// A service.
#[utoipa::path(
    get,
    path = "/v1/services/{id}",
    tag = "services",
    operation_id = "get_service",
    params(("id" = uuid::Uuid, Path, description = "The service."), MinPosition),
    responses((status = 200, description = "The service", body = ServiceView), GetProblems),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant, service.id = %id))]
pub async fn get(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    query: QueryParams,
) -> Result<Response, Problem> {
    let id = path_id(&id, service_not_found)?;
    read_after(&state, query, &[Projection::Resources]).await?;
    let service = store::get(&state.pool, &actor.tenant, ServiceId(id))
        .await?
        .ok_or_else(service_not_found)?;
    Ok(Json(ServiceView::from(&service)).into_response())
}
