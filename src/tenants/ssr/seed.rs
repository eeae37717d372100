//! Synthetic tenants for load and paging tests.

use crate::audit::{self, Actor, NewEvent};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::PgPool;

/// Creates `count` synthetic tenants (`seed-<n>`, tiers and statuses mixed,
/// creation times spread over a year) for load and paging tests, with one
/// audit event for the batch. Returns how many were created.
pub async fn seed(pool: &PgPool, actor: &Actor, count: i64) -> Result<u64, AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let start = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM tenants WHERE slug LIKE 'seed-%'"#)
        .fetch_one(&mut *tx)
        .await?;
    let created = sqlx::query!(
        r#"INSERT INTO tenants (slug, name, tier_id, isolation_level, status, region, environment, created_at)
           SELECT 'seed-' || n,
                  'Seeded ' || (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay'])[1 + n % 6] || ' ' || n,
                  (ARRAY['free', 'standard', 'premium', 'enterprise'])[1 + n % 4],
                  (ARRAY[1, 1, 2, 3])[1 + n % 4],
                  -- Level 3 runs only through its checklist: those seeded wait for it.
                  CASE WHEN n % 4 = 3 AND n % 5 < 3 THEN 'provisioning'
                       ELSE (ARRAY['active', 'active', 'active', 'suspended', 'provisioning'])[1 + n % 5] END,
                  (ARRAY['eu-west-1', 'eu-central-1', 'us-east-1', 'us-west-2', 'ap-southeast-1'])[1 + n % 5],
                  (ARRAY['production', 'staging', 'development'])[1 + n % 3],
                  now() - make_interval(secs => (n * 317) % 31536000)
           FROM generate_series($1::bigint + 1, $1::bigint + $2::bigint) AS n"#,
        start,
        count
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query!(
        "INSERT INTO activations (tenant_id, created_at)
         SELECT id, created_at FROM tenants
          WHERE slug LIKE 'seed-%' AND isolation_level = 3 AND substr(slug, 6)::bigint > $1",
        start
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.seeded").after(json!({ "count": created, "first": start + 1 })),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}
