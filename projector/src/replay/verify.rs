//! `--verify`: the fold up to each live checkpoint, compared with the live rows read in the
//! snapshot of that checkpoint.

use eventstore::{Position, checkpoint};
use readmodel::projections::Projection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::projections::State;
use crate::projections::compare;
use crate::projections::load::{self};

use super::fold::{Folded, Range, fold};
use super::progress::Progress;

/// Folds each projection up to its live checkpoint and compares with the live rows read in the
/// same snapshot as that checkpoint: the rows of each finished stream as the fold hands them on,
/// against the live ones read in the same (key) order; what spans streams once the fold ends.
pub(super) async fn verify(
    conn: &mut PgConnection,
    connect: &PgConnectOptions,
    projections: &[Projection],
) -> anyhow::Result<(Folded, Vec<String>)> {
    let mut differences = Vec::new();
    let mut total = Folded {
        states: Vec::new(),
        events: 0,
        position: Position::START,
        problems: Vec::new(),
        progress: Progress::quiet(),
    };
    for projection in projections {
        // Each projection on its own: fold fresh states up to exactly its checkpoint.
        let mut tx = conn.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        // The fold stops exactly there. A checkpoint only ever names an event that was below
        // every running transaction when its projector read it, so every event up to it is
        // committed and final, and the live rows read in this snapshot are the fold of exactly
        // those. (The horizon now may be lower: any long transaction anywhere in the cluster,
        // even in another database, holds it back; a fold cut at it would report the live rows
        // as ahead.)
        let live_position = checkpoint::peek(&mut *tx, projection.checkpoint()).await?;
        let range = Range {
            head: live_position,
            time: None,
        };
        let single = [*projection];
        let (rows, received) = load::channels(&single);
        let (folded, compared) = tokio::join!(
            fold(connect, &single, range, Some(rows), Progress::quiet()),
            compare::streamed(&mut tx, "read", received),
        );
        // A comparison that failed stopped the fold: its error is the one that says why.
        let compared = compared?;
        let folded = folded?;
        let live = State::load_held(*projection, &mut tx, "read").await?;
        tx.commit().await?;
        let held = folded
            .states
            .first()
            .map(|(_, rebuilt)| rebuilt.differences(&live))
            .unwrap_or_default();
        differences.extend(
            compared
                .into_iter()
                .chain(held)
                .map(|line| format!("{}: {line}", projection.name())),
        );
        total.events += folded.events;
        total.position = total.position.max(live_position);
        total.problems.extend(folded.problems);
    }
    Ok((total, differences))
}
