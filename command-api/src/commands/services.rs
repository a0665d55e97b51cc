//! The service commands: create, and update (which also retires and restores).

use api::views::{ServiceAnswer, ServiceView};
use domain::ids::ServiceId;
use domain::service::{Service, ServiceChanges, ServiceCommand, ServiceError, ServiceSpec};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Command, Done, Effect, check_version, commit, load, start};
use crate::error::CommandError;
use crate::store::{CommandMeta, StreamId};

fn answer(
    effect: Effect,
    service: &Service,
    position: eventstore::Position,
) -> Done<ServiceAnswer> {
    Done {
        effect,
        answer: ServiceAnswer {
            service: ServiceView::from(service),
        },
        position,
    }
}

/// `POST /v1/services`.
#[derive(Clone, Debug)]
pub struct CreateService {
    pub id: ServiceId,
    pub spec: ServiceSpec,
}

impl Command for CreateService {
    type Answer = ServiceAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<ServiceAnswer>, CommandError> {
        let command = ServiceCommand::Create {
            id: self.id,
            spec: self.spec.clone(),
        };
        let events = Service::decide(None, command)?;
        let (service, position): (Service, _) = start(conn, meta, self.id, &events, || {
            ServiceError::AlreadyExists.into()
        })
        .await?;
        Ok(answer(Effect::Created, &service, position))
    }
}

/// `PATCH /v1/services/{id}`.
#[derive(Clone, Debug)]
pub struct UpdateService {
    pub id: ServiceId,
    /// The version from `If-Match`.
    pub if_match: i64,
    pub changes: ServiceChanges,
}

impl Command for UpdateService {
    type Answer = ServiceAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<ServiceAnswer>, CommandError> {
        let service: Service = load(conn, meta, self.id).await?;
        check_version("service", self.if_match, service.version)?;
        let events = Service::decide(Some(&service), ServiceCommand::Update(self.changes.clone()))?;
        let (service, position) = commit(conn, meta, service, &events).await?;
        Ok(answer(Effect::Changed, &service, position))
    }
}
