//! The service commands: create, and update (which also retires and restores), as every
//! catalog aggregate has them ([`super::catalog`]).

use api::views::{ServiceAnswer, ServiceView};
use domain::ids::ServiceId;
use domain::service::{Service, ServiceChanges, ServiceCommand, ServiceError, ServiceSpec};

use super::catalog::{Catalog, Create, Update};
use crate::error::CommandError;

/// `POST /v1/services`.
pub type CreateService = Create<Service>;
/// `PATCH /v1/services/{id}`.
pub type UpdateService = Update<Service>;

impl Catalog for Service {
    type Spec = ServiceSpec;
    type Changes = ServiceChanges;
    type Answer = ServiceAnswer;
    const WHAT: &'static str = "service";

    fn create_command(id: ServiceId, spec: ServiceSpec) -> ServiceCommand {
        ServiceCommand::Create { id, spec }
    }

    fn update_command(changes: ServiceChanges) -> ServiceCommand {
        ServiceCommand::Update(changes)
    }

    fn already_exists() -> CommandError {
        ServiceError::AlreadyExists.into()
    }

    fn answer(&self) -> ServiceAnswer {
        ServiceAnswer {
            service: ServiceView::from(self),
        }
    }
}
