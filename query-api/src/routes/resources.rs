//! `GET /v1/resources` (keyset-paginated, optionally by kind) and `GET /v1/resources/{id}`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use domain::ids::ResourceId;
use platform::Problem;
use platform::auth::Actor;
use platform::path::ApiPath;
use readmodel::projections::Projection;

use super::{AppState, path_id, read_after};
use crate::cursor;
use crate::error::resource_not_found;
use crate::params::{self, Filter, MinPosition, Paging, QueryParams};
use crate::store::resources::{self as store, ResourceList};
use api::views::ResourceView;

use crate::views::Page;

api::problems!(
    ListProblems = [InvalidCursor, InvalidFilter] + AUTHENTICATED,
    QUERY
);
api::problems!(
    GetProblems = [ResourceNotFound] + AUTHENTICATED,
    PATH,
    QUERY
);

/// The tenant's resources that match the filter (by default only active ones), by id.
#[utoipa::path(
    get,
    path = "/v1/resources",
    tag = "resources",
    operation_id = "list_resources",
    params(Filter, Paging, MinPosition),
    responses(
        (status = 200, description = "A page of resources", body = Page<ResourceView>),
        ListProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let filter = query.take_filter()?;
    let limit = query
        .parse("limit", params::limit)?
        .unwrap_or(params::DEFAULT_LIMIT);
    let after = query.parse("cursor", cursor::parse_resource)?;
    read_after(&state, query, &[Projection::Resources]).await?;
    let list = ResourceList {
        tenant: actor.tenant,
        filter,
        after,
        // One more than asked tells whether there is a next page.
        limit: limit + 1,
    };
    let resources = store::list(&state.pool, &list).await?;
    let page = Page::of(
        resources,
        limit,
        |r| cursor::resource(r.id),
        |r| ResourceView::from(r),
    );
    Ok(Json(page).into_response())
}

/// A resource.
#[utoipa::path(
    get,
    path = "/v1/resources/{id}",
    tag = "resources",
    operation_id = "get_resource",
    params(("id" = uuid::Uuid, Path, description = "The resource."), MinPosition),
    responses((status = 200, description = "The resource", body = ResourceView), GetProblems),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant, resource.id = %id))]
pub async fn get(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    query: QueryParams,
) -> Result<Response, Problem> {
    let id = path_id(&id, resource_not_found)?;
    read_after(&state, query, &[Projection::Resources]).await?;
    let resource = store::get(&state.pool, &actor.tenant, ResourceId(id))
        .await?
        .ok_or_else(resource_not_found)?;
    Ok(Json(ResourceView::from(&resource)).into_response())
}
