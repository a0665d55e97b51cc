//! [`RequireRole`]: the per-route role check, as a layer, so it runs after authentication and
//! before the handler's extractors: a caller without the role gets `403` whatever its body or
//! query string, and the body is never read.

use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::{Either, Ready, ready};
use tower::{Layer, Service};

use super::{Actor, Role};
use crate::problem::Problem;

/// Lets a request through only if its [`Actor`] has one of the roles; use with
/// `MethodRouter::route_layer` (inside the authentication layer).
#[derive(Clone, Copy, Debug)]
pub struct RequireRole {
    roles: &'static [Role],
}

impl RequireRole {
    pub const fn any(roles: &'static [Role]) -> Self {
        Self { roles }
    }

    fn check(&self, request: &Request) -> Result<(), Problem> {
        request
            .extensions()
            .get::<Actor>()
            .ok_or_else(|| Problem::unauthenticated("an Authorization: Bearer token is required"))?
            .require_any(self.roles)
    }
}

impl<S> Layer<S> for RequireRole {
    type Service = RequireRoleService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireRoleService {
            require: *self,
            inner,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequireRoleService<S> {
    require: RequireRole,
    inner: S,
}

impl<S> Service<Request> for RequireRoleService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.require.check(&request) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(problem) => Either::Right(ready(Ok(problem.into_response()))),
        }
    }
}
