//! The resource commands: create and update (as every catalog aggregate has them, see
//! [`super::catalog`]), add and remove blackouts.

use api::ErrorCode;
use api::views::{BlackoutAnswer, BlackoutView, Nothing, ResourceAnswer, ResourceView};
use domain::Event;
use domain::Period;
use domain::ids::{BlackoutId, ResourceId};
use domain::resource::{
    Blackout, Resource, ResourceChanges, ResourceCommand, ResourceError, ResourceSpec,
};
use eventstore::Position;
use sqlx::PgConnection;
use uuid::Uuid;

use super::catalog::{Catalog, Create, Update};
use super::{Command, Done, Effect, commit, load};
use crate::error::CommandError;
use crate::store::{CommandMeta, StreamId, guard};

/// Loads the resource, decides `command` on it and commits what it decided.
async fn change(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: ResourceId,
    command: ResourceCommand,
) -> Result<(Resource, Position), CommandError> {
    let resource: Resource = load(conn, meta, id).await?;
    let events = Resource::decide(Some(&resource), command)?;
    commit(conn, meta, resource, &events).await
}

/// `POST /v1/resources`.
pub type CreateResource = Create<Resource>;
/// `PATCH /v1/resources/{id}`.
pub type UpdateResource = Update<Resource>;

impl Catalog for Resource {
    type Spec = ResourceSpec;
    type Changes = ResourceChanges;
    type Answer = ResourceAnswer;
    const WHAT: &'static str = "resource";

    fn create_command(id: ResourceId, spec: ResourceSpec) -> ResourceCommand {
        ResourceCommand::Create { id, spec }
    }

    fn update_command(changes: ResourceChanges) -> ResourceCommand {
        ResourceCommand::Update(changes)
    }

    fn already_exists() -> CommandError {
        ResourceError::AlreadyExists.into()
    }

    fn answer(&self) -> ResourceAnswer {
        ResourceAnswer {
            resource: ResourceView::from(self),
        }
    }

    /// A lower capacity is refused while bookings that have not ended use the units above it.
    async fn check_update(
        conn: &mut PgConnection,
        meta: &CommandMeta,
        resource: &Resource,
        events: &[Event],
    ) -> Result<(), CommandError> {
        if let Some(Event::ResourceUpdated(updated)) = events.first()
            && updated.spec.capacity < resource.spec.capacity
            && guard::units_in_use_from(conn, resource.id, updated.spec.capacity, meta.now).await?
        {
            return Err(CommandError::refused(
                ErrorCode::CapacityInUse,
                "bookings that have not ended use units above the new capacity; cancel or move them first",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct AddBlackout {
    pub resource_id: ResourceId,
    pub blackout_id: BlackoutId,
    pub period: Period,
    pub reason: String,
}

impl Command for AddBlackout {
    type Answer = BlackoutAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.resource_id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<BlackoutAnswer>, CommandError> {
        let command = ResourceCommand::AddBlackout {
            blackout_id: self.blackout_id,
            period: self.period,
            reason: self.reason.clone(),
        };
        let (_, position) = change(conn, meta, self.resource_id, command).await?;
        let blackout = Blackout {
            id: self.blackout_id,
            period: self.period,
            reason: self.reason.clone(),
        };
        Ok(Done {
            effect: Effect::Created,
            answer: BlackoutAnswer {
                blackout: BlackoutView::from(&blackout),
            },
            position,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RemoveBlackout {
    pub resource_id: ResourceId,
    pub blackout_id: BlackoutId,
}

impl Command for RemoveBlackout {
    type Answer = Nothing;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.resource_id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<Nothing>, CommandError> {
        let command = ResourceCommand::RemoveBlackout {
            blackout_id: self.blackout_id,
        };
        let (_, position) = change(conn, meta, self.resource_id, command).await?;
        Ok(Done {
            effect: Effect::Changed,
            answer: Nothing {},
            position,
        })
    }
}
