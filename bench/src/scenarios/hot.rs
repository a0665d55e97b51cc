//! A flash crowd on one resource: 200 clients race for the same slot of a resource of capacity
//! 20, round after round on fresh slots. Exactly 20 must win each round, and the refusals must
//! be cheap.

use std::sync::Arc;
use std::time::Instant;

use platform::auth::Role;
use serde_json::json;

use crate::Ctx;
use crate::client::{Client, midnight};
use crate::figures::{Figure, P50_P99, Unit};
use crate::load::{Outcome, histogram};

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let clients: usize = 200;
    let capacity: usize = 20;
    let rounds: i64 = if ctx.quick { 2 } else { 10 };
    let client = Arc::new(Client::new(&ctx.engine, "benchhot", clients, Role::Client)?);
    let resource = client
        .create_resource(json!({ "name": "hot", "kind": "class_session", "time_zone": "UTC", "capacity": capacity }))
        .await?;
    let mut won = histogram();
    let mut refused = histogram();
    let mut not_exact = 0;
    let mut failed = 0;
    let mut seconds = 0.0;
    for round in 0..rounds {
        let start = midnight(1) + chrono::Duration::hours(round);
        let end = start + chrono::Duration::hours(1);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients as u64)
            .map(|k| {
                let (client, resource) = (Arc::clone(&client), resource.clone());
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let (outcome, _) = client.place(client.token(k), &resource, start, end).await;
                    (outcome, sent.elapsed().as_micros().max(1) as u64)
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            let (outcome, micros) = task.await?;
            match outcome {
                Outcome::Ok => {
                    winners += 1;
                    won.saturating_record(micros);
                }
                Outcome::Refused => refused.saturating_record(micros),
                Outcome::Failed => failed += 1,
            }
        }
        seconds += started.elapsed().as_secs_f64();
        if winners != capacity {
            not_exact += 1;
        }
    }
    let label = format!("hot resource, {clients} clients × {rounds} rounds on capacity {capacity}");
    Ok(vec![
        Figure::new(
            "hot.rounds_not_exact",
            format!("{label}: rounds without exactly {capacity} winners"),
            Unit::Count,
            f64::from(not_exact),
        ),
        Figure::new(
            "hot.refusals.per_s",
            format!("{label}: refusals"),
            Unit::PerSecond,
            refused.len() as f64 / seconds,
        ),
    ]
    .into_iter()
    .chain(Figure::latencies(
        "hot.refusal",
        &format!("{label}: refusal"),
        &refused,
        &P50_P99,
    ))
    .chain(Figure::latencies(
        "hot.winner",
        &format!("{label}: winner"),
        &won,
        &P50_P99[..1],
    ))
    .chain([Figure::failed("hot", &label, f64::from(failed))])
    .collect())
}
