//! `POST /v1/customers/{customer_id}/erase`: the customer's personal data is erased by
//! destroying its key (crypto-shredding, see `eventstore::personal`), and the erasure is
//! recorded as `CustomerErased` on the customer's own stream.
//!
//! Idempotent: erasing a customer with no key left changes nothing and answers with the
//! position of the erasure already recorded (or records one, if the customer never had
//! personal data: the request itself is worth an audit entry). A customer booked with personal
//! data again after an erasure has a new key, and a new erasure erases that.

use api::views::Nothing;
use domain::Event;
use domain::event::CustomerErased;
use domain::ids::CustomerId;
use eventstore::ExpectedVersion;
use eventstore::personal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Command, Done, Effect};
use crate::error::CommandError;
use crate::store::{self, CommandMeta, CustomerStream};

/// Erase one customer's personal data in the command's tenant.
#[derive(Clone, Debug)]
pub struct EraseCustomer {
    pub customer_id: CustomerId,
    /// The customer's stream (`eventstore::personal::customer_stream`).
    pub stream: CustomerStream,
}

impl EraseCustomer {
    pub fn new(tenant: &domain::ids::TenantId, customer_id: CustomerId) -> Self {
        let stream = CustomerStream(personal::customer_stream(tenant.as_str(), &customer_id.0));
        Self {
            customer_id,
            stream,
        }
    }
}

impl Command for EraseCustomer {
    type Answer = Nothing;

    /// Erasures of one customer queue behind each other, so the second finds the first's work
    /// done.
    fn streams(&self) -> Vec<Uuid> {
        vec![self.stream.0]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<Nothing>, CommandError> {
        let tenant = meta.tenant.as_str();
        let destroyed = personal::destroy(conn, tenant, &self.customer_id.0).await?;
        let recorded = eventstore::read::load_stream(conn, tenant, self.stream.0).await?;
        if let (0, Some(last)) = (destroyed, recorded.last()) {
            return Ok(Done {
                effect: Effect::Accepted,
                answer: Nothing {},
                position: last.position,
            });
        }
        let expected = recorded.last().map_or(ExpectedVersion::NoStream, |last| {
            ExpectedVersion::Exact(last.stream_version)
        });
        let events = [Event::CustomerErased(CustomerErased {
            customer_id: self.customer_id.clone(),
        })];
        let appended = store::append(conn, meta, self.stream, expected, &events).await?;
        Ok(Done {
            effect: Effect::Accepted,
            answer: Nothing {},
            position: appended.position,
        })
    }
}
