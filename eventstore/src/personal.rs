//! Personal data in an append-only store: crypto-shredding.
//!
//! # Design
//! API.md asks two things that pull against each other: events are never updated or deleted
//! (and once published, JetStream holds copies nobody can edit), yet after
//! `POST /v1/customers/{id}/erase` no table, event, message, cache entry or log line may hold the
//! customer's personal data in readable form. Two designs reconcile them:
//!
//! - a *forgettable-payload store*: events hold a reference, the data lives in a table whose
//!   row erasure deletes. Every reader of an event must then join that table, and a replay
//!   rebuilds read models from whatever the table holds *now*, not what the event said;
//! - *crypto-shredding* (chosen): the event carries the data itself, sealed with a key of that
//!   customer's own; erasure destroys the key. Events, JetStream messages, read models and
//!   stored command answers all keep their sealed copy untouched, shape and all, and none of
//!   them needs to be found and scrubbed (JetStream's could not be). A replay copies the same
//!   envelopes into the same columns, so `--verify` compares equal before and after an erasure.
//!
//! The cipher is ChaCha20-Poly1305 (an AEAD; `ring`, which the TLS stack already brings),
//! with a random 96-bit nonce per seal (a customer's key seals few messages, far below the
//! random-nonce bound) and the tenant, customer and key id as associated data, so an envelope
//! copied onto another customer's booking does not open.
//!
//! Keys live in `personal_data_keys`, one per (tenant, customer), as 32 plain bytes; erasure
//! deletes the row. The alternative, wrapping each key with a master key from the environment,
//! would keep a database dump alone from revealing anything, but not make erasure any more
//! complete: a backup taken before the erasure holds the wrapped key, and the master key still
//! opens it. So this version keeps keys unwrapped (no secret to distribute to command-api and
//! query-api, nothing to rotate) and relies on the database's own protection; backups must be
//! retained no longer than the erasure promise allows, and a dump must be treated as holding
//! personal data. Wrapping (a `kek_id` column and a `BOOKINGS_PERSONAL_DATA_KEY`) can be added
//! without touching any envelope.
//!
//! Plain personal data exists only in memory on its way in (the booking request, sealed before
//! its command runs) and out (an answer to an admin, a viewer or the owner). Stored answers of
//! `Idempotency-Key` requests keep the envelope and are opened when sent, so a retry after the
//! erasure answers `{"erased": true}` too.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::personal::{PersonalData, Sealed};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// The `alg` of the envelopes this module seals.
pub const ALG: &str = "CHACHA20-POLY1305";

const KEY_LEN: usize = 32;

/// Why personal data could not be sealed (its key could not be had, or the system's random
/// source failed).
#[derive(Debug, thiserror::Error)]
pub enum PersonalError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("sealing personal data failed: {0}")]
    Crypto(&'static str),
}

/// A customer's data key. `Debug` shows its id only.
pub struct DataKey {
    id: Uuid,
    key: LessSafeKey,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    fn from_bytes(id: Uuid, bytes: &[u8]) -> Option<DataKey> {
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes).ok()?;
        Some(DataKey {
            id,
            key: LessSafeKey::new(key),
        })
    }

    pub fn id(&self) -> Uuid {
        self.id
    }
}

/// Binds an envelope to its tenant, customer and key.
fn associated(tenant: &str, customer: &str, key_id: Uuid) -> Vec<u8> {
    format!("{tenant}\n{customer}\n{key_id}").into_bytes()
}

/// Seals `data` of `customer` in `tenant` with its key.
pub fn seal(
    key: &DataKey,
    tenant: &str,
    customer: &str,
    data: &PersonalData,
) -> Result<Sealed, PersonalError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| PersonalError::Crypto("no randomness for a nonce"))?;
    let mut in_out =
        serde_json::to_vec(data).map_err(|_| PersonalError::Crypto("data not serializable"))?;
    key.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated(tenant, customer, key.id)),
            &mut in_out,
        )
        .map_err(|_| PersonalError::Crypto("the cipher refused"))?;
    Ok(Sealed {
        alg: ALG.to_owned(),
        key_id: key.id,
        nonce: STANDARD.encode(nonce),
        ciphertext: STANDARD.encode(in_out),
    })
}

/// Opens an envelope of `customer` in `tenant` with `key`; `None` if it does not open (another
/// customer's, another key's, altered, or of an unknown cipher).
pub fn open(key: &DataKey, tenant: &str, customer: &str, sealed: &Sealed) -> Option<PersonalData> {
    if sealed.alg != ALG || sealed.key_id != key.id {
        return None;
    }
    let nonce = STANDARD.decode(&sealed.nonce).ok()?;
    let mut in_out = STANDARD.decode(&sealed.ciphertext).ok()?;
    let plain = key
        .key
        .open_in_place(
            Nonce::try_assume_unique_for_key(&nonce).ok()?,
            Aad::from(associated(tenant, customer, key.id)),
            &mut in_out,
        )
        .ok()?;
    serde_json::from_slice(plain).ok()
}

/// The key of `customer` in `tenant`, made now if it has none (or had one that was erased).
/// In the caller's transaction: a first booking racing with another for the same customer
/// waits for it on the unique constraint and then uses its key.
pub async fn key_for(
    conn: &mut PgConnection,
    tenant: &str,
    customer: &str,
) -> Result<DataKey, PersonalError> {
    let mut bytes = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PersonalError::Crypto("no randomness for a key"))?;
    // Two statements: a concurrent first booking's key, committed while this insert waited on
    // the unique constraint, is visible to the second statement's snapshot only.
    sqlx::query(
        "insert into personal_data_keys (key_id, tenant_id, customer_id, key)
         values ($1, $2, $3, $4) on conflict (tenant_id, customer_id) do nothing",
    )
    .bind(Uuid::new_v4())
    .bind(tenant)
    .bind(customer)
    .bind(&bytes[..])
    .execute(&mut *conn)
    .await?;
    let (id, key): (Uuid, Vec<u8>) = sqlx::query_as(
        "select key_id, key from personal_data_keys where tenant_id = $1 and customer_id = $2",
    )
    .bind(tenant)
    .bind(customer)
    .fetch_one(&mut *conn)
    .await?;
    DataKey::from_bytes(id, &key).ok_or(PersonalError::Crypto("a stored key of the wrong size"))
}

/// The keys among `ids` that still exist in `tenant` (erased ones are gone).
pub async fn keys(
    conn: impl PgExecutor<'_>,
    tenant: &str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, DataKey>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
        "select key_id, key from personal_data_keys where tenant_id = $1 and key_id = any($2)",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, key)| DataKey::from_bytes(id, &key).map(|key| (id, key)))
        .collect())
}

/// Opens the envelopes of `tenant`, each with the customer it belongs to, in one query for
/// their keys: the data of each, or `None` where it was erased (or does not open).
pub async fn open_all(
    conn: impl PgExecutor<'_>,
    tenant: &str,
    sealed: &[(&str, &Sealed)],
) -> Result<Vec<Option<PersonalData>>, sqlx::Error> {
    let mut ids: Vec<Uuid> = sealed.iter().map(|(_, s)| s.key_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let keys = keys(conn, tenant, &ids).await?;
    Ok(sealed
        .iter()
        .map(|(customer, sealed)| {
            keys.get(&sealed.key_id)
                .and_then(|key| open(key, tenant, customer, sealed))
        })
        .collect())
}

/// Destroys the key of `customer` in `tenant`: everything sealed with it is unreadable from
/// the commit on. The number of keys destroyed (0: there was none left).
pub async fn destroy(
    conn: &mut PgConnection,
    tenant: &str,
    customer: &str,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from personal_data_keys where tenant_id = $1 and customer_id = $2")
            .bind(tenant)
            .bind(customer)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// The id of the event stream of `customer` in `tenant` (where `CustomerErased` goes): customer
/// ids are opaque strings, so the id is derived from them, the same every time and distinct
/// per tenant (tenant ids hold no line break, so the joined name is unambiguous).
pub fn customer_stream(tenant: &str, customer: &str) -> Uuid {
    let name = format!("customer\n{tenant}\n{customer}");
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A stand-in for `data` in what an `Idempotency-Key` fingerprint hashes: its SHA-256, so the
/// plain values never travel to the database as statement parameters (which a slow-query log
/// may print).
pub fn digest(data: &PersonalData) -> String {
    let json = serde_json::to_vec(data).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &json);
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_bytes(Uuid::new_v4(), &[7u8; KEY_LEN]).expect("a 32-byte key")
    }

    fn ada() -> PersonalData {
        PersonalData {
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            phone: None,
        }
    }

    #[test]
    fn sealed_data_opens_for_its_customer_only_and_shows_nothing_in_the_clear() {
        let key = key();
        let sealed = seal(&key, "acme", "alice", &ada()).expect("sealed");
        let json = serde_json::to_string(&sealed).expect("json");
        assert!(!json.contains("Ada") && !json.contains("example"), "{json}");
        assert_eq!(open(&key, "acme", "alice", &sealed), Some(ada()));
        assert_eq!(open(&key, "acme", "bob", &sealed), None);
        assert_eq!(open(&key, "other", "alice", &sealed), None);
        let other = DataKey::from_bytes(key.id, &[8u8; KEY_LEN]).expect("a key");
        assert_eq!(open(&other, "acme", "alice", &sealed), None);
    }

    #[test]
    fn each_seal_has_its_own_nonce_and_an_altered_envelope_does_not_open() {
        let key = key();
        let (a, b) = (
            seal(&key, "acme", "alice", &ada()).expect("sealed"),
            seal(&key, "acme", "alice", &ada()).expect("sealed"),
        );
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        let mut altered = a.clone();
        let mut bytes = STANDARD.decode(&altered.ciphertext).expect("base64");
        bytes[0] ^= 1;
        altered.ciphertext = STANDARD.encode(bytes);
        assert_eq!(open(&key, "acme", "alice", &altered), None);
    }

    #[test]
    fn a_customers_stream_is_stable_and_its_own_per_tenant() {
        let id = customer_stream("acme", "alice");
        assert_eq!(id, customer_stream("acme", "alice"));
        assert_ne!(id, customer_stream("other", "alice"));
        assert_ne!(id, customer_stream("acme", "alice2"));
    }

    #[test]
    fn the_digest_is_stable_and_does_not_contain_the_values() {
        assert_eq!(digest(&ada()), digest(&ada()));
        assert_eq!(digest(&ada()).len(), 64);
        assert_ne!(digest(&ada()), digest(&PersonalData::default()));
    }
}
