//! `/v1/customers/{customer_id}/erase` (admins): forget a customer's personal data.
//!
//! `202`: the key is destroyed when the answer arrives, so every answer from then on shows the
//! customer's bookings with `customer: {"erased": true}`; the `CustomerErased` event follows
//! through the relay and the projectors like any other. An unknown customer is erased all the
//! same (customer ids are opaque: a `404` would only tell which ones exist).

use api::problems;
use api::views::{Nothing, Written};
use domain::ids::CustomerId;
use platform::Problem;
use platform::path::ApiPath;
use serde::Deserialize;
use utoipa::IntoParams;

use super::IdempotencyKey;
use super::resources::Commander;
use crate::commands::EraseCustomer;
use crate::reply::Reply;

/// `/v1/customers/{customer_id}/…`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerPath {
    /// The customer (for a client, the `sub` of its token); 1 to 255 characters.
    customer_id: String,
}

problems!(EraseProblems = [] + AUTHENTICATED, PATH, COMMAND);

/// Erases a customer's personal data (name, email, phone) in every booking of the tenant, for
/// good: it is kept only encrypted with the customer's key, and the key is destroyed. Bookings,
/// their history and replays keep working; they show `customer: {"erased": true}`. Erasing
/// again is harmless and answers the same way.
#[utoipa::path(
    post,
    path = "/v1/customers/{customer_id}/erase",
    operation_id = "erase_customer",
    tag = "customers",
    params(CustomerPath, IdempotencyKey),
    responses(
        (status = 202, description = "Erased", body = Written<Nothing>),
        EraseProblems,
    ),
)]
pub async fn erase(cx: Commander, ApiPath(path): ApiPath<CustomerPath>) -> Result<Reply, Problem> {
    let customer = path.customer_id;
    if customer.is_empty() || customer.len() > 255 {
        return Err(Problem::invalid_field(
            "customer_id",
            "must be 1 to 255 characters",
        ));
    }
    // The customer id is opaque (never personal data), so it may be part of what the key
    // fingerprint hashes.
    let request = cx.request(&format!("POST /v1/customers/{customer}/erase"), &())?;
    let command = EraseCustomer::new(&cx.actor.tenant, CustomerId(customer));
    cx.run(&request, command).await
}
