//! Opening the personal data of what an answer shows: bookings (`customer`, sealed in
//! `read.bookings` as the event sealed it) and a booking's history (`data.customer` of its
//! `BookingPlaced`). One query fetches the keys of a whole page; a key that erasure destroyed is
//! simply not found, and the data shows as `{"erased": true}` (`eventstore::personal` explains
//! the design). Call it only for answers whose caller may see the booking: admins, viewers
//! and the owner.

use api::views::CustomerView;
use domain::ids::TenantId;
use domain::personal::Sealed;
use serde_json::Value;
use sqlx::PgPool;

use super::StoreError;
use crate::views::{BookingView, HistoryItem};

/// Opens the sealed `customer` of each booking in place.
pub async fn open_bookings(
    pool: &PgPool,
    tenant: &TenantId,
    views: &mut [BookingView],
) -> Result<(), StoreError> {
    let sealed: Vec<(usize, &str, Sealed)> = views
        .iter()
        .enumerate()
        .filter_map(|(i, view)| {
            let sealed = view.customer.as_ref()?.sealed()?.clone();
            Some((i, view.customer_id.as_str(), sealed))
        })
        .collect();
    if sealed.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(&str, &Sealed)> = sealed.iter().map(|(_, c, s)| (*c, s)).collect();
    let opened = eventstore::personal::open_all(pool, tenant.as_str(), &pairs).await?;
    let places: Vec<usize> = sealed.iter().map(|(i, _, _)| *i).collect();
    for (i, data) in places.into_iter().zip(opened) {
        if let Some(view) = views.get_mut(i) {
            view.customer = Some(CustomerView::opened(data));
        }
    }
    Ok(())
}

/// Opens the sealed `customer` in the events of `customer`'s booking in place (only
/// `BookingPlaced` carries one).
pub async fn open_history(
    pool: &PgPool,
    tenant: &TenantId,
    customer: &str,
    items: &mut [HistoryItem],
) -> Result<(), StoreError> {
    let sealed: Vec<(usize, Sealed)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let value = item.data.get("customer")?.clone();
            serde_json::from_value::<Sealed>(value).ok().map(|s| (i, s))
        })
        .collect();
    if sealed.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(&str, &Sealed)> = sealed.iter().map(|(_, s)| (customer, s)).collect();
    let opened = eventstore::personal::open_all(pool, tenant.as_str(), &pairs).await?;
    for ((i, _), data) in sealed.iter().zip(opened) {
        let shown = serde_json::to_value(CustomerView::opened(data))
            .map_err(|err| StoreError::corrupt("events", err))?;
        if let Some(slot) = items
            .get_mut(*i)
            .and_then(|item| item.data.get_mut("customer"))
        {
            *slot = shown;
        }
    }
    Ok(())
}

/// A `customer` column value as the view holds it (still sealed); `None` when the booking has
/// no personal data.
pub fn sealed_column(value: Option<Value>) -> Result<Option<CustomerView>, StoreError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value::<Sealed>(value)
            .map(|sealed| Some(CustomerView::Sealed(sealed)))
            .map_err(|err| StoreError::corrupt("read.bookings", format!("customer: {err}"))),
    }
}
