//! Availability: `GET /v1/resources/{id}/availability` and `GET /v1/availability` (rendered
//! answers kept in process, else through the cache tiers; with `X-Cache: hit|miss`), and
//! `POST /v1/availability/check` (the live guard).

use api::ErrorCode;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use api::code::Coded;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use domain::Period;
use domain::booking::check_period;
use domain::ids::{ResourceId, ServiceId, TenantId};
use domain::resource::Resource;
use domain::service::Service;
use eventstore::Position;
use futures::{StreamExt, TryStreamExt};
use platform::Problem;
use platform::auth::Actor;
use platform::json::ApiJson;
use platform::path::ApiPath;
use readmodel::cache::ResourceDay;
use readmodel::projections::Projection;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AppState, path_id};
use crate::availability::{self, SlotRequest};
use crate::cache::CachedResource;
use crate::cache::{Answer, AnswerKey, Rendered, Stamp};
use crate::cache::{CachedDay, DayLookup};
use crate::compute::Job;
use crate::consistency::Gate;
use crate::error::resource_not_found;
use crate::params::{self, Bound, MinPosition, QueryParams};
use crate::store::StoreError;
use crate::store::guard::{self, Probe};
use crate::views::{AvailabilityView, CheckView, Items};

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// The most resources one `GET /v1/availability` and items one check may name.
pub const MAX_BATCH: usize = 100;

/// How many days of one resource are fetched at once, and resources of a batch.
const DAYS_IN_FLIGHT: usize = 8;
const RESOURCES_IN_FLIGHT: usize = 4;

/// The longest slot one may ask for (the policy's own limit).
const MAX_DURATION_MINUTES: u32 = 366 * 1440;

/// The parameters both availability reads share.
struct Request {
    from: Bound,
    to: Bound,
    slots: Option<SlotRequest>,
    /// `(duration_minutes, quantity)` as asked, when a duration was.
    asked_slots: Option<(u32, u32)>,
    min_position: Option<Position>,
    quantity: u32,
    /// Slots for this service (see [`Request::take_service`]).
    service: Option<ServiceId>,
}

impl Request {
    fn take(query: &mut QueryParams) -> Result<Self, Problem> {
        let required = |name: &'static str| Problem::invalid_field(name, "is required");
        let from = query
            .parse("from", params::bound)?
            .ok_or_else(|| required("from"))?;
        let to = query
            .parse("to", params::bound)?
            .ok_or_else(|| required("to"))?;
        let duration = query.parse(
            "duration_minutes",
            params::number_in(1..=MAX_DURATION_MINUTES),
        )?;
        let quantity = query
            .parse(
                "quantity",
                params::number_in(1..=domain::resource::MAX_CAPACITY),
            )?
            .unwrap_or(1);
        let min_position = query.parse("min_position", params::position)?;
        Ok(Self {
            from,
            to,
            slots: duration
                .map(|minutes| SlotRequest::plain(Duration::minutes(i64::from(minutes)), quantity)),
            asked_slots: duration.map(|minutes| (minutes, quantity)),
            min_position,
            quantity,
            service: None,
        })
    }

    /// `service_id` (only for one resource): slots of that service, never cached as answers
    /// (no answer cache follows services).
    fn take_service(&mut self, query: &mut QueryParams) -> Result<(), Problem> {
        self.service = query.parse("service_id", |name, raw| {
            Uuid::parse_str(raw).map(ServiceId).map_err(|_| {
                Problem::new(
                    ErrorCode::ServiceNotFound,
                    format!("{name}: no service with this id"),
                )
            })
        })?;
        if self.service.is_some() && self.asked_slots.is_some() {
            return Err(Problem::invalid_field(
                "duration_minutes",
                "must be absent with service_id: the service's duration is used",
            ));
        }
        Ok(())
    }

    /// The slots of `service` on `resource`: `422 service_not_offered` where it is not.
    fn for_service(&mut self, service: &Service, resource: &Resource) -> Result<(), Problem> {
        if !service.offered_on(resource) {
            return Err(Problem::new(
                ErrorCode::ServiceNotOffered,
                "the service is not offered on this resource (or it is archived)",
            ));
        }
        let minutes = |m: u32| Duration::minutes(i64::from(m));
        self.slots = Some(SlotRequest {
            duration: service.spec.duration(),
            quantity: self.quantity,
            buffer_before: minutes(service.spec.buffer_before_minutes),
            buffer_after: minutes(service.spec.buffer_after_minutes),
        });
        Ok(())
    }

    /// The key of this request's answer about `resource`.
    fn key<'a>(&self, tenant: &'a TenantId, resource: ResourceId) -> AnswerKey<&'a TenantId> {
        AnswerKey {
            tenant,
            resource,
            from: self.from,
            to: self.to,
            slots: self.asked_slots,
        }
    }
}

/// The window and slots both availability reads take (parsed by [`Request::take`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes what the handler parses by hand (`QueryParams`)"
)]
struct Window {
    /// An instant, or a local date in the resource's time zone (its start).
    #[param(inline)]
    from: Bound,
    /// An instant, or a local date in the resource's time zone (that whole day is included);
    /// at most 62 days after `from`.
    #[param(inline)]
    to: Bound,
    /// The slots' length; without it the answer has no `slots`.
    #[param(minimum = 1, maximum = 527040)]
    duration_minutes: Option<u32>,
    /// The units each slot must have free.
    #[param(minimum = 1, maximum = 10000, default = 1)]
    quantity: Option<u32>,
}

/// `resource_ids` of `GET /v1/availability`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes what the handler parses by hand (`QueryParams`)"
)]
struct ResourceIds {
    /// 1 to 100 resources, separated by commas (repeats count once).
    #[param(style = Form, explode = false, min_items = 1, max_items = 100)]
    resource_ids: Vec<Uuid>,
}

api::problems!(
    OneProblems = [
        ResourceNotFound,
        ServiceNotFound,
        ServiceNotOffered,
        InvalidPeriod,
        WindowTooLarge,
        TooMuchWork
    ] + AUTHENTICATED,
    PATH,
    QUERY
);

api::problems!(
    ManyProblems = [ResourceNotFound, InvalidPeriod, WindowTooLarge, TooMuchWork] + AUTHENTICATED,
    QUERY
);

api::problems!(CheckProblems = [] + AUTHENTICATED, JSON_BODY);

/// A JSON answer from its rendered body.
fn json_answer(body: Bytes, hit: bool) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        X_CACHE,
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    response
}

/// `{"items":[…]}` around rendered answers: the bytes `Json(Items { items })` would make.
fn json_items(bodies: Vec<Bytes>, hit: bool) -> Response {
    const OPEN: &[u8] = b"{\"items\":[";
    const CLOSE: &[u8] = b"]}";
    let length = OPEN.len() + CLOSE.len() + bodies.iter().map(|b| b.len() + 1).sum::<usize>();
    let mut body = Vec::with_capacity(length);
    body.extend_from_slice(OPEN);
    for (index, answer) in bodies.iter().enumerate() {
        if index > 0 {
            body.extend_from_slice(b",");
        }
        body.extend_from_slice(answer);
    }
    body.extend_from_slice(CLOSE);
    json_answer(Bytes::from(body), hit)
}

// A rendered answer is served before any span is made: nothing on that path logs, and the
// span's fields would be formatted on every read for nothing. The work behind a miss has its
// span (`one_made`, `many_made`).
/// One resource's free time over a window, and its bookable slots when `duration_minutes` is
/// given.
#[utoipa::path(
    get,
    path = "/v1/resources/{id}/availability",
    tag = "availability",
    operation_id = "resource_availability",
    params(("id" = Uuid, Path, description = "The resource."), Window, params::ForService, MinPosition),
    responses(
        (status = 200, description = "The resource's availability", body = AvailabilityView,
            headers(("X-Cache" = String, description = "`hit` when every day came from a cache, else `miss`."))),
        OneProblems,
    ),
)]
pub async fn one(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let id = path_id(&id, resource_not_found)?;
    let mut request = Request::take(&mut query)?;
    request.take_service(&mut query)?;
    query.finish()?;
    let key = request.key(&actor.tenant, ResourceId(id));
    if request.service.is_none()
        && let Some(answer) = state.answers.get(&key, request.min_position).await
    {
        return Ok(json_answer(answer.body, true));
    }
    one_made(&state, &key, request).await
}

/// One resource's answer when no rendered one would do.
#[tracing::instrument(skip_all, fields(tenant = %key.tenant, resource.id = %key.resource))]
async fn one_made(
    state: &AppState,
    key: &AnswerKey<&TenantId>,
    mut request: Request,
) -> Result<Response, Problem> {
    // Read before anything the answer is made from (see `cache::answers`).
    let stamp = state.answers.stamp(key.resource);
    let gate = state.freshness.gate(&state.pool, request.min_position);
    let row = resource_rows(state, &gate, key.tenant, &[key.resource])
        .await?
        .into_iter()
        .next()
        .ok_or_else(resource_not_found)?;
    // The resources projection (which keeps services) has reached the gate by now.
    if let (Some(id), Some(resource)) = (request.service, row.resource.as_ref()) {
        let service = crate::store::services::get(&state.pool, key.tenant, id)
            .await?
            .ok_or_else(crate::error::service_not_found)?;
        request.for_service(&service, resource)?;
    }
    let job = state.compute.job();
    let made = Made {
        gate: &gate,
        job: &job,
        now: Utc::now(),
    };
    let (body, hit) = answer(state, &made, key, row, stamp, &request).await?;
    Ok(json_answer(body, hit))
}

/// The availability of up to 100 resources over one window, in the order asked.
#[utoipa::path(
    get,
    path = "/v1/availability",
    tag = "availability",
    operation_id = "availability",
    params(ResourceIds, Window, MinPosition),
    responses(
        (status = 200, description = "Each resource's availability", body = Items<AvailabilityView>,
            headers(("X-Cache" = String, description = "`hit` when every day came from a cache, else `miss`."))),
        ManyProblems,
    ),
)]
pub async fn many(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let ids = query
        .parse("resource_ids", resource_ids)?
        .ok_or_else(|| Problem::invalid_field("resource_ids", "is required"))?;
    let request = Request::take(&mut query)?;
    query.finish()?;
    let keys: Vec<AnswerKey<&TenantId>> = ids
        .iter()
        .map(|id| request.key(&actor.tenant, *id))
        .collect();
    let mut cached = Vec::with_capacity(ids.len());
    for key in &keys {
        cached.push(state.answers.get(key, request.min_position).await);
    }
    if cached.iter().all(Option::is_some) {
        let bodies = cached.into_iter().flatten().map(|a| a.body).collect();
        return Ok(json_items(bodies, true));
    }
    many_made(&state, &actor.tenant, &ids, &keys, cached, &request).await
}

/// Several resources' answers when some rendered ones (`cached`, by index) would not do.
#[tracing::instrument(skip_all, fields(tenant = %tenant))]
async fn many_made(
    state: &AppState,
    tenant: &TenantId,
    ids: &[ResourceId],
    keys: &[AnswerKey<&TenantId>],
    cached: Vec<Option<Answer>>,
    request: &Request,
) -> Result<Response, Problem> {
    // Read before anything the answers are made from (see `cache::answers`).
    let stamps: Vec<Stamp> = ids.iter().map(|id| state.answers.stamp(*id)).collect();
    let gate = state.freshness.gate(&state.pool, request.min_position);
    let found = resource_rows(state, &gate, tenant, ids).await?;
    for (id, found) in ids.iter().zip(&found) {
        if found.resource.is_none() {
            return Err(Problem::new(
                ErrorCode::ResourceNotFound,
                format!("no resource with id {id}"),
            ));
        }
    }
    // One budget for the whole batch.
    let job = state.compute.job();
    let made = &Made {
        gate: &gate,
        job: &job,
        now: Utc::now(),
    };
    // The futures are made first (not in the stream's closure), which keeps the handler's
    // future `Send` for axum.
    let answers: Vec<_> = found
        .into_iter()
        .zip(keys)
        .zip(stamps)
        .zip(cached)
        .map(|(((row, key), stamp), cached)| async move {
            match cached {
                Some(answer) => Ok((answer.body, true)),
                None => answer(state, made, key, row, stamp, request).await,
            }
        })
        .collect();
    let answers: Vec<(Bytes, bool)> = futures::stream::iter(answers)
        .buffered(RESOURCES_IN_FLIGHT)
        .try_collect()
        .await?;
    let hit = answers.iter().all(|(_, hit)| *hit);
    let bodies = answers.into_iter().map(|(body, _)| body).collect();
    Ok(json_items(bodies, hit))
}

/// `resource_ids=a,b,…`: 1 to [`MAX_BATCH`] UUIDs, duplicates dropped.
fn resource_ids(name: &'static str, value: &str) -> Result<Vec<ResourceId>, Problem> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = ResourceId(params::uuid(name, part)?);
        if seen.insert(id) {
            ids.push(id);
        }
    }
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(Problem::invalid_field(
            name,
            format!("must name 1 to {MAX_BATCH} resources, separated by commas"),
        ));
    }
    Ok(ids)
}

/// The rows of `ids`, in that order (`resource: None` for an unknown id), from the resource
/// cache. With `min_position`, rows cached at or past it are used as they are; only when one
/// must be loaded does the request wait for the resources projection first.
async fn resource_rows(
    state: &AppState,
    gate: &Gate<'_>,
    tenant: &TenantId,
    ids: &[ResourceId],
) -> Result<Vec<CachedResource>, Problem> {
    let min = gate.min();
    if min.is_some()
        && let Some(found) = state.resources.cached(tenant, ids, min).await
    {
        return Ok(found);
    }
    gate.reached(Projection::Resources).await?;
    state
        .resources
        .get_many(tenant, ids, min)
        .await
        .map_err(|err| Problem::from(&*err))
}

/// What the answers of one request share: its read-your-writes waits, its computing budget
/// (dropped with the request, which cancels what it still computes) and its clock.
struct Made<'a> {
    gate: &'a Gate<'a>,
    job: &'a Job,
    now: DateTime<Utc>,
}

/// One resource's answer (`row`, read after `stamp` was), rendered and kept for later reads of
/// `key`, and whether every day came from a cache.
async fn answer(
    state: &AppState,
    made: &Made<'_>,
    key: &AnswerKey<&TenantId>,
    row: CachedResource,
    stamp: Stamp,
    request: &Request,
) -> Result<(Bytes, bool), Problem> {
    let (gate, now) = (made.gate, made.now);
    let resource = row.resource.ok_or_else(resource_not_found)?;
    let tz = resource.spec.time_zone;
    let id = resource.id;
    let window = availability::window(tz, request.from, request.to)?;
    let needed = availability::days_needed(tz, window);
    let min = request.min_position;
    // With `min_position`, days in L1 at or past it need no look at the checkpoints.
    let cached = match min {
        Some(_) => state.cache.cached_days(key.tenant, id, &needed, min).await,
        None => None,
    };
    let days: Vec<CachedDay> = match cached {
        Some(days) => days,
        None => {
            gate.reached(Projection::Bookings).await?;
            futures::stream::iter(needed)
                .map(|date| {
                    let lookup = DayLookup {
                        day: ResourceDay {
                            tenant: key.tenant.clone(),
                            resource: id,
                            date,
                        },
                        tz,
                        min,
                    };
                    async move { state.cache.day(&lookup).await }
                })
                .buffered(DAYS_IN_FLIGHT)
                .try_collect()
                .await
                .map_err(|err: Arc<StoreError>| Problem::from(&*err))?
        }
    };
    let hit = days.iter().all(|day| day.tier.is_hit());
    let position = days
        .iter()
        .map(|day| day.position)
        .min()
        .unwrap_or(Position::START);
    let oldest_input = days
        .iter()
        .map(|day| day.loaded_at)
        .fold(row.loaded_at, Instant::min);
    let busy: Vec<_> = days
        .iter()
        .flat_map(|day| day.entry.busy.iter().copied())
        .collect();
    // Slots over a long window of a large resource are real CPU work: off the async workers,
    // within the process's limit and the request's budget.
    let slot_request = request.slots;
    let (resource, computed) = made
        .job
        .run(move |meter| {
            let computed =
                availability::compute(&resource, window, busy, slot_request, now, meter)?;
            Ok((resource, computed))
        })
        .await?;
    let view = AvailabilityView {
        resource_id: id.0,
        time_zone: resource.spec.time_zone.name(),
        from: window.start(),
        to: window.end(),
        position,
        free: computed.free,
        slots: computed.slots,
    };
    let mut body = serde_json::to_vec(&view).map_err(|err| {
        tracing::error!(error = %err, "an availability answer did not serialize");
        Problem::internal()
    })?;
    // Kept for a while and weighed by its length: no spare capacity.
    body.shrink_to_fit();
    let body = Bytes::from(body);
    let rendered = Rendered {
        body: body.clone(),
        fresh_at: position.min(row.position),
        stamp,
        oldest_input,
        stable_until: computed.stable_until,
    };
    if request.service.is_none() {
        state.answers.insert(key, rendered).await;
    }
    Ok((body, hit))
}

/// `POST /v1/availability/check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// At most 100.
    #[schema(max_items = 100)]
    items: Vec<CheckItem>,
}

/// One period to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckItem {
    resource_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    #[serde(default = "one_unit")]
    #[schema(minimum = 1, maximum = 10000, default = 1)]
    quantity: u32,
}

fn one_unit() -> u32 {
    1
}

/// What one item needs: a verdict already, or a look at the guard.
enum Pending {
    Decided(ErrorCode),
    Probe { probe: Probe, quantity: u32 },
}

/// Whether each period could be booked now, from the write side (each resource from its event
/// stream and the allocation guard, in one snapshot; never the read models or a cache).
#[utoipa::path(
    post,
    path = "/v1/availability/check",
    tag = "availability",
    operation_id = "check_availability",
    request_body = CheckBody,
    responses(
        (status = 200, description = "One verdict per item, in order", body = Items<CheckView>),
        CheckProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn check(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(body): ApiJson<CheckBody>,
) -> Result<Response, Problem> {
    if body.items.len() > MAX_BATCH {
        return Err(Problem::invalid_field(
            "items",
            format!("at most {MAX_BATCH} items per check"),
        ));
    }
    // No resource has more units than that: a larger quantity is a client's mistake, as in
    // the availability reads' `quantity`.
    let units = 1..=domain::resource::MAX_CAPACITY;
    if let Some(index) = body
        .items
        .iter()
        .position(|item| !units.contains(&item.quantity))
    {
        return Err(Problem::invalid_field(
            format!("items[{index}].quantity"),
            format!("must be from 1 to {}", domain::resource::MAX_CAPACITY),
        ));
    }
    let now = Utc::now();
    let mut ids: Vec<ResourceId> = body
        .items
        .iter()
        .map(|item| ResourceId(item.resource_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // The write side's view, in one snapshot with the allocations read below: a resource
    // created or changed a moment ago counts as it is now, whatever the read models say.
    let mut snapshot = guard::begin(&state.pool).await?;
    let found = guard::resources(&mut snapshot, &actor.tenant, &ids).await?;
    let pending: Vec<Pending> = body
        .items
        .iter()
        .map(|item| {
            let Some(resource) = found.iter().find(|r| r.id.0 == item.resource_id) else {
                return Pending::Decided(ErrorCode::ResourceNotFound);
            };
            let Ok(period) = Period::new(item.start, item.end) else {
                return Pending::Decided(ErrorCode::InvalidPeriod);
            };
            if let Err(err) = check_period(resource, &period, item.quantity, now) {
                return Pending::Decided(err.code());
            }
            let policy = &resource.spec.policy;
            Pending::Probe {
                probe: Probe {
                    resource_id: resource.id,
                    blocked: period.widen(policy.buffer_before(), policy.buffer_after()),
                    capacity: resource.spec.capacity,
                },
                quantity: item.quantity,
            }
        })
        .collect();
    let probes: Vec<Probe> = pending
        .iter()
        .filter_map(|p| match p {
            Pending::Probe { probe, .. } => Some(*probe),
            Pending::Decided(_) => None,
        })
        .collect();
    let busy = guard::busy_units(&mut snapshot, &actor.tenant, &probes, now).await?;
    // Read only: ending it either way releases the snapshot.
    snapshot
        .commit()
        .await
        .map_err(|err| Problem::from(StoreError::from(err)))?;
    let mut busy = busy.into_iter();
    let items = body
        .items
        .iter()
        .zip(pending)
        .map(|(item, pending)| {
            let reason = match pending {
                Pending::Decided(reason) => Some(reason),
                Pending::Probe { probe, quantity } => {
                    let taken = busy.next().unwrap_or(u32::MAX);
                    let free = probe.capacity.saturating_sub(taken);
                    (free < quantity).then_some(ErrorCode::SlotUnavailable)
                }
            };
            CheckView {
                resource_id: item.resource_id,
                start: item.start,
                end: item.end,
                quantity: item.quantity,
                available: reason.is_none(),
                reason,
            }
        })
        .collect();
    Ok(Json(Items { items }).into_response())
}
