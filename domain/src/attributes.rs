//! A resource's attributes: a small, flat object that describes it for filters and search
//! (`{"building": "A", "seats": 30, "features": ["projector"]}`).
//!
//! The limits keep every resource's row, event and filter small: at most [`MAX_KEYS`] keys of
//! `[a-z0-9_]{1,40}`, each value a string of at most [`MAX_TEXT_CHARS`] characters, a number,
//! a boolean or an array of at most [`MAX_LIST_ITEMS`] such strings. They are checked when a
//! resource is created or changed ([`Attributes::validate`]); an event's attributes were
//! checked when it was decided and are read back as they are.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::resource::FieldIssue;

/// The most keys one resource may have.
pub const MAX_KEYS: usize = 32;
/// The longest key, in characters.
pub const MAX_KEY_CHARS: usize = 40;
/// The longest string value (also each string of an array), in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// The most strings of one array value.
pub const MAX_LIST_ITEMS: usize = 20;

/// A resource's attributes (absent in events older than attributes: empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attributes(Map<String, Value>);

/// Whether `key` can name an attribute: 1 to 40 of `a-z`, `0-9` and `_`.
pub fn is_key(key: &str) -> bool {
    (1..=MAX_KEY_CHARS).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Attributes {
    /// The attributes as given (see [`Attributes::validate`]).
    pub fn new(map: Map<String, Value>) -> Self {
        Self(map)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Adds an issue for every rule broken, each naming its field (`attributes.<key>`).
    pub fn validate(&self, issues: &mut Vec<FieldIssue>) {
        if self.0.len() > MAX_KEYS {
            issues.push(FieldIssue::new("attributes", "must have at most 32 keys"));
        }
        for (key, value) in &self.0 {
            let field = || format!("attributes.{key}");
            if !is_key(key) {
                issues.push(FieldIssue::new(
                    field(),
                    "keys must be 1 to 40 characters of a-z, 0-9 and _",
                ));
                continue;
            }
            let text_ok = |s: &str| s.chars().count() <= MAX_TEXT_CHARS;
            let problem = match value {
                Value::String(s) if !text_ok(s) => Some("must be at most 200 characters"),
                Value::String(_) | Value::Number(_) | Value::Bool(_) => None,
                Value::Array(items) if items.len() > MAX_LIST_ITEMS => {
                    Some("must be an array of at most 20 strings")
                }
                Value::Array(items) => items
                    .iter()
                    .any(|item| !item.as_str().is_some_and(text_ok))
                    .then_some("must be an array of strings of at most 200 characters each"),
                Value::Null | Value::Object(_) => {
                    Some("must be a string, a number, a boolean or an array of strings")
                }
            };
            if let Some(message) = problem {
                issues.push(FieldIssue::new(field(), message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(value: Value) -> Vec<String> {
        let Value::Object(map) = value else {
            panic!("not an object")
        };
        let mut issues = Vec::new();
        Attributes::new(map).validate(&mut issues);
        issues.into_iter().map(|i| i.field.into_owned()).collect()
    }

    #[test]
    fn strings_numbers_booleans_and_short_string_arrays_are_attributes() {
        let ok = json!({"building": "A", "seats": 30, "ratio": 0.5, "accessible": true,
                        "features": ["projector", "whiteboard"], "empty": []});
        assert!(issues(ok).is_empty());
    }

    #[test]
    fn each_broken_limit_names_its_attribute() {
        let long = "x".repeat(201);
        let bad = json!({
            "Building": "A",
            "name": long,
            "nothing": null,
            "nested": {"a": 1},
            "numbers": [1, 2],
            "many": vec!["a"; 21],
            "long_item": [long],
        });
        let mut found = issues(bad);
        found.sort();
        assert_eq!(
            found,
            [
                "attributes.Building",
                "attributes.long_item",
                "attributes.many",
                "attributes.name",
                "attributes.nested",
                "attributes.nothing",
                "attributes.numbers",
            ]
        );
        let too_long_key = "k".repeat(41);
        assert_eq!(
            issues(json!({ too_long_key.clone(): 1 })),
            [format!("attributes.{too_long_key}")]
        );
    }

    #[test]
    fn more_than_32_keys_are_refused() {
        let map: Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(issues(Value::Object(map)), ["attributes"]);
    }
}
