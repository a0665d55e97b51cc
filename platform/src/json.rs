//! JSON request bodies that fail in the house format.
//!
//! `ApiJson<T>` is axum's `Json<T>` with problem+json rejections: unreadable JSON is
//! `400 malformed_request`; JSON of the wrong shape (a missing or unknown field, a wrong type,
//! an invalid value) is `422 validation_failed` naming the field; an oversized body is `413`.
//! Request types use `#[serde(deny_unknown_fields)]` so a typo never silently does nothing.

use api::ErrorCode;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::problem::{FieldError, Problem};

/// The largest request body any endpoint accepts (API.md: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body deserialized into `T`, or a problem+json rejection.
#[derive(Clone, Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = read_body(request, state).await?;
        parse(&bytes).map(ApiJson)
    }
}

/// The whole body, within the router's `DefaultBodyLimit`.
async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, Problem> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Problem::payload_too_large(MAX_BODY_BYTES)
            }
            _ => Problem::malformed("the request body could not be read"),
        })
}

/// Deserializes `bytes` with the same error mapping as the extractor.
///
/// Strings may not contain U+0000: PostgreSQL cannot store it (in text or jsonb), so it is
/// refused here as bad input rather than failing later as a server error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|err| Problem::malformed(format!("the body is not valid JSON: {err}")))?;
    if let Some(field) = nul_character(&value, "") {
        return Err(Problem::invalid_field(
            if field.is_empty() {
                "body".to_owned()
            } else {
                field
            },
            "must not contain the NUL character (U+0000)",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                Problem::malformed(format!("the body is not valid JSON: {inner}"))
            }
            Category::Data => Problem::validation(vec![FieldError {
                field: if path == "." { "body".into() } else { path },
                message: strip_position(&inner.to_string()),
            }]),
        }
    })
}

/// The path of the first string (or object key) holding U+0000, if any.
fn nul_character(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_character(item, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(key))
            } else {
                nul_character(item, &join(key))
            }
        }),
        _ => None,
    }
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Like [`ApiJson`], for endpoints whose body is optional: an empty body is `T::default()`.
#[derive(Clone, Debug, Default)]
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialization is tested")]
    struct Body {
        name: String,
        capacity: u32,
    }

    #[test]
    fn broken_json_is_a_400() {
        let problem = parse::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.code.as_str(), "malformed_request");
    }

    #[test]
    fn a_wrong_type_is_a_422_naming_the_field() {
        let problem = parse::<Body>(br#"{"name":"a","capacity":"two"}"#).unwrap_err();
        assert_eq!(problem.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.errors[0].field, "capacity");
    }

    #[test]
    fn an_unknown_field_is_a_422() {
        let problem = parse::<Body>(br#"{"name":"a","capacity":1,"capcity":2}"#).unwrap_err();
        assert_eq!(problem.code.as_str(), "validation_failed");
        assert!(problem.errors[0].message.contains("capcity"));
    }

    #[test]
    fn a_nul_character_anywhere_is_a_422_naming_the_field() {
        let problem =
            parse::<serde_json::Value>(br#"{"metadata":{"note":"a\u0000b"}}"#).unwrap_err();
        assert_eq!(problem.code.as_str(), "validation_failed");
        assert_eq!(problem.errors[0].field, "metadata.note");
    }

    #[test]
    fn trailing_garbage_is_a_400() {
        let problem = parse::<Body>(br#"{"name":"a","capacity":1} x"#).unwrap_err();
        assert_eq!(problem.code.as_str(), "malformed_request");
    }
}
