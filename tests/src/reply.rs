//! An HTTP answer as the tests read it, and the check every refusal must pass.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// The body as JSON (`null` when it is not).
    pub body: Value,
    /// The body as text (for `/metrics`, and to compare answers byte for byte).
    pub text: String,
    pub headers: HeaderMap,
}

/// Asserts the answer is a well-formed problem with this status and code.
#[track_caller]
pub fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.code(), code, "{}", reply.body);
    assert!(
        reply.content_type().starts_with("application/problem+json"),
        "{}",
        reply.content_type()
    );
    for member in ["type", "title", "status", "detail"] {
        assert!(
            reply.body.get(member).is_some(),
            "{member} missing in {}",
            reply.body
        );
    }
    assert_eq!(reply.body["status"], status.as_u16());
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            headers,
        }
    }

    /// The problem's `code` (or "" for a success).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type")
    }

    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `X-Cache` header of an availability answer.
    pub fn cache(&self) -> &str {
        self.header("x-cache")
    }

    /// The id of the booking in a command's answer.
    #[track_caller]
    pub fn booking_id(&self) -> String {
        self.body["booking"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a booking in {}", self.body))
            .to_owned()
    }

    /// The first field named in a validation error.
    pub fn field(&self) -> &str {
        self.body["errors"][0]["field"].as_str().unwrap_or("")
    }
}
