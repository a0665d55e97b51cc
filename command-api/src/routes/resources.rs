//! `/v1/resources`: create and change resources and their blackouts (admin only).

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::Period;
use domain::hours::OpeningHours;
use domain::ids::{BlackoutId, ResourceId};
use domain::resource::{Policy, ResourceChanges, ResourceSpec};
use platform::Problem;
use platform::auth::Actor;
use platform::json::ApiJson;
use platform::path::ApiPath;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{AppState, command_request, path_id, utc_instant};
use crate::commands::{self, resources};
use crate::error::CommandError;
use crate::views::Reply;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateResourceBody {
    id: Option<Uuid>,
    name: String,
    kind: String,
    #[serde(default = "one")]
    capacity: u32,
    time_zone: Tz,
    #[serde(default)]
    opening_hours: Option<OpeningHours>,
    #[serde(default)]
    policy: Policy,
}

fn one() -> u32 {
    1
}

pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateResourceBody>,
) -> Result<Reply, Problem> {
    let id = body.id.map_or_else(ResourceId::generate, ResourceId);
    let request = command_request(&actor, &headers, vec![id.0], "POST /v1/resources", &body)?;
    let input = resources::CreateResource {
        id,
        spec: ResourceSpec {
            name: body.name,
            kind: body.kind,
            capacity: body.capacity,
            time_zone: body.time_zone,
            opening_hours: body.opening_hours,
            policy: body.policy,
        },
    };
    commands::run(&state.pool, &state.wake, &request, &input, |c, m, i| {
        Box::pin(resources::create(c, m, i))
    })
    .await
    .map_err(CommandError::into_problem)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateResourceBody {
    name: Option<String>,
    capacity: Option<u32>,
    /// Absent: unchanged; `null`: open around the clock.
    #[serde(default, deserialize_with = "present")]
    opening_hours: Option<Option<OpeningHours>>,
    policy: Option<Map<String, Value>>,
}

/// Tells a field that is present (even as `null`) from one that is absent.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
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

pub async fn update(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateResourceBody>,
) -> Result<Reply, Problem> {
    let id = ResourceId(path_id(&id, "resource_not_found")?);
    let if_match = if_match(&headers)?;
    let path = format!("PATCH /v1/resources/{id} {if_match:?}");
    let request = command_request(&actor, &headers, vec![id.0], &path, &body)?;
    let input = resources::UpdateResource {
        id,
        if_match,
        changes: ResourceChanges {
            name: body.name,
            capacity: body.capacity,
            opening_hours: body.opening_hours,
            policy: body.policy,
        },
    };
    commands::run(&state.pool, &state.wake, &request, &input, |c, m, i| {
        Box::pin(resources::update(c, m, i))
    })
    .await
    .map_err(CommandError::into_problem)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackoutBody {
    id: Option<Uuid>,
    #[serde(deserialize_with = "utc_instant")]
    start: DateTime<Utc>,
    #[serde(deserialize_with = "utc_instant")]
    end: DateTime<Utc>,
    #[serde(default)]
    reason: String,
}

/// `422 invalid_period` for `end <= start`.
pub fn period(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Period, Problem> {
    Period::new(start, end).map_err(|_| {
        Problem::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
            "Invalid period",
            "end must be after start",
        )
    })
}

pub async fn add_blackout(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BlackoutBody>,
) -> Result<Reply, Problem> {
    let resource_id = ResourceId(path_id(&id, "resource_not_found")?);
    let path = format!("POST /v1/resources/{resource_id}/blackouts");
    let request = command_request(&actor, &headers, vec![resource_id.0], &path, &body)?;
    let input = resources::AddBlackout {
        resource_id,
        blackout_id: body.id.map_or_else(BlackoutId::generate, BlackoutId),
        period: period(body.start, body.end)?,
        reason: body.reason,
    };
    commands::run(&state.pool, &state.wake, &request, &input, |c, m, i| {
        Box::pin(resources::add_blackout(c, m, i))
    })
    .await
    .map_err(CommandError::into_problem)
}

pub async fn remove_blackout(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((id, blackout_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Reply, Problem> {
    let resource_id = ResourceId(path_id(&id, "resource_not_found")?);
    let blackout_id = BlackoutId(path_id(&blackout_id, "blackout_not_found")?);
    let path = format!("DELETE /v1/resources/{resource_id}/blackouts/{blackout_id}");
    let request = command_request(&actor, &headers, vec![resource_id.0], &path, &())?;
    let input = resources::RemoveBlackout {
        resource_id,
        blackout_id,
    };
    commands::run(&state.pool, &state.wake, &request, &input, |c, m, i| {
        Box::pin(resources::remove_blackout(c, m, i))
    })
    .await
    .map_err(CommandError::into_problem)
}
