//! The identity provider's public keys: a JWKS fetched from a URL or read from a file, kept by
//! `kid`, fetched again periodically and, at a bounded rate, when a token names an unknown key
//! (so a key the provider has just rotated in is found without waiting for the next period).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::settings::{ConfigError, JwksSource};

/// A JWKS larger than this is refused (real ones are a few KiB).
const MAX_JWKS_BYTES: usize = 1 << 20;
/// The longest a fetch may take; a request waiting for an unknown key waits at most this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A key usable for one algorithm.
#[derive(Clone)]
pub(crate) struct Key {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// The keys as last fetched, with the document they came from (to tell whether a fetch changed
/// anything).
#[derive(Default)]
struct KeySet {
    document: Vec<u8>,
    by_kid: HashMap<String, Key>,
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub(crate) struct Jwks {
    source: JwksSource,
    min_refresh: Duration,
    http: Option<HttpClient>,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching, so concurrent misses cause one fetch; holds when the last one began.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    /// Reads the keys once. A file that cannot be read or parsed is a configuration error; an
    /// identity provider that does not answer yet is not (the next refresh tries again).
    pub async fn load(source: &JwksSource, min_refresh: Duration) -> Result<Self, ConfigError> {
        let http = match source {
            JwksSource::File(_) => None,
            JwksSource::Url(url) => Some(http_client(url)?),
        };
        let jwks = Self {
            source: source.clone(),
            min_refresh,
            http,
            keys: RwLock::new(Arc::default()),
            fetching: tokio::sync::Mutex::new(None),
        };
        match (jwks.refresh(false).await, &jwks.source) {
            (Ok(_), _) => {}
            (Err(err), JwksSource::File(path)) => {
                return Err(ConfigError(format!(
                    "BOOKINGS_JWKS_URL: cannot use {}: {err}",
                    path.display()
                )));
            }
            (Err(err), JwksSource::Url(_)) => {
                tracing::warn!(error = %err, "the JWKS could not be fetched; RS256/ES256 tokens are refused until it can");
            }
        }
        Ok(jwks)
    }

    /// The key named `kid`, if known.
    pub fn get(&self, kid: &str) -> Option<Key> {
        self.current().by_kid.get(kid).cloned()
    }

    fn current(&self) -> Arc<KeySet> {
        // A poisoned lock only means a writer panicked between two whole-Arc swaps.
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Fetches the set again: always when `rate_limited` is false (the periodic refresh),
    /// otherwise only if the last fetch began at least `min_refresh` ago. `Ok(true)` when the
    /// keys changed.
    pub async fn refresh(&self, rate_limited: bool) -> Result<bool, String> {
        let mut last = self.fetching.lock().await;
        if rate_limited && last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        let document = self.fetch().await?;
        if document == self.current().document {
            return Ok(false);
        }
        let set = parse(document)?;
        tracing::info!(keys = set.by_kid.len(), "JWKS loaded");
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        Ok(true)
    }

    async fn fetch(&self) -> Result<Vec<u8>, String> {
        match (&self.source, &self.http) {
            (JwksSource::File(path), _) => {
                let bytes = tokio::fs::read(path).await.map_err(|err| err.to_string())?;
                if bytes.len() > MAX_JWKS_BYTES {
                    return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
                }
                Ok(bytes)
            }
            (JwksSource::Url(url), Some(http)) => {
                let fetch = async {
                    let uri: axum::http::Uri = url.parse().map_err(|err| format!("{err}"))?;
                    let response = http.get(uri).await.map_err(|err| format!("{err}"))?;
                    if !response.status().is_success() {
                        return Err(format!("answered {}", response.status()));
                    }
                    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
                        .collect()
                        .await
                        .map_err(|err| format!("{err}"))?;
                    Ok(body.to_bytes().to_vec())
                };
                tokio::time::timeout(FETCH_TIMEOUT, fetch)
                    .await
                    .map_err(|_| format!("took longer than {FETCH_TIMEOUT:?}"))?
                    .map_err(|err| format!("GET {url}: {err}"))
            }
            (JwksSource::Url(_), None) => Err("no HTTP client".to_owned()),
        }
    }
}

/// An HTTP client for the JWKS: TLS with the system's trust roots and the ring provider (which
/// the NATS client already brings) for `https`, none for `http`.
fn http_client(url: &str) -> Result<HttpClient, ConfigError> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| ConfigError(format!("cannot set up TLS for the JWKS: {err}")))?;
    let tls = if url.starts_with("https://") {
        builder
            .with_native_roots()
            .map_err(|err| {
                ConfigError(format!(
                    "BOOKINGS_JWKS_URL is https but no trusted root certificates were found \
                     (install ca-certificates): {err}"
                ))
            })?
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The usable signing keys of a JWKS document: RSA keys for RS256 and P-256 keys for ES256,
/// each with a `kid`. Anything else (symmetric keys, encryption keys, other algorithms) is left
/// out, so a JWKS can never widen what is accepted.
fn parse(document: Vec<u8>) -> Result<KeySet, String> {
    let set: JwkSet =
        serde_json::from_slice(&document).map_err(|err| format!("not a JWKS: {err}"))?;
    let by_kid = set
        .keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let alg = algorithm(jwk)?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, Key { alg, key }))
        })
        .collect();
    Ok(KeySet { document, by_kid })
}

fn algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(ref usage) if *usage != PublicKeyUse::Signature) {
        return None;
    }
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(_) => None,
    }
}
