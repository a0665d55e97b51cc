//! `--sabotage`: damage to the engine's state, done after the load and before the checks, to
//! show that the checks catch what a bug would leave behind (the run must then fail).

use anyhow::bail;

use super::Rig;

/// Damages the engine's state the way a bug would, to show the verification catches it.
pub async fn damage(rig: &Rig, what: &str) -> anyhow::Result<()> {
    eprintln!("chaos: SABOTAGE {what}: the verification must fail");
    let statement = match what {
        // A second booking over a unit someone already has, in the read model only.
        "read-busy" => {
            "insert into read.busy (booking_id, unit, tenant_id, resource_id, during)
             select gen_random_uuid(), unit, tenant_id, resource_id, during from read.busy limit 1"
        }
        // A busy interval gone from the read model, its cache entries left as they were.
        "busy-row" => {
            "delete from read.busy where ctid = (select ctid from read.busy order by during limit 1)"
        }
        "booking-row" => {
            "delete from read.bookings where ctid = (select ctid from read.bookings limit 1)"
        }
        "stream-message" => {
            let client = async_nats::connect(&rig.nats.url).await?;
            let mut stream = async_nats::jetstream::new(client)
                .get_stream(&rig.config.stream)
                .await?;
            let last = stream.info().await?.state.last_sequence;
            stream.delete_message(last / 2).await?;
            return Ok(());
        }
        other => bail!("unknown sabotage {other:?}"),
    };
    sqlx::query(statement).execute(&rig.pool).await?;
    Ok(())
}
