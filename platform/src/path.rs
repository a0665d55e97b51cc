//! Path parameters that fail in the house format: `ApiPath<T>` is axum's `Path<T>` whose
//! rejection is problem+json (`400 malformed_request` for a segment that does not decode, such as
//! `%FF`), not axum's plain-text answer.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Path parameters deserialized into `T`, or a problem+json rejection.
#[derive(Clone, Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(err)) => Err(Problem::malformed(
                format!("the path is not valid: {}", err.body_text()),
            )),
            // A handler asking for parameters its route does not have: a bug, not the client's.
            Err(err) => {
                tracing::error!(error = %err, "path parameters are missing");
                Err(Problem::internal())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_path_segment_that_is_not_utf_8_is_a_400_problem() {
        let app = Router::new().route(
            "/things/{id}",
            get(|ApiPath(id): ApiPath<String>| async move { id }),
        );
        let answer = |uri: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(axum::http::Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap()
            }
        };
        let bad = answer("/things/%FF").await;
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.headers()["content-type"], "application/problem+json");
        let body = axum::body::to_bytes(bad.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "malformed_request");
        assert_eq!(answer("/things/caf%C3%A9").await.status(), 200);
    }
}
