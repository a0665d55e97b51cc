//! Query strings in the house error format.
//!
//! [`QueryParams`] takes the raw `name=value` pairs; each handler then takes the parameters it
//! knows by name and parses them with the helpers here, so every refusal is
//! `422 validation_failed` naming the parameter. A parameter given twice, or one the endpoint
//! does not know (a typo such as `resouce_id`), is refused rather than silently ignored. An empty
//! value (`kind=`) counts as absent.
//!
//! The parameter groups at the end ([`MinPosition`], [`Paging`]...) describe them for the OpenAPI
//! document, next to the parsers they describe.

use api::ErrorCode;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use eventstore::Position;
use platform::Problem;
use platform::problem::FieldError;
use readmodel::filter::{ResourceFilter, is_filter_parameter};
use utoipa::IntoParams;
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use uuid::Uuid;

/// The largest page of any list.
pub const MAX_LIMIT: i64 = 500;
/// The page size when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 50;

/// The query string's pairs, not yet taken by the handler.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            pairs: pairs(parts.uri.query().unwrap_or_default()),
        })
    }
}

/// The `name=value` pairs of a query string, decoded as `application/x-www-form-urlencoded`
/// (empty pieces skipped, a piece without `=` has an empty value, `+` is a space, `%XX` a byte,
/// bytes that are not UTF-8 become U+FFFD).
fn pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

impl QueryParams {
    /// Parameters from pairs (for tests and internal callers).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The value of `name`, if given and not empty. Given twice is refused.
    pub fn take(&mut self, name: &'static str) -> Result<Option<String>, Problem> {
        let mut found = None;
        let mut i = 0;
        while i < self.pairs.len() {
            if self.pairs[i].0 == name {
                let (_, value) = self.pairs.remove(i);
                if found.is_some() {
                    return Err(Problem::invalid_field(name, "is given more than once"));
                }
                // PostgreSQL cannot store or compare U+0000: refuse it as bad input here.
                if value.contains('\0') {
                    return Err(Problem::invalid_field(
                        name,
                        "must not contain the NUL character (U+0000)",
                    ));
                }
                found = Some(value);
            } else {
                i += 1;
            }
        }
        Ok(found.filter(|value| !value.is_empty()))
    }

    /// `take` and parse with `parse`, which names the parameter in its errors.
    pub fn parse<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&'static str, &str) -> Result<T, Problem>,
    ) -> Result<Option<T>, Problem> {
        self.take(name)?
            .map(|value| parse(name, &value))
            .transpose()
    }

    /// The resource filter (`kind`, `archived`, `attr.<key>`, `min.<key>`): every parameter of
    /// it is taken; a bad one is `422 invalid_filter` naming it.
    pub fn take_filter(&mut self) -> Result<ResourceFilter, Problem> {
        let (filter, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pairs)
            .into_iter()
            .partition(|(name, _)| is_filter_parameter(name));
        self.pairs = rest;
        ResourceFilter::parse(filter).map_err(|err| {
            let mut problem = Problem::new(
                ErrorCode::InvalidFilter,
                format!("{} {}", err.field, err.message),
            );
            problem.errors.push(FieldError {
                field: err.field,
                message: err.message.to_owned(),
            });
            problem
        })
    }

    /// Refuses whatever the handler did not take.
    pub fn finish(self) -> Result<(), Problem> {
        match self.pairs.first() {
            None => Ok(()),
            Some((name, _)) => Err(Problem::invalid_field(
                name.clone(),
                "is not a parameter of this endpoint",
            )),
        }
    }
}

/// `limit`: 1 to [`MAX_LIMIT`].
pub fn limit(name: &'static str, value: &str) -> Result<i64, Problem> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            Problem::invalid_field(
                name,
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// A UUID.
pub fn uuid(name: &'static str, value: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(value).map_err(|_| Problem::invalid_field(name, "must be a UUID"))
}

/// A whole number in `range`.
pub fn number_in(
    range: std::ops::RangeInclusive<u32>,
) -> impl FnOnce(&'static str, &str) -> Result<u32, Problem> {
    move |name, value| {
        value
            .parse::<u32>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                Problem::invalid_field(
                    name,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }
}

/// `min_position`: a position token from a command's answer.
pub fn position(name: &'static str, value: &str) -> Result<Position, Problem> {
    value.parse().map_err(|_| {
        Problem::invalid_field(
            name,
            "must be a position token as returned by a command (e.g. 812.4711)",
        )
    })
}

/// An RFC 3339 instant with any offset, as UTC at the stored precision (microseconds).
pub fn instant(name: &'static str, value: &str) -> Result<DateTime<Utc>, Problem> {
    let parsed = DateTime::parse_from_rfc3339(value).map_err(|_| {
        Problem::invalid_field(
            name,
            "must be an RFC 3339 instant like 2026-12-01T09:00:00Z or a date like 2026-12-01",
        )
    })?;
    let utc = parsed.with_timezone(&Utc);
    Ok(utc
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(utc))
}

/// A calendar date `YYYY-MM-DD`.
pub fn date(name: &'static str, value: &str) -> Result<NaiveDate, Problem> {
    digits_date(value)
        .or_else(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .filter(|_| value.len() == 10)
        .ok_or_else(|| Problem::invalid_field(name, "must be a date like 2026-12-01"))
}

/// The common shape, `dddd-dd-dd`, without chrono's format machinery (it is on every
/// availability read); anything else goes the long way.
fn digits_date(value: &str) -> Option<NaiveDate> {
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    let number = |range: std::ops::Range<usize>| value.get(range)?.parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

/// One end of a time window: an instant, or a calendar date whose meaning (which zone, start or
/// end of the day) the endpoint decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bound {
    Instant(DateTime<Utc>),
    Date(NaiveDate),
}

/// An instant or a date.
pub fn bound(name: &'static str, value: &str) -> Result<Bound, Problem> {
    if value.len() == 10
        && let Ok(day) = date(name, value)
    {
        return Ok(Bound::Date(day));
    }
    instant(name, value).map(Bound::Instant)
}

/// `min_position`, which every query takes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MinPosition {
    /// A `position` from a command's answer: the answer then includes that write (waiting up to
    /// `MIN_POSITION_WAIT_MS`, else `503 projection_behind`). A position the store has not
    /// written is `422 invalid_position`.
    #[param(pattern = "^[0-9]{1,20}\\.[0-9]{1,19}$", example = "812.4711")]
    pub min_position: Option<String>,
}

/// The resource filter of API.md, as [`QueryParams::take_filter`] reads it.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Only resources of this kind.
    pub kind: Option<String>,
    /// `attr.<key>=<value>` (any number of them): the attribute equals the value, read as the
    /// stored attribute's JSON type (`30` matches the number 30 and the string "30",
    /// `true`/`false` booleans); for an array attribute: it contains the value. A key that is
    /// not `[a-z0-9_]{1,40}` is `422 invalid_filter`.
    #[param(rename = "attr.{key}", value_type = Option<String>, example = "A")]
    pub attr: Option<String>,
    /// `min.<key>=<n>` (any number of them): the attribute is a number ≥ n; resources without
    /// a number there do not match. Not a number: `422 invalid_filter`.
    #[param(rename = "min.{key}", value_type = Option<f64>, example = 30)]
    pub min: Option<String>,
    /// `false` (the default): only active resources; `true`: only archived ones.
    #[param(default = false)]
    pub archived: Option<bool>,
}

/// `service_id` of one resource's availability.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForService {
    /// Slots of this service (instead of `duration_minutes`): its duration, and its buffers
    /// where larger than the resource's. Unknown: `404 service_not_found`; not offered on the
    /// resource or archived: `422 service_not_offered`.
    pub service_id: Option<uuid::Uuid>,
}

/// A page of a keyset-paginated list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<u16>,
    /// The `next_cursor` of the previous page (only this list's cursors are accepted:
    /// `422 invalid_cursor`).
    pub cursor: Option<String>,
}

/// An RFC 3339 instant (any offset) or a date `YYYY-MM-DD` (what a date means is the
/// endpoint's): the schema of a [`Bound`].
impl utoipa::PartialSchema for Bound {
    fn schema() -> utoipa::openapi::RefOr<Schema> {
        let string = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        let schema: Schema = AnyOfBuilder::new()
            .item(string(KnownFormat::DateTime))
            .item(string(KnownFormat::Date))
            .examples(["2026-12-01", "2026-12-01T09:00:00Z"])
            .into();
        schema.into()
    }
}

impl utoipa::ToSchema for Bound {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("InstantOrDate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn an_unknown_parameter_is_refused_by_name() {
        let mut query = params(&[("kind", "room"), ("kindd", "x")]);
        assert_eq!(query.take("kind").unwrap().as_deref(), Some("room"));
        let problem = query.finish().unwrap_err();
        assert_eq!(problem.code.as_str(), "validation_failed");
        assert_eq!(problem.errors[0].field, "kindd");
    }

    #[test]
    fn a_repeated_parameter_is_refused_and_an_empty_one_is_absent() {
        let mut query = params(&[("limit", "1"), ("limit", "2"), ("kind", "")]);
        assert_eq!(query.take("limit").unwrap_err().errors[0].field, "limit");
        assert_eq!(query.take("kind").unwrap(), None);
    }

    #[test]
    fn a_nul_character_in_a_parameter_is_a_422() {
        let mut query = params(&[("customer_id", "a\u{0}b")]);
        assert_eq!(
            query.take("customer_id").unwrap_err().code.as_str(),
            "validation_failed"
        );
    }

    #[test]
    fn query_strings_are_decoded_as_axum_s_query_extractor_decodes_them() {
        for query in [
            "",
            "from=2026-12-01&to=2026-12-02&duration_minutes=30",
            "a=1&&b=2&",
            "flag&=x&b=",
            "k=a%2Bb+c%20d&k%3D=%3d",
            "bad=%zz%4&end=%",
            "utf8=%C3%A9t%C3%A9&broken=%C3%28",
            "x=%00y&plus=%2B+",
            "a=b=c",
        ] {
            let uri: axum::http::Uri = format!("/p?{query}").parse().unwrap();
            let axum::extract::Query(expected) =
                axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).unwrap();
            assert_eq!(pairs(query), expected, "{query}");
        }
    }

    #[test]
    fn dates_are_read_alike_the_short_and_the_long_way() {
        for value in [
            "2026-12-01",
            "2024-02-29",
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "0000-01-01",
            "9999-12-31",
            "2026-1-011",
            "+026-12-01",
            "2026-12-1 ",
        ] {
            let long = NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .filter(|_| value.len() == 10);
            assert_eq!(date("from", value).ok(), long, "{value}");
        }
    }

    #[test]
    fn limits_outside_1_to_500_are_refused() {
        assert_eq!(limit("limit", "500").unwrap(), 500);
        for bad in ["0", "501", "-1", "ten"] {
            assert_eq!(limit("limit", bad).unwrap_err().errors[0].field, "limit");
        }
    }

    #[test]
    fn a_bound_is_a_date_or_an_instant_with_any_offset() {
        assert_eq!(
            bound("from", "2026-12-01").unwrap(),
            Bound::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        );
        assert_eq!(
            bound("from", "2026-12-01T10:00:00+01:00").unwrap(),
            Bound::Instant("2026-12-01T09:00:00Z".parse().unwrap())
        );
        assert!(bound("from", "2026-13-01").is_err());
        assert!(bound("from", "tomorrow").is_err());
    }
}
