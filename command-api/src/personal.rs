//! Personal data on the write side: sealed on the way in, opened on the way out.
//!
//! A booking's `customer` is checked before its command runs and sealed with the customer's key
//! first thing in it, so its event and the stored `Idempotency-Key` answer only ever hold the
//! envelope (`eventstore::personal` explains the design). The answer is opened just before it is
//! sent, fresh or replayed: data whose key erasure destroyed shows as `{"erased": true}`.
//! Nothing here logs a value, and refusals name the field, never its content.

use api::views::CustomerView;
use domain::ids::{CustomerId, TenantId};
use domain::personal::{PersonalData, Sealed};
use eventstore::personal::{self, PersonalError};
use platform::Problem;
use platform::problem::FieldError;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::error::CommandError;

/// `customer` of a booking body, checked: `None` when absent or empty (nothing to seal).
pub fn checked(customer: Option<&PersonalData>) -> Result<Option<&PersonalData>, Problem> {
    let Some(data) = customer.filter(|data| !data.is_empty()) else {
        return Ok(None);
    };
    let problems = data.problems();
    if problems.is_empty() {
        return Ok(Some(data));
    }
    Err(Problem::validation(
        problems
            .into_iter()
            .map(|invalid| FieldError {
                field: format!("customer.{}", invalid.field),
                message: invalid.message.to_owned(),
            })
            .collect(),
    ))
}

/// Seals `data` with the key of `customer` (made now if it has none), in the command's
/// transaction: after its `Idempotency-Key` is claimed (a retry answered from the stored answer
/// makes no key), and undone with it when the command is refused. A booking that commits after
/// a concurrent erasure of its customer was given after it, and keeps its data under the new key.
pub async fn seal(
    conn: &mut PgConnection,
    tenant: &TenantId,
    customer: &CustomerId,
    data: &PersonalData,
) -> Result<Sealed, CommandError> {
    let sealed = async {
        let key = personal::key_for(conn, tenant.as_str(), &customer.0).await?;
        personal::seal(&key, tenant.as_str(), &customer.0, data)
    }
    .await;
    sealed.map_err(|err| match err {
        PersonalError::Database(err) => err.into(),
        PersonalError::Crypto(what) => CommandError::Defect(what),
    })
}

/// Opens the sealed `booking.customer` of an answer in place (an answer without one is left as
/// it is).
pub async fn open_answer(
    pool: &PgPool,
    tenant: &TenantId,
    body: &mut Value,
) -> Result<(), CommandError> {
    let Some(booking) = body.get_mut("booking") else {
        return Ok(());
    };
    let Some(sealed) = booking
        .get("customer")
        .and_then(|c| serde_json::from_value::<CustomerView>(c.clone()).ok())
        .and_then(|c| c.sealed().cloned())
    else {
        return Ok(());
    };
    let customer = booking
        .get("customer_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let opened = personal::open_all(pool, tenant.as_str(), &[(customer.as_str(), &sealed)])
        .await?
        .pop()
        .flatten();
    let shown = serde_json::to_value(CustomerView::opened(opened))
        .map_err(|_| CommandError::Defect("an opened customer does not serialize"))?;
    if let Some(slot) = booking.get_mut("customer") {
        *slot = shown;
    }
    Ok(())
}
