//! The resource commands: create, update, add and remove blackouts.

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

use super::{Command, Done, Effect, check_version, commit, load, start};
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

#[derive(Clone, Debug)]
pub struct CreateResource {
    pub id: ResourceId,
    pub spec: ResourceSpec,
}

impl Command for CreateResource {
    type Answer = ResourceAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<ResourceAnswer>, CommandError> {
        let command = ResourceCommand::Create {
            id: self.id,
            spec: self.spec.clone(),
        };
        let events = Resource::decide(None, command)?;
        let (resource, position): (Resource, _) = start(conn, meta, self.id, &events, || {
            ResourceError::AlreadyExists.into()
        })
        .await?;
        Ok(Done {
            effect: Effect::Created,
            answer: ResourceAnswer {
                resource: ResourceView::from(&resource),
            },
            position,
        })
    }
}

#[derive(Clone, Debug)]
pub struct UpdateResource {
    pub id: ResourceId,
    /// The version from `If-Match`.
    pub if_match: i64,
    pub changes: ResourceChanges,
}

impl Command for UpdateResource {
    type Answer = ResourceAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<ResourceAnswer>, CommandError> {
        let resource: Resource = load(conn, meta, self.id).await?;
        check_version("resource", self.if_match, resource.version)?;
        let events = Resource::decide(
            Some(&resource),
            ResourceCommand::Update(self.changes.clone()),
        )?;
        if let Some(Event::ResourceUpdated(updated)) = events.first()
            && updated.spec.capacity < resource.spec.capacity
            && guard::units_in_use_from(conn, resource.id, updated.spec.capacity, meta.now).await?
        {
            return Err(CommandError::refused(
                ErrorCode::CapacityInUse,
                "bookings that have not ended use units above the new capacity; cancel or move them first",
            ));
        }
        let (resource, position) = commit(conn, meta, resource, &events).await?;
        Ok(Done {
            effect: Effect::Changed,
            answer: ResourceAnswer {
                resource: ResourceView::from(&resource),
            },
            position,
        })
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
