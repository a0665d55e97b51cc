//! Every read-model query uses its index: with 10,000 resources, 100,000 bookings (and their
//! busy rows) and 100,000 daily stats rows, analyzed, no plan scans a whole table.

use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::{BookingId, ResourceId, TenantId};
use query_api::store::{bookings, busy, resources, stats};
use readmodel::filter::ResourceFilter;
use readmodel::projections::Projection;
use sqlx::postgres::types::PgRange;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::harness::TestApp;

/// Resource `n` of the generated data.
fn resource(n: u32) -> Uuid {
    format!("00000000-0000-0000-0000-{n:012}")
        .parse()
        .expect("a uuid")
}

async fn generate(pool: &PgPool) {
    // 200 resources, 1,000 customers, four statuses; one booking every 30 minutes per resource
    // slot over ~3 years; one tenant in ten is another tenant.
    sqlx::query(
        "insert into read.bookings (booking_id, tenant_id, resource_id, customer_id, status,
             start_at, end_at, blocked_start, blocked_end, quantity, units, expires_at, metadata,
             version, created_at, updated_at)
         select gen_random_uuid(),
                case when g % 10 = 0 then 'globex' else 'acme' end,
                ('00000000-0000-0000-0000-' || lpad((g % 200)::text, 12, '0'))::uuid,
                'customer-' || (g % 1000),
                (array['confirmed', 'cancelled', 'pending', 'held'])[1 + g % 4],
                timestamptz '2025-01-01 00:00:00Z' + (g / 200) * interval '1 hour',
                timestamptz '2025-01-01 00:00:00Z' + (g / 200) * interval '1 hour'
                    + interval '45 minutes',
                timestamptz '2025-01-01 00:00:00Z' + (g / 200) * interval '1 hour',
                timestamptz '2025-01-01 00:00:00Z' + (g / 200) * interval '1 hour'
                    + interval '45 minutes',
                1, array[0], null, '{}', 1, now(), now()
         from generate_series(1, 100000) as g",
    )
    .execute(pool)
    .await
    .expect("generate bookings");
    sqlx::query(
        "insert into read.busy (booking_id, unit, tenant_id, resource_id, during)
         select booking_id, 0, tenant_id, resource_id, tstzrange(start_at, end_at)
         from read.bookings where status <> 'cancelled'",
    )
    .execute(pool)
    .await
    .expect("generate busy rows");
    sqlx::query(
        "insert into read.daily_stats (resource_id, day, tenant_id, bookings, cancellations,
             booked_minutes)
         select ('00000000-0000-0000-0000-' || lpad(r::text, 12, '0'))::uuid, d::date,
                case when r % 10 = 0 then 'globex' else 'acme' end, 3, 1, 120
         from generate_series(0, 199) as r,
              generate_series(date '2025-01-01', date '2025-01-01' + 499, interval '1 day') as d",
    )
    .execute(pool)
    .await
    .expect("generate daily stats");
    sqlx::query(
        "insert into read.resources (resource_id, tenant_id, name, kind, capacity, time_zone,
             opening_hours, policy, blackouts, attributes, archived, version, created_at,
             updated_at)
         select ('00000000-0000-0000-0000-' || lpad(r::text, 12, '0'))::uuid,
                case when r % 10 = 0 then 'globex' else 'acme' end,
                'Room ' || r, 'meeting_room', 1, 'UTC', null, '{}', '[]',
                jsonb_build_object('row', r, 'seats', r % 50,
                                   'features', jsonb_build_array('f' || (r % 100))),
                r % 7 = 0, 1, now(), now()
         from generate_series(0, 9999) as r",
    )
    .execute(pool)
    .await
    .expect("generate resources");
    for table in [
        "read.resources",
        "read.bookings",
        "read.busy",
        "read.daily_stats",
    ] {
        sqlx::query(&format!("analyze {table}"))
            .execute(pool)
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
    let app = TestApp::spawn().await;
    generate(&app.pool).await;

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
    let one = stats::StatsFilter {
        resource_id: Some(ResourceId(resource(7))),
        ..month
    };
    let plan = plan_of(&app.pool, stats::query("explain ", &one)).await;
    assert_indexed("stats of one resource", &plan, "daily_stats_");
    app.cleanup().await;
}
