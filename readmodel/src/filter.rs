//! Which resources a request means: the one filter of API.md ("Filters on `GET
//! /v1/resources` and wherever a set of resources is chosen"), parsed once from a query
//! string's pairs and translated once into SQL over `read.resources` (whose `attributes` column
//! has a GIN index for the equality tests).
//!
//! - `kind=<kind>`;
//! - `attr.<key>=<value>`: equality, the value read as the stored attribute's JSON type (a
//!   string compares as a string; `30` also as the number 30, `true`/`false` also as booleans);
//!   for an array attribute: it contains the value;
//! - `min.<key>=<n>`: the attribute is a number ≥ n (resources without a number there do not
//!   match);
//! - `archived=true|false`: only archived, or (the default) only active resources.

use domain::attributes::is_key;
use serde_json::{Map, Number, Value};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};

/// The prefix of an equality filter's parameter.
pub const ATTR: &str = "attr.";
/// The prefix of a lower bound's parameter.
pub const MIN: &str = "min.";

/// A filter over a tenant's resources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceFilter {
    pub kind: Option<String>,
    /// `attr.<key>=<value>`, in the order given.
    pub equal: Vec<(String, String)>,
    /// `min.<key>=<n>`, `n` a JSON number.
    pub min: Vec<(String, Number)>,
    /// Only archived resources (else only active ones).
    pub archived: bool,
}

/// A filter parameter that is not valid: `422 invalid_filter` naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// The parameter, as given (`attr.Seats`, `min.seats`, `archived`).
    pub field: String,
    pub message: &'static str,
}

impl FilterError {
    fn new(field: impl Into<String>, message: &'static str) -> Self {
        Self {
            field: field.into(),
            message,
        }
    }
}

/// Whether the parameter `name` belongs to the filter.
pub fn is_filter_parameter(name: &str) -> bool {
    name == "kind" || name == "archived" || name.starts_with(ATTR) || name.starts_with(MIN)
}

impl ResourceFilter {
    /// The filter of a query string's filter pairs (those [`is_filter_parameter`] names; any
    /// other is refused). A parameter given twice is refused; an empty value counts as absent.
    pub fn parse(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, FilterError> {
        let mut filter = ResourceFilter::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name) {
                return Err(FilterError::new(name, "is given more than once"));
            }
            seen.push(name.clone());
            if value.is_empty() {
                continue;
            }
            if value.contains('\0') {
                return Err(FilterError::new(
                    name,
                    "must not contain the NUL character (U+0000)",
                ));
            }
            if name == "kind" {
                filter.kind = Some(value);
            } else if name == "archived" {
                filter.archived = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(FilterError::new(name, "must be true or false")),
                };
            } else if let Some(key) = name.strip_prefix(ATTR) {
                filter.with_attribute(key, value)?;
            } else if let Some(key) = name.strip_prefix(MIN) {
                filter.with_min(key, &value)?;
            } else {
                return Err(FilterError::new(name, "is not a filter"));
            }
        }
        Ok(filter)
    }

    /// Adds `attr.<key>=<value>`.
    pub fn with_attribute(&mut self, key: &str, value: String) -> Result<(), FilterError> {
        check_key(ATTR, key)?;
        self.equal.push((key.to_owned(), value));
        Ok(())
    }

    /// Adds `min.<key>=<value>`.
    pub fn with_min(&mut self, key: &str, value: &str) -> Result<(), FilterError> {
        check_key(MIN, key)?;
        let number = value
            .parse::<Number>()
            .ok()
            .filter(|_| value.trim() == value)
            .ok_or_else(|| {
                FilterError::new(format!("{MIN}{key}"), "must be a number (e.g. 30 or 2.5)")
            })?;
        self.min.push((key.to_owned(), number));
        Ok(())
    }

    /// Appends the filter's conditions to `query` (each starting with ` and `), for a query
    /// over `read.resources` (or a table of its shape).
    pub fn push_sql(&self, query: &mut QueryBuilder<'_, Postgres>) {
        if let Some(kind) = &self.kind {
            query.push(" and kind = ").push_bind(kind.clone());
        }
        query.push(" and archived = ").push_bind(self.archived);
        for (key, value) in &self.equal {
            // Each reading of the value as a containment test: served by the GIN index.
            query.push(" and (");
            for (index, document) in equal_documents(key, value).into_iter().enumerate() {
                if index > 0 {
                    query.push(" or ");
                }
                query.push("attributes @> ").push_bind(Json(document));
            }
            query.push(")");
        }
        for (key, number) in &self.min {
            // The cast only runs on numbers (`case`), so a string there never fails the query.
            query
                .push(" and case when jsonb_typeof(attributes -> ")
                .push_bind(key.clone())
                .push(") = 'number' then (attributes ->> ")
                .push_bind(key.clone())
                .push(")::numeric end >= ")
                .push_bind(number.to_string())
                .push("::numeric");
        }
    }

    /// Whether `attributes` (and the resource's kind and archived flag) match, by the same
    /// rules as [`ResourceFilter::push_sql`].
    pub fn matches(&self, kind: &str, archived: bool, attributes: &Map<String, Value>) -> bool {
        self.kind.as_deref().is_none_or(|k| k == kind)
            && archived == self.archived
            && self.equal.iter().all(|(key, value)| {
                attributes
                    .get(key)
                    .is_some_and(|stored| equals(stored, value))
            })
            && self.min.iter().all(|(key, number)| {
                match (attributes.get(key).and_then(Value::as_f64), number.as_f64()) {
                    (Some(stored), Some(min)) => stored >= min,
                    _ => false,
                }
            })
    }
}

fn check_key(prefix: &str, key: &str) -> Result<(), FilterError> {
    if is_key(key) {
        Ok(())
    } else {
        Err(FilterError::new(
            format!("{prefix}{key}"),
            "must name an attribute key: 1 to 40 characters of a-z, 0-9 and _",
        ))
    }
}

/// The documents `attributes` must contain one of for `key` to equal `value`: the value as a
/// string, as a member of an array of strings, and where it reads so, as a number or boolean.
fn equal_documents(key: &str, value: &str) -> Vec<Value> {
    let one = |v: Value| Value::Object(Map::from_iter([(key.to_owned(), v)]));
    let mut documents = vec![
        one(Value::String(value.to_owned())),
        one(Value::Array(vec![Value::String(value.to_owned())])),
    ];
    if let Some(typed) = typed(value) {
        documents.push(one(typed));
    }
    documents
}

/// `value` read as a JSON number or boolean, if it is one.
fn typed(value: &str) -> Option<Value> {
    match value {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => value
            .parse::<Number>()
            .ok()
            .filter(|_| value.trim() == value)
            .map(Value::Number),
    }
}

fn equals(stored: &Value, value: &str) -> bool {
    match stored {
        Value::String(s) => s == value,
        Value::Array(items) => items.iter().any(|item| item.as_str() == Some(value)),
        Value::Bool(_) => typed(value).as_ref() == Some(stored),
        Value::Number(n) => typed(value)
            .and_then(|v| v.as_f64())
            .is_some_and(|v| n.as_f64() == Some(v)),
        Value::Null | Value::Object(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(pairs: &[(&str, &str)]) -> Result<ResourceFilter, FilterError> {
        ResourceFilter::parse(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    fn attributes() -> Map<String, Value> {
        match json!({"building": "A", "seats": 30, "projector": true,
                     "features": ["whiteboard", "tv"], "code": "30"})
        {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_value_is_read_as_the_stored_attributes_type() {
        let matches =
            |pairs: &[(&str, &str)]| parse(pairs).unwrap().matches("room", false, &attributes());
        assert!(matches(&[("attr.building", "A")]));
        assert!(!matches(&[("attr.building", "B")]));
        assert!(matches(&[("attr.seats", "30")]));
        assert!(matches(&[("attr.seats", "30.0")]));
        assert!(!matches(&[("attr.seats", "31")]));
        assert!(matches(&[("attr.code", "30")]));
        assert!(matches(&[("attr.projector", "true")]));
        assert!(!matches(&[("attr.projector", "false")]));
        assert!(matches(&[("attr.features", "tv")]));
        assert!(!matches(&[("attr.features", "projector")]));
        assert!(!matches(&[("attr.missing", "x")]));
        assert!(matches(&[("min.seats", "30"), ("kind", "room")]));
        assert!(!matches(&[("min.seats", "30.5")]));
        assert!(!matches(&[("min.building", "1")]));
        assert!(!matches(&[("archived", "true")]));
    }

    #[test]
    fn bad_keys_and_values_name_their_parameter() {
        let field = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().field;
        assert_eq!(field(&[("attr.Seats", "1")]), "attr.Seats");
        assert_eq!(field(&[("attr.", "1")]), "attr.");
        assert_eq!(field(&[("min.seats", "many")]), "min.seats");
        assert_eq!(field(&[("min.seats", "NaN")]), "min.seats");
        assert_eq!(field(&[("archived", "yes")]), "archived");
        assert_eq!(field(&[("attr.a", "1"), ("attr.a", "2")]), "attr.a");
    }

    #[test]
    fn a_number_or_boolean_value_is_also_tried_as_one() {
        assert_eq!(equal_documents("k", "x").len(), 2);
        assert_eq!(equal_documents("k", "30")[2], json!({"k": 30}));
        assert_eq!(equal_documents("k", "true")[2], json!({"k": true}));
    }
}
