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
use crate::params::{self, MinPosition, Paging, QueryParams};
use crate::store::resources::{self as store, ResourceFilter};
use api::views::ResourceView;

use crate::views::Page;

/// `kind` of `GET /v1/resources`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes what the handler parses by hand (`QueryParams`)"
)]
struct KindFilter {
    /// Only resources of this kind.
    kind: Option<String>,
}

api::problems!(ListProblems = [InvalidCursor] + AUTHENTICATED, QUERY);
api::problems!(
    GetProblems = [ResourceNotFound] + AUTHENTICATED,
    PATH,
    QUERY
);

/// The tenant's resources, by id.
#[utoipa::path(
    get,
    path = "/v1/resources",
    tag = "resources",
    operation_id = "list_resources",
    params(KindFilter, Paging, MinPosition),
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
    let kind = query.take("kind")?;
    let limit = query
        .parse("limit", params::limit)?
        .unwrap_or(params::DEFAULT_LIMIT);
    let after = query.parse("cursor", cursor::parse_resource)?;
    read_after(&state, query, &[Projection::Resources]).await?;
    let filter = ResourceFilter {
        tenant: actor.tenant,
        kind,
        after,
        // One more than asked tells whether there is a next page.
        limit: limit + 1,
    };
    let mut resources = store::list(&state.pool, &filter).await?;
    let more = resources.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    resources.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| resources.last().map(|r| cursor::resource(r.id)))
        .flatten();
    Ok(Json(Page {
        items: resources.iter().map(ResourceView::from).collect(),
        next_cursor,
    })
    .into_response())
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
