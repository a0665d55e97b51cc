//! Rate limits, in process, with `governor` (GCRA, the token bucket's exact equivalent):
//! per token (tenant and subject), per tenant (the total of all its tokens), and per client IP
//! for requests that are not authenticated (no token, or a bad one).
//!
//! Each instance limits on its own, so N instances behind a balancer allow up to N times the
//! rate; that is the usual trade against a network round trip on every request. Keys are
//! forgotten by [`RateLimiter::housekeep`] once their bucket is full again (it then carries no
//! information), so memory follows the clients active in the last few seconds.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::HeaderValue;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};

/// One limit: `per_second` sustained, `burst` at once; `per_second == 0` turns it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub per_second: u32,
    pub burst: u32,
}

impl Limit {
    pub const OFF: Limit = Limit {
        per_second: 0,
        burst: 0,
    };
}

/// The three limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_PER_SECOND`, `RATE_LIMIT_BURST` (default 1000, 2000): each token.
    pub token: Limit,
    /// `RATE_LIMIT_TENANT_PER_SECOND`, `RATE_LIMIT_TENANT_BURST` (default 5000, 10000): all of a
    /// tenant's tokens together.
    pub tenant: Limit,
    /// `RATE_LIMIT_IP_PER_SECOND`, `RATE_LIMIT_IP_BURST` (default 20, 40): requests without a
    /// valid token, per client address (IPv6 per /64).
    pub ip: Limit,
}

impl RateLimitSettings {
    /// No limits at all (tests).
    pub const OFF: RateLimitSettings = RateLimitSettings {
        token: Limit::OFF,
        tenant: Limit::OFF,
        ip: Limit::OFF,
    };

    /// The defaults above.
    pub const DEFAULT: RateLimitSettings = RateLimitSettings {
        token: Limit {
            per_second: 1000,
            burst: 2000,
        },
        tenant: Limit {
            per_second: 5000,
            burst: 10_000,
        },
        ip: Limit {
            per_second: 20,
            burst: 40,
        },
    };
}

/// The six settings, two per limit (per second, burst): (variable, flag, default, help). The
/// defaults are [`RateLimitSettings::DEFAULT`]'s (a test checks they agree).
const SETTINGS: [[Setting; 2]; 3] = [
    [
        (
            "RATE_LIMIT_PER_SECOND",
            "rate-limit-per-second",
            "1000",
            "Requests per second sustained per token (tenant and `sub`); 0 = no limit",
        ),
        (
            "RATE_LIMIT_BURST",
            "rate-limit-burst",
            "2000",
            "Requests at once per token",
        ),
    ],
    [
        (
            "RATE_LIMIT_TENANT_PER_SECOND",
            "rate-limit-tenant-per-second",
            "5000",
            "Requests per second sustained per tenant, all its tokens together; 0 = no limit",
        ),
        (
            "RATE_LIMIT_TENANT_BURST",
            "rate-limit-tenant-burst",
            "10000",
            "Requests at once per tenant",
        ),
    ],
    [
        (
            "RATE_LIMIT_IP_PER_SECOND",
            "rate-limit-ip-per-second",
            "20",
            "Requests per second sustained per client address (IPv6: per /64) without a valid \
             token; 0 = no limit",
        ),
        (
            "RATE_LIMIT_IP_BURST",
            "rate-limit-ip-burst",
            "40",
            "Requests at once per client address without a valid token",
        ),
    ],
];

type Setting = (&'static str, &'static str, &'static str, &'static str);

// Written by hand rather than derived: the three limits keep their `Limit` shape (the limiter and
// tests use them so), while the command line has six flat settings. Each argument's id is its
// variable's name.
impl clap::Args for RateLimitSettings {
    fn augment_args(command: clap::Command) -> clap::Command {
        let mut command = command.next_help_heading("Rate limits");
        for (variable, flag, default, help) in SETTINGS.into_iter().flatten() {
            command = command.arg(
                clap::Arg::new(variable)
                    .long(flag)
                    .env(variable)
                    .value_name("N")
                    .help(help)
                    .default_value(default)
                    .value_parser(clap::value_parser!(u32)),
            );
        }
        command
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for RateLimitSettings {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let limit = |[per_second, burst]: [Setting; 2]| -> Result<Limit, clap::Error> {
            let value = |variable: &str| {
                matches.get_one::<u32>(variable).copied().ok_or_else(|| {
                    clap::Error::raw(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        format!("{variable} is missing"),
                    )
                })
            };
            Ok(Limit {
                per_second: value(per_second.0)?,
                burst: value(burst.0)?,
            })
        };
        let [token, tenant, ip] = SETTINGS;
        Ok(Self {
            token: limit(token)?,
            tenant: limit(tenant)?,
            ip: limit(ip)?,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Token,
    Tenant,
    ClientAddress,
}

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    Unlimited,
    Allowed {
        limit: u64,
        remaining: u64,
        reset_s: u64,
    },
    Denied {
        limit: u64,
        retry_after_s: u64,
        scope: Scope,
    },
}

type Keyed<K> = Gcra<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One keyed limit.
struct Buckets<K: std::hash::Hash + Eq + Clone> {
    gcra: Keyed<K>,
    quota: Quota,
    scope: Scope,
}

impl<K: std::hash::Hash + Eq + Clone> Buckets<K> {
    fn new(limit: Limit, scope: Scope) -> Option<Self> {
        let per_second = NonZeroU32::new(limit.per_second)?;
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Some(Self {
            gcra: Gcra::dashmap(quota).with_middleware::<StateInformationMiddleware>(),
            quota,
            scope,
        })
    }

    fn check(&self, key: &K) -> Decision {
        let limit = u64::from(self.quota.burst_size().get());
        match self.gcra.check_key(key) {
            Ok(state) => {
                let remaining = u64::from(state.remaining_burst_capacity());
                let refill = self.quota.replenish_interval() * (limit - remaining) as u32;
                Decision::Allowed {
                    limit,
                    remaining,
                    reset_s: refill.as_secs_f64().ceil() as u64,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.gcra.clock().now());
                Decision::Denied {
                    limit,
                    retry_after_s: (wait.as_secs_f64().ceil() as u64).max(1),
                    scope: self.scope,
                }
            }
        }
    }

    fn housekeep(&self) {
        self.gcra.retain_recent();
        self.gcra.shrink_to_fit();
    }
}

/// The three limits, shared by every request of a service.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    token: Option<Buckets<u64>>,
    tenant: Option<Buckets<u64>>,
    ip: Option<Buckets<IpAddr>>,
    /// Token and tenant keys are keyed hashes of the names: a lookup allocates nothing, and
    /// with a per-process random key nobody can pick a name that lands on someone else's bucket.
    hasher: RandomState,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("token", &self.inner.token.as_ref().map(|b| b.quota))
            .field("tenant", &self.inner.tenant.as_ref().map(|b| b.quota))
            .field("ip", &self.inner.ip.as_ref().map(|b| b.quota))
            .finish()
    }
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                token: Buckets::new(settings.token, Scope::Token),
                tenant: Buckets::new(settings.tenant, Scope::Tenant),
                ip: Buckets::new(settings.ip, Scope::ClientAddress),
                hasher: RandomState::new(),
            }),
        }
    }

    /// An authenticated request of `sub` in `tenant`: takes one from the token's and the
    /// tenant's budget, and reports the closer of the two limits.
    pub fn check_token(&self, tenant: &str, sub: &str) -> Decision {
        let inner = &self.inner;
        let token = inner.token.as_ref().map_or(Decision::Unlimited, |b| {
            b.check(&inner.hasher.hash_one((tenant, sub)))
        });
        if matches!(token, Decision::Denied { .. }) {
            return token;
        }
        let tenant = inner.tenant.as_ref().map_or(Decision::Unlimited, |b| {
            b.check(&inner.hasher.hash_one(tenant))
        });
        token.closer(tenant)
    }

    /// A request without a valid token from `ip`.
    pub fn check_unauthenticated(&self, ip: IpAddr) -> Decision {
        self.inner
            .ip
            .as_ref()
            .map_or(Decision::Unlimited, |b| b.check(&client_key(ip)))
    }

    /// Forgets every key whose bucket is full again; call it every few seconds.
    pub fn housekeep(&self) {
        let inner = &self.inner;
        if let Some(b) = &inner.token {
            b.housekeep();
        }
        if let Some(b) = &inner.tenant {
            b.housekeep();
        }
        if let Some(b) = &inner.ip {
            b.housekeep();
        }
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| Self { inner })
    }

    /// How many keys are held (tokens, tenants, addresses).
    pub fn keys(&self) -> (usize, usize, usize) {
        let inner = &self.inner;
        (
            inner.token.as_ref().map_or(0, |b| b.gcra.len()),
            inner.tenant.as_ref().map_or(0, |b| b.gcra.len()),
            inner.ip.as_ref().map_or(0, |b| b.gcra.len()),
        )
    }
}

/// IPv6 clients usually hold a whole /64, so that is one client; an IPv4-mapped address is its
/// IPv4 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl Decision {
    /// Of two checks of one request: a denial wins (the longer wait if both), otherwise the one
    /// with less left.
    fn closer(self, other: Decision) -> Decision {
        match (self, other) {
            (Decision::Unlimited, other) | (other, Decision::Unlimited) => other,
            (
                Decision::Denied {
                    retry_after_s: a, ..
                },
                Decision::Denied {
                    retry_after_s: b, ..
                },
            ) => {
                if a >= b {
                    self
                } else {
                    other
                }
            }
            (denied @ Decision::Denied { .. }, _) | (_, denied @ Decision::Denied { .. }) => denied,
            (Decision::Allowed { remaining: a, .. }, Decision::Allowed { remaining: b, .. }) => {
                if a <= b { self } else { other }
            }
        }
    }

    /// Adds `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (and `Retry-After` when
    /// denied) to a response.
    pub fn apply(self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        match self {
            Decision::Unlimited => {}
            Decision::Allowed {
                limit,
                remaining,
                reset_s,
            } => {
                headers.insert("ratelimit-limit", HeaderValue::from(limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
                headers.insert("ratelimit-reset", HeaderValue::from(reset_s));
            }
            Decision::Denied {
                limit,
                retry_after_s,
                ..
            } => {
                headers.insert("ratelimit-limit", HeaderValue::from(limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(0u64));
                headers.insert("ratelimit-reset", HeaderValue::from(retry_after_s));
                headers.insert("retry-after", HeaderValue::from(retry_after_s));
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_settings_default_to_the_documented_limits_and_read_their_variables() {
        assert_eq!(
            crate::settings::defaults::<RateLimitSettings>(),
            RateLimitSettings::DEFAULT
        );
        let command = <RateLimitSettings as clap::Args>::augment_args(clap::Command::new("t"))
            .no_binary_name(true)
            .mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from([
                "--rate-limit-tenant-per-second=0",
                "--rate-limit-ip-burst=7",
            ])
            .expect("valid flags");
        let settings =
            <RateLimitSettings as clap::FromArgMatches>::from_arg_matches(&matches).expect("ok");
        assert_eq!(settings.tenant.per_second, 0);
        assert_eq!(
            settings.ip,
            Limit {
                per_second: 20,
                burst: 7
            }
        );
        assert_eq!(settings.token, RateLimitSettings::DEFAULT.token);
        let variables: Vec<String> =
            <RateLimitSettings as clap::Args>::augment_args(clap::Command::new("t"))
                .get_arguments()
                .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
                .collect();
        assert_eq!(
            variables,
            [
                "RATE_LIMIT_PER_SECOND",
                "RATE_LIMIT_BURST",
                "RATE_LIMIT_TENANT_PER_SECOND",
                "RATE_LIMIT_TENANT_BURST",
                "RATE_LIMIT_IP_PER_SECOND",
                "RATE_LIMIT_IP_BURST"
            ]
        );
    }

    fn limits(token: (u32, u32), tenant: (u32, u32), ip: (u32, u32)) -> RateLimiter {
        let limit = |(per_second, burst)| Limit { per_second, burst };
        RateLimiter::new(RateLimitSettings {
            token: limit(token),
            tenant: limit(tenant),
            ip: limit(ip),
        })
    }

    fn denied(decision: Decision) -> Option<Scope> {
        match decision {
            Decision::Denied { scope, .. } => Some(scope),
            _ => None,
        }
    }

    #[test]
    fn a_token_gets_its_burst_then_is_denied_with_a_retry_delay() {
        let limiter = limits((1, 3), (0, 0), (0, 0));
        for remaining in [2, 1, 0] {
            assert!(matches!(
                limiter.check_token("acme", "alice"),
                Decision::Allowed { limit: 3, remaining: r, .. } if r == remaining
            ));
        }
        assert_eq!(
            limiter.check_token("acme", "alice"),
            Decision::Denied {
                limit: 3,
                retry_after_s: 1,
                scope: Scope::Token
            }
        );
        // Another token, and the same subject in another tenant, have their own budgets.
        assert!(denied(limiter.check_token("acme", "bob")).is_none());
        assert!(denied(limiter.check_token("globex", "alice")).is_none());
    }

    #[test]
    fn a_tenant_budget_is_shared_by_all_its_tokens() {
        let limiter = limits((100, 100), (1, 3), (0, 0));
        for sub in ["a", "b", "c"] {
            assert!(denied(limiter.check_token("acme", sub)).is_none());
        }
        assert_eq!(
            denied(limiter.check_token("acme", "d")),
            Some(Scope::Tenant)
        );
        assert!(denied(limiter.check_token("globex", "a")).is_none());
    }

    #[test]
    fn the_answer_reports_the_closer_of_the_token_and_tenant_limits() {
        let limiter = limits((100, 10), (100, 50), (0, 0));
        assert!(matches!(
            limiter.check_token("acme", "a"),
            Decision::Allowed {
                limit: 10,
                remaining: 9,
                ..
            }
        ));
    }

    #[test]
    fn unauthenticated_requests_are_limited_per_address_and_ipv6_per_64() {
        let limiter = limits((0, 0), (0, 0), (1, 2));
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(denied(limiter.check_unauthenticated(one)).is_none());
        assert!(denied(limiter.check_unauthenticated(one)).is_none());
        assert_eq!(
            denied(limiter.check_unauthenticated(one)),
            Some(Scope::ClientAddress)
        );
        assert!(denied(limiter.check_unauthenticated("192.0.2.2".parse().expect("ip"))).is_none());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert!(denied(limiter.check_unauthenticated(mapped)).is_some());
        for host in ["2001:db8::1", "2001:db8::2"] {
            assert!(denied(limiter.check_unauthenticated(host.parse().expect("ip"))).is_none());
        }
        assert!(
            denied(limiter.check_unauthenticated("2001:db8::ffff".parse().expect("ip"))).is_some()
        );
    }

    #[test]
    fn a_zero_rate_disables_a_limit() {
        let limiter = RateLimiter::new(RateLimitSettings::OFF);
        for _ in 0..10 {
            assert_eq!(limiter.check_token("acme", "a"), Decision::Unlimited);
            assert_eq!(
                limiter.check_unauthenticated(IpAddr::from([127, 0, 0, 1])),
                Decision::Unlimited
            );
        }
    }

    #[test]
    fn housekeeping_forgets_keys_whose_bucket_is_full_again() {
        let limiter = limits((1000, 1), (1000, 1), (1000, 1));
        for i in 0..500u32 {
            limiter.check_token("acme", &i.to_string());
            limiter.check_unauthenticated(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(limiter.keys(), (500, 1, 500));
        // One cell refills in 1 ms.
        std::thread::sleep(std::time::Duration::from_millis(20));
        limiter.housekeep();
        assert_eq!(limiter.keys(), (0, 0, 0));
    }
}
