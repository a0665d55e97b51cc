//! `GET /v1/resources` (keyset-paginated, optionally by kind) and `GET /v1/resources/{id}`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use platform::Problem;
use platform::auth::Actor;
use platform::path::ApiPath;
use readmodel::projections::Projection;

use super::{AppState, READERS, path_id};
use crate::cursor;
use crate::error::resource_not_found;
use crate::params::{self, QueryParams};
use crate::store::resources::{self as store, ResourceFilter};
use api::views::ResourceView;

use crate::views::Page;

#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    actor.require_any(READERS)?;
    let kind = query.take("kind")?;
    let limit = query
        .parse("limit", params::limit)?
        .unwrap_or(params::DEFAULT_LIMIT);
    let after = query.parse("cursor", cursor::parse_resource)?;
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
    state
        .freshness
        .wait(&state.pool, &[Projection::Resources], min_position)
        .await?;
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
        .then(|| resources.last().map(|r| cursor::resource(r.id.0)))
        .flatten();
    Ok(Json(Page {
        items: resources.iter().map(ResourceView::from).collect(),
        next_cursor,
    })
    .into_response())
}

#[tracing::instrument(skip_all, fields(tenant = %actor.tenant, resource.id = %id))]
pub async fn get(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    actor.require_any(READERS)?;
    let id = path_id(&id, resource_not_found)?;
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
    state
        .freshness
        .wait(&state.pool, &[Projection::Resources], min_position)
        .await?;
    let resource = store::get(&state.pool, &actor.tenant, id)
        .await?
        .ok_or_else(resource_not_found)?;
    Ok(Json(ResourceView::from(&resource)).into_response())
}
