//! What an admin keeps in the catalog (resources, services) is created from a spec and changed
//! with `If-Match`, the same way for each: [`Create`] and [`Update`], over the [`Catalog`] trait
//! that says what differs.

use std::fmt::Debug;
use std::future::Future;

use domain::Event;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Command, Done, Effect, Loaded, check_version, commit, load, start};
use crate::error::CommandError;
use crate::store::{CommandMeta, StreamId};

/// An aggregate of the catalog.
pub trait Catalog: Loaded<Error: Into<CommandError>> + Clone + Debug + Send + Sync {
    type Spec: Clone + Debug + Send + Sync;
    type Changes: Clone + Debug + Send + Sync;
    type Answer: Serialize + Send;
    /// What a version conflict calls it.
    const WHAT: &'static str;

    fn create_command(id: Self::Id, spec: Self::Spec) -> Self::Command;
    fn update_command(changes: Self::Changes) -> Self::Command;
    /// The refusal for a client-chosen id in use.
    fn already_exists() -> CommandError;
    fn answer(&self) -> Self::Answer;

    /// A refusal of the `events` an update decided that needs the database (none by default).
    fn check_update(
        _conn: &mut PgConnection,
        _meta: &CommandMeta,
        _state: &Self,
        _events: &[Event],
    ) -> impl Future<Output = Result<(), CommandError>> + Send {
        async { Ok(()) }
    }
}

/// `POST /v1/resources`, `POST /v1/services`.
#[derive(Clone, Debug)]
pub struct Create<A: Catalog> {
    pub id: A::Id,
    pub spec: A::Spec,
}

impl<A: Catalog> Command for Create<A> {
    type Answer = A::Answer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<A::Answer>, CommandError> {
        let command = A::create_command(self.id, self.spec.clone());
        let events = A::decide(None, command, meta.now).map_err(Into::into)?;
        let (state, position): (A, _) =
            start(conn, meta, self.id, &events, A::already_exists).await?;
        Ok(Done {
            effect: Effect::Created,
            answer: state.answer(),
            position,
        })
    }
}

/// `PATCH /v1/resources/{id}`, `PATCH /v1/services/{id}`.
#[derive(Clone, Debug)]
pub struct Update<A: Catalog> {
    pub id: A::Id,
    /// The version from `If-Match`.
    pub if_match: i64,
    pub changes: A::Changes,
}

impl<A: Catalog> Command for Update<A> {
    type Answer = A::Answer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<A::Answer>, CommandError> {
        let state: A = load(conn, meta, self.id).await?;
        check_version(A::WHAT, self.if_match, state.version())?;
        let command = A::update_command(self.changes.clone());
        let events = A::decide(Some(&state), command, meta.now).map_err(Into::into)?;
        A::check_update(conn, meta, &state, &events).await?;
        let (state, position) = commit(conn, meta, state, &events).await?;
        Ok(Done {
            effect: Effect::Changed,
            answer: state.answer(),
            position,
        })
    }
}
