//! Every read-model query uses its index: with 10,000 resources, 100,000 bookings (and their
//! busy rows) and 100,000 daily stats rows, built by the projector and analyzed, no plan scans
//! a whole table.

use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::{BookingId, ResourceId, TenantId};
use domain::resource::Policy;
use query_api::store::{bookings, busy, resources, stats};
use readmodel::filter::ResourceFilter;
use readmodel::projections::Projection;
use serde_json::json;
use sqlx::postgres::types::PgRange;
use sqlx::{PgPool, Postgres, QueryBuilder};
use tests::QueryApp;
use uuid::Uuid;

/// Resource `n` of the generated data.
fn resource(n: u32) -> Uuid {
    format!("00000000-0000-0000-0000-{n:012}")
        .parse()
        .expect("a uuid")
}

/// A large history appended to the store in a few statements (as that many commands would
/// have written it), then replayed into the read models by the projector: 10,000 resources (one
/// in seven archived) and 100,000 bookings on 200 of them, one a day per resource, four
/// statuses (a quarter cancelled after placing); one tenant in ten is another tenant. That is
/// 100,000 bookings, ~75,000 busy rows and ~100,000 daily stats rows.
async fn generate(app: &QueryApp) {
    let resource = json!({
        "resource_id": Uuid::nil(), "name": "Room", "kind": "meeting_room", "capacity": 1,
        "time_zone": "UTC", "policy": Policy::default()
    });
    let booking = json!({
        "booking_id": Uuid::nil(), "resource_id": Uuid::nil(), "start": "2025-01-01T00:00:00Z",
        "end": "2025-01-01T00:45:00Z",
        "blocked": { "start": "2025-01-01T00:00:00Z", "end": "2025-01-01T00:45:00Z" },
        "units": [0], "quantity": 1, "customer_id": "customer", "status": "confirmed",
        "expires_at": null, "metadata": {}
    });
    // The templates are events the projector reads; each row changes only their values.
    for (kind, template) in [("ResourceCreated", &resource), ("BookingPlaced", &booking)] {
        domain::Event::decode(kind, 1, template).expect("a valid template");
    }
    sqlx::query(
        "with r as (
             select g as n, ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid as id,
                    case when g % 10 = 0 then 'globex' else 'acme' end as tenant
             from generate_series(0, 9999) as g),
         s as (insert into streams (stream_id, tenant_id, stream_type, version)
               select id, tenant, 'resource', 1 from r)
         insert into events (tenant_id, stream_id, stream_version, event_id, event_type,
             schema_version, payload)
         select tenant, id, 1, gen_random_uuid(), 'ResourceCreated', 1,
                $1::jsonb || jsonb_build_object('resource_id', id, 'name', 'Room ' || n,
                    'attributes', jsonb_build_object('row', n, 'seats', n % 50,
                        'features', jsonb_build_array('f' || (n % 100))),
                    'archived', n % 7 = 0)
         from r",
    )
    .bind(&resource)
    .execute(&app.pool)
    .await
    .expect("generate resources");
    let bookings = "select g as n,
                ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid as id,
                ('00000000-0000-0000-0000-' || lpad((g % 200)::text, 12, '0'))::uuid as resource,
                case when g % 10 = 0 then 'globex' else 'acme' end as tenant,
                timestamptz '2025-01-01 00:00:00Z' + (g / 200) * interval '1 day' as start_at
         from generate_series(1, 100000) as g";
    sqlx::query(&format!(
        "with b as ({bookings}),
         s as (insert into streams (stream_id, tenant_id, stream_type, version)
               select id, tenant, 'booking', case when n % 4 = 1 then 2 else 1 end from b)
         insert into events (tenant_id, stream_id, stream_version, event_id, event_type,
             schema_version, payload)
         select tenant, id, 1, gen_random_uuid(), 'BookingPlaced', 1,
                $1::jsonb || jsonb_build_object('booking_id', id, 'resource_id', resource,
                    'start', start_at, 'end', start_at + interval '45 minutes',
                    'blocked', jsonb_build_object('start', start_at,
                        'end', start_at + interval '45 minutes'),
                    'customer_id', 'customer-' || (n % 1000),
                    'status', case n % 4 when 2 then 'pending' when 3 then 'held'
                                  else 'confirmed' end,
                    'expires_at', case when n % 4 = 3 then start_at end)
         from b"
    ))
    .bind(&booking)
    .execute(&app.pool)
    .await
    .expect("generate bookings");
    sqlx::query(&format!(
        "with b as ({bookings})
         insert into events (tenant_id, stream_id, stream_version, event_id, event_type,
             schema_version, payload)
         select tenant, id, 2, gen_random_uuid(), 'BookingCancelled', 1,
                jsonb_build_object('booking_id', id, 'resource_id', resource)
         from b where n % 4 = 1"
    ))
    .execute(&app.pool)
    .await
    .expect("generate cancellations");
    let report = app.replay(&[]).await;
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    let counts: (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from read.resources), (select count(*) from read.bookings),
                (select count(*) from read.busy), (select count(*) from read.daily_stats)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count the read models");
    assert_eq!((counts.0, counts.1, counts.2), (10_000, 100_000, 75_000));
    assert!(counts.3 >= 50_000, "{} daily stats rows", counts.3);
    for table in [
        "read.resources",
        "read.bookings",
        "read.busy",
        "read.daily_stats",
    ] {
        sqlx::query(&format!("analyze {table}"))
            .execute(&app.pool)
            .await
            .expect("analyze");
    }
}

/// The lines of an `explain` as one text.
fn joined(rows: Vec<(String,)>) -> String {
    rows.into_iter()
        .map(|(line,)| line)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn plan_of(pool: &PgPool, mut query: QueryBuilder<'_, Postgres>) -> String {
    let rows: Vec<(String,)> = query
        .build_query_as()
        .fetch_all(pool)
        .await
        .expect("explain runs");
    joined(rows)
}

fn assert_indexed(name: &str, plan: &str, index: &str) {
    for table in ["bookings", "busy", "daily_stats"] {
        assert!(
            !plan.contains(&format!("Seq Scan on {table}")),
            "{name} scans {table}:\n{plan}"
        );
    }
    assert!(plan.contains(index), "{name} does not use {index}:\n{plan}");
}

#[tokio::test]
async fn every_read_model_query_uses_its_index() {
    let app = QueryApp::spawn().await;
    generate(&app).await;

    // Availability: one resource-day of busy rows with the checkpoint.
    let start: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(&format!("explain {}", busy::DAY_SQL.as_str()))
        .bind(Projection::Bookings.checkpoint())
        .bind(resource(7))
        .bind("acme")
        .bind(PgRange::from(start..start + chrono::Duration::days(1)))
        .fetch_all(&app.pool)
        .await
        .expect("explain runs");
    let plan = joined(rows);
    assert_indexed("the busy day", &plan, "busy_resource_during_idx");

    // A search's days: many resource-days in one statement, each by the same index.
    let spans: Vec<PgRange<DateTime<Utc>>> = (0..3)
        .map(|d| {
            let from = start + chrono::Duration::days(d);
            PgRange::from(from..from + chrono::Duration::days(1))
        })
        .collect();
    let rows: Vec<(String,)> = sqlx::query_as(&format!("explain {}", busy::DAYS_SQL.as_str()))
        .bind(Projection::Bookings.checkpoint())
        .bind(vec![resource(7), resource(8), resource(9)])
        .bind(vec!["acme", "acme", "acme"])
        .bind(spans)
        .fetch_all(&app.pool)
        .await
        .expect("explain runs");
    let plan = joined(rows);
    assert_indexed("the busy days", &plan, "busy_resource_during_idx");

    // Availability: resource rows with the checkpoint, by primary key.
    let rows: Vec<(String,)> = sqlx::query_as(&format!(
        "explain {}",
        resources::AT_CHECKPOINT_SQL.as_str()
    ))
    .bind(Projection::Resources.checkpoint())
    .bind(vec![resource(7), resource(8)])
    .bind("acme")
    .fetch_all(&app.pool)
    .await
    .expect("explain runs");
    let plan = joined(rows);
    assert!(
        !plan.contains("Seq Scan on resources"),
        "the resource rows scan resources:\n{plan}"
    );
    assert_indexed("the resource rows", &plan, "resources_pkey");

    let acme: TenantId = "acme".parse().unwrap();
    // Resources by attributes (GET /v1/resources, the search): selective filters by the GIN
    // index; the search's candidates in name order by its keyset index.
    let filter = |pairs: &[(&str, &str)]| {
        ResourceFilter::parse(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .unwrap()
    };
    let by_row = filter(&[("attr.row", "4242")]);
    let by_feature = filter(&[("attr.features", "f17"), ("min.seats", "10")]);
    let everything = filter(&[]);
    let after = ("Room 5".to_owned(), ResourceId(Uuid::nil()));
    for (name, filter, after, index) in [
        (
            "search by an attribute",
            &by_row,
            None,
            "resources_attributes_idx",
        ),
        (
            "search by an array member",
            &by_feature,
            None,
            "resources_attributes_idx",
        ),
        (
            "search of all",
            &everything,
            None,
            "resources_tenant_name_idx",
        ),
        (
            "search of all, next page",
            &everything,
            Some(&after),
            "resources_tenant_name_idx",
        ),
    ] {
        let ask = resources::Candidates {
            tenant: &acme,
            filter,
            after,
            limit: 1001,
        };
        let plan = plan_of(&app.pool, resources::candidates_query("explain ", &ask)).await;
        assert!(
            !plan.contains("Seq Scan on resources"),
            "{name} scans:\n{plan}"
        );
        assert!(plan.contains(index), "{name} does not use {index}:\n{plan}");
    }
    let list = resources::ResourceList {
        tenant: acme.clone(),
        filter: by_row.clone(),
        after: None,
        limit: 51,
    };
    let plan = plan_of(&app.pool, resources::list_query("explain ", &list)).await;
    assert!(
        plan.contains("resources_attributes_idx"),
        "the list by attribute does not use the GIN index:\n{plan}"
    );

    let base = bookings::BookingFilter::new(acme.clone(), 51);
    let after = Some((
        "2025-01-10T00:00:00Z".parse().unwrap(),
        BookingId(Uuid::nil()),
    ));
    let cases = [
        (
            "bookings by resource",
            bookings::BookingFilter {
                resource_id: Some(ResourceId(resource(7))),
                ..base.clone()
            },
            "bookings_resource_start_idx",
        ),
        (
            "bookings by resource, next page",
            bookings::BookingFilter {
                resource_id: Some(ResourceId(resource(7))),
                after,
                ..base.clone()
            },
            "bookings_resource_start_idx",
        ),
        (
            "bookings by customer",
            bookings::BookingFilter {
                customer_id: Some("customer-42".into()),
                ..base.clone()
            },
            "bookings_customer_start_idx",
        ),
        (
            "bookings by status",
            bookings::BookingFilter {
                status: Some("pending".into()),
                ..base.clone()
            },
            "bookings_",
        ),
        (
            "bookings by status, next page",
            bookings::BookingFilter {
                status: Some("pending".into()),
                after,
                ..base.clone()
            },
            "bookings_",
        ),
        ("all bookings", base.clone(), "bookings_tenant_start_idx"),
        (
            "all bookings, next page",
            bookings::BookingFilter {
                after,
                ..base.clone()
            },
            "bookings_tenant_start_idx",
        ),
    ];
    for (name, filter, index) in &cases {
        let plan = plan_of(&app.pool, bookings::list_query("explain ", filter)).await;
        assert_indexed(name, &plan, index);
    }

    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    let month = stats::StatsFilter {
        tenant: acme,
        from: day("2025-06-01"),
        to: day("2025-06-30"),
        resource_id: None,
    };
    let plan = plan_of(&app.pool, stats::query("explain ", &month)).await;
    assert_indexed("stats of a month", &plan, "daily_stats_");
    for group_by in stats::GroupBy::ALL {
        let plan = plan_of(
            &app.pool,
            stats::summary_query("explain ", &month, group_by),
        )
        .await;
        assert_indexed(
            &format!("summary of a month by {}", group_by.as_str()),
            &plan,
            "daily_stats_",
        );
    }
    let one = stats::StatsFilter {
        resource_id: Some(ResourceId(resource(7))),
        ..month
    };
    let plan = plan_of(&app.pool, stats::query("explain ", &one)).await;
    assert_indexed("stats of one resource", &plan, "daily_stats_");
    app.cleanup().await;
}
