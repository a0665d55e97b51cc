//! Bearer-token authentication and authorization.
//!
//! Tokens are JWTs with `sub`, `tenant`, `roles` and `exp` (and optionally `nbf`, `iss`, `aud`):
//! HS256 signed with the shared secret, or RS256/ES256 signed by an identity provider whose keys
//! are published as a JWKS (`keys.rs`, `jwks.rs`, `settings.rs`). The middleware
//! [`authenticate`] verifies the token, applies the rate limits and puts the [`Actor`] into the
//! request's extensions, where handlers take it with the `Actor` extractor. [`RequireRole`] decides, per route, whether the
//! actor's roles allow the request, before the handler reads a byte of the body.

mod jwks;
mod keys;
mod require;
mod settings;

use api::ErrorCode;
use domain::ids::TenantId;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Weak;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub use keys::{LEEWAY_SECONDS, TokenError, TokenKeys};
pub use require::RequireRole;
pub use settings::{
    AuthSettings, ConfigError, JwksSettings, JwksSource, JwtSecret, MIN_SECRET_BYTES,
    SigningSettings,
};

use crate::problem::Problem;
use crate::rate_limit::{Decision, RateLimitSettings, RateLimiter, Scope};

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages resources and any booking of its tenant.
    Admin,
    /// Books, confirms, cancels and reschedules its own bookings.
    Client,
    /// Reads everything of its tenant.
    Viewer,
}

impl Role {
    /// The role's name in tokens.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Client => "client",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "client" => Ok(Role::Client),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?} (admin, client or viewer)")),
        }
    }
}

/// The claims of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: TenantId,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub exp: i64,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub tenant: TenantId,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    /// `403 forbidden` unless the actor has one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.iter().any(|role| self.has(*role)) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this needs one of the roles {}",
                roles
                    .iter()
                    .map(|r| format!("{r:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// What the authentication middleware needs.
#[derive(Clone, Debug)]
pub struct AuthState {
    pub keys: TokenKeys,
    pub limiter: RateLimiter,
}

/// How often idle rate-limit keys are dropped (and a due JWKS refresh is looked at).
const HOUSEKEEPING: Duration = Duration::from_secs(10);

impl AuthState {
    /// The verifier and limits the settings describe, with their housekeeping running: idle
    /// rate-limit keys are dropped every few seconds and the JWKS is fetched again when due.
    /// The housekeeping task holds weak references only, so it ends with the last clone of this
    /// state (when the service's router is dropped).
    pub async fn start(
        settings: &AuthSettings,
        limits: RateLimitSettings,
    ) -> Result<Self, ConfigError> {
        let state = Self {
            keys: TokenKeys::from_settings(settings).await?,
            limiter: RateLimiter::new(limits),
        };
        let refresh = settings.jwks.source().map(|_| settings.jwks.refresh());
        tokio::spawn(housekeeping(
            state.keys.downgrade(),
            state.limiter.downgrade(),
            refresh,
        ));
        Ok(state)
    }
}

async fn housekeeping(
    keys: Weak<keys::Inner>,
    limiter: Weak<crate::rate_limit::Inner>,
    jwks_refresh: Option<Duration>,
) {
    let mut refreshed = Instant::now();
    loop {
        tokio::time::sleep(HOUSEKEEPING.min(jwks_refresh.unwrap_or(HOUSEKEEPING))).await;
        let (Some(keys), Some(limiter)) =
            (TokenKeys::upgrade(&keys), RateLimiter::upgrade(&limiter))
        else {
            return;
        };
        limiter.housekeep();
        if jwks_refresh.is_some_and(|every| refreshed.elapsed() >= every) {
            refreshed = Instant::now();
            keys.refresh_jwks().await;
        }
    }
}

/// Middleware: verifies the bearer token, applies the token's and its tenant's rate limits, and
/// stores the [`Actor`] for the handler. A request without a valid token is limited per client
/// address before it is answered `401`, so guessing and floods of bad tokens are throttled too.
/// Rate-limit headers are added to every answer.
pub async fn authenticate(
    State(auth): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = match bearer_token(request.headers()) {
        Ok(token) => token,
        Err(problem) => return refuse(&auth, client_address(&request), problem),
    };
    let claims = match auth.keys.verify(token, Utc::now()).await {
        Ok(claims) => claims,
        Err(err) => {
            let problem = Problem::unauthenticated(err.to_string());
            return refuse(&auth, client_address(&request), problem);
        }
    };
    let decision = auth
        .limiter
        .check_token(claims.tenant.as_str(), &claims.sub);
    if let Decision::Denied { scope, .. } = decision {
        return decision.apply(rate_limited(scope).into_response());
    }
    request.extensions_mut().insert(Actor {
        id: claims.sub,
        tenant: claims.tenant,
        roles: claims.roles,
    });
    decision.apply(next.run(request).await)
}

/// The answer to a request without a valid token: `401`, or `429` once its address is over its
/// budget.
fn refuse(auth: &AuthState, address: IpAddr, problem: Problem) -> Response {
    let decision = auth.limiter.check_unauthenticated(address);
    let response = match decision {
        Decision::Denied { scope, .. } => rate_limited(scope).into_response(),
        _ => problem.into_response(),
    };
    decision.apply(response)
}

fn rate_limited(scope: Scope) -> Problem {
    let detail = match scope {
        Scope::Token => "this token has used its request budget; retry after the given delay",
        Scope::Tenant => "this tenant has used its request budget; retry after the given delay",
        Scope::ClientAddress => {
            "too many requests without a valid token from this address; retry after the given delay"
        }
    };
    Problem::new(ErrorCode::RateLimited, detail)
}

/// The peer's address when the server records it (`into_make_service_with_connect_info`);
/// otherwise every unauthenticated request shares one budget.
fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, Problem> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| Problem::unauthenticated("an Authorization: Bearer token is required"))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthenticated("the Authorization header is not readable"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            Problem::unauthenticated("the Authorization header must be `Bearer <token>`")
        })
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or_else(|| Problem::unauthenticated("an Authorization: Bearer token is required"))
    }
}

/// The `token` command of command-api and query-api: a token signed with the services' HS256
/// secret, under the same rules (see [`SigningSettings::secret`]).
#[derive(Clone, Debug, clap::Args)]
pub struct TokenCommand {
    /// The tenant the token is for (1 to 64 of a-z, A-Z, 0-9, _ and -)
    #[arg(long)]
    pub tenant: TenantId,
    /// A role of the token (repeat for several)
    #[arg(long = "role", value_name = "ROLE", required = true, value_enum)]
    pub roles: Vec<Role>,
    /// The token's subject (default: `{tenant}-{first role}`)
    #[arg(long)]
    pub sub: Option<String>,
    /// Hours until the token expires
    #[arg(long, default_value_t = 24)]
    pub hours: i64,
    #[command(flatten)]
    pub signing: SigningSettings,
}

impl TokenCommand {
    /// The signed token.
    pub fn sign(&self) -> Result<String, ConfigError> {
        let secret = self.signing.secret()?;
        let first = self.roles.first().map_or("none", |role| role.name());
        let claims = Claims {
            sub: self
                .sub
                .clone()
                .unwrap_or_else(|| format!("{}-{first}", self.tenant)),
            tenant: self.tenant.clone(),
            roles: self.roles.clone(),
            exp: Utc::now().timestamp() + self.hours * 3600,
        };
        TokenKeys::new(secret.expose())
            .sign(&claims)
            .map_err(|err| ConfigError(format!("cannot sign the token: {err}")))
    }
}
