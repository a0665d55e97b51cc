//! What the OpenAPI documents of command-api and query-api share: the base document (info, the
//! bearer scheme every `/v1` route requires, the problem schemas) and the error answers.
//!
//! Each route lists the codes it can answer with [`problems!`]; they become one response per
//! status whose `code` is an enum of exactly those codes, so a client (or schemathesis) knows
//! every refusal a route can give. The codes every route of a kind shares are the lists below.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Response,
};
use utoipa::{PartialSchema, ToSchema};

use crate::ErrorCode::{self, *};
use crate::problem::{Conflict, FieldError, ProblemBody};

/// For [`problems!`] in other crates.
pub use utoipa;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The name of the security scheme of every `/v1` route.
pub const BEARER: &str = "bearer";

/// Every `/v1` route: the token (checked first), the request deadline and the database.
pub const AUTHENTICATED: &[ErrorCode] = &[
    Unauthenticated,
    Forbidden,
    RateLimited,
    Timeout,
    Busy,
    DatabaseUnavailable,
];

/// Routes with an id in the path: a segment that does not decode (`%FF`) is unreadable.
pub const PATH: &[ErrorCode] = &[MalformedRequest];

/// Every command: `Idempotency-Key` (malformed, still running, reused with another body) and
/// lost races retried too often.
pub const COMMAND: &[ErrorCode] = &[
    MalformedRequest,
    ValidationFailed,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ConcurrentModification,
];

/// Routes that read a JSON body: unreadable JSON, another media type, too large, a field of
/// the wrong shape.
pub const JSON_BODY: &[ErrorCode] = &[
    MalformedRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    ValidationFailed,
];

/// Every query: its parameters, and `min_position` (past the store's head, or not reached in
/// time).
pub const QUERY: &[ErrorCode] = &[ValidationFailed, InvalidPosition, ProjectionBehind];

/// One route's error answers: marks a type whose `IntoResponses` lists `codes` (each listed
/// once, in any order) plus the lists after `+`, for `#[utoipa::path(responses(...))]`.
///
/// ```ignore
/// api::problems!(PlaceProblems = [SlotUnavailable, InvalidPeriod] + AUTHENTICATED, COMMAND);
/// ```
#[macro_export]
macro_rules! problems {
    ($(#[$doc:meta])* $vis:vis $name:ident = [$($code:ident),* $(,)?] $(+ $($list:ident),+)?) => {
        $(#[$doc])*
        $vis struct $name;

        impl $crate::openapi::utoipa::IntoResponses for $name {
            fn responses() -> ::std::collections::BTreeMap<
                String,
                $crate::openapi::utoipa::openapi::RefOr<
                    $crate::openapi::utoipa::openapi::response::Response,
                >,
            > {
                let mut codes: Vec<$crate::ErrorCode> = vec![$($crate::ErrorCode::$code),*];
                $($(codes.extend_from_slice($crate::openapi::$list);)+)?
                $crate::openapi::problem_responses(&codes)
            }
        }
    };
}

/// One response per status of `codes`, each a problem whose `code` is one of that status's
/// codes.
pub fn problem_responses(codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes {
        let same = by_status.entry(code.status()).or_default();
        if !same.contains(code) {
            same.push(*code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, mut codes)| {
            codes.sort_by_key(|code| code.as_str());
            (status.to_string(), problem_response(status, &codes).into())
        })
        .collect()
}

fn problem_response(status: u16, codes: &[ErrorCode]) -> Response {
    let names: Vec<&str> = codes.iter().map(|code| code.as_str()).collect();
    let narrowed = ObjectBuilder::new()
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names.clone())),
        )
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([status])),
        )
        .required("code");
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(ProblemBody::name()))
        .item(narrowed);
    let mut response = ResponseBuilder::new()
        .description(names.join(", "))
        .content(
            PROBLEM_JSON,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    let header = |description: &str| {
        HeaderBuilder::new()
            .schema(integer())
            .description(Some(description))
            .build()
    };
    if status == 429 || status == 503 {
        response = response.header(
            "Retry-After",
            header("Seconds to wait before trying again."),
        );
    }
    if status == 429 {
        response = response
            .header("RateLimit-Limit", header("The budget's size."))
            .header("RateLimit-Remaining", header("What is left of it."))
            .header("RateLimit-Reset", header("Seconds until it is full again."));
    }
    if status == 401 {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(String::schema())
                .description(Some("`Bearer`"))
                .build(),
        );
    }
    response.build()
}

fn integer() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .into()
}

/// The document every service starts from: `info`, the bearer scheme required on every route
/// (the document itself, health and metrics are not described and need no token), and the
/// problem schemas the error answers refer to.
pub fn document(title: &str, description: &str) -> OpenApi {
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "A JWT with `sub`, `tenant`, `roles` (`admin`, `client`, `viewer`) and `exp`: \
             HS256 with the shared secret, or RS256/ES256 from the configured JWKS.",
        ))
        .build();
    let mut schemas = Vec::new();
    for (name, schema) in [
        (ProblemBody::name(), ProblemBody::schema()),
        (FieldError::name(), FieldError::schema()),
        (Conflict::name(), Conflict::schema()),
        (ErrorCode::name(), ErrorCode::schema()),
    ] {
        schemas.push((name.into_owned(), schema));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(BEARER, SecurityScheme::Http(bearer))
                .schemas_from_iter(schemas)
                .build(),
        ))
        .security(Some([SecurityRequirement::new::<_, [&str; 0], &str>(
            BEARER,
            [],
        )]))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    problems!(Example = [SlotUnavailable, InvalidState, InvalidPeriod] + AUTHENTICATED);

    fn codes_of(responses: &BTreeMap<String, RefOr<Response>>, status: &str) -> Vec<String> {
        let json = serde_json::to_value(&responses[status]).unwrap_or_default();
        json["content"][PROBLEM_JSON]["schema"]["allOf"][1]["properties"]["code"]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|code| code.as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn a_routes_codes_are_grouped_by_status_each_once() {
        use utoipa::IntoResponses;
        let responses = Example::responses();
        let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
        assert_eq!(statuses, ["401", "403", "409", "422", "429", "503"]);
        assert_eq!(
            codes_of(&responses, "409"),
            ["invalid_state", "slot_unavailable"]
        );
        assert_eq!(
            codes_of(&responses, "503"),
            ["busy", "database_unavailable", "timeout"]
        );
        let repeated = problem_responses(&[Forbidden, Forbidden]);
        assert_eq!(codes_of(&repeated, "403"), ["forbidden"]);
    }
}
