//! The optimistic lock every change of a tenant takes: the row is locked and
//! its version compared with the one the change was made on.

use crate::audit::{Actor, NewEvent};
use crate::domain::environment::Environment;
use crate::domain::isolation::IsolationLevel;
use crate::domain::tenant_status::TenantStatus;
use crate::domain::tier_id::TierId;
use crate::error::AppError;
use crate::server::db::{self, Scope};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A change of one tenant under way: its row locked at the version the change
/// was made on, in the change's transaction. Every change of a tenant ends
/// with [`Change::commit`]: audited, its quotas measured again, committed.
pub(super) struct Change {
    pub(super) tx: Transaction<'static, Postgres>,
    pub(super) t: Locked,
}

impl Change {
    /// Opens the change: a platform transaction, the tenant's row locked.
    pub(super) async fn begin(pool: &PgPool, slug: &str, version: i32) -> Result<Change, AppError> {
        let mut tx = db::begin(pool, Scope::Platform).await?;
        let t = lock(&mut tx, slug, version).await?;
        Ok(Change { tx, t })
    }

    /// Ends the change: `event` recorded for the tenant, its alerts
    /// evaluated against what the change left, all committed together.
    pub(super) async fn commit(self, actor: &Actor, event: NewEvent<'_>) -> Result<(), AppError> {
        let Change { tx, t } = self;
        let event = event.tenant(t.id).target(t.slug.as_str());
        crate::alerts::change::commit(tx, actor, event, &[t.id]).await?;
        Ok(())
    }
}

/// The one rule for every change that moves a quota (a tier, an environment,
/// an override): the tenant's standing is read as the change left it, in the
/// change's transaction, and the change is refused, naming `field`, when
/// current usage is over one of `limits` (any limit when empty). The refusal
/// rolls the change back.
pub(super) async fn refuse_overrun(
    conn: &mut PgConnection,
    tenant: Uuid,
    field: &str,
    limits: &[crate::domain::limits::Limit],
    refusal: impl FnOnce(String) -> String,
) -> Result<(), AppError> {
    let Some(standing) = crate::quotas::ssr::standing(conn, tenant).await? else { return Ok(()) };
    let moved: Vec<_> =
        standing.limits.into_iter().filter(|l| limits.is_empty() || limits.contains(&l.limit)).collect();
    let over = crate::quotas::overruns(&moved);
    if over.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid(field, refusal(over.join(" "))))
    }
}

/// Records that the tenant changed (its version moves on).
pub(super) async fn bump(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE tenants SET version = version + 1, updated_at = now() WHERE id = $1", id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A tenant locked for a change.
pub(super) struct Locked {
    pub(super) id: Uuid,
    pub(super) slug: String,
    pub(super) tier_id: TierId,
    pub(super) isolation_level: IsolationLevel,
    pub(super) status: TenantStatus,
    pub(super) environment: Environment,
    pub(super) namespace_target: Option<String>,
    pub(super) prevent_deletion: bool,
    pub(super) dedicated_instance: bool,
}

const STALE: &str = "Someone else changed this tenant since you opened the page. Nothing was saved: reload to see their change, then try again.";

/// Locks the tenant's row, checking that nobody changed it since `version`.
pub(super) async fn lock(conn: &mut PgConnection, slug: &str, version: i32) -> Result<Locked, AppError> {
    let row = sqlx::query!(
        r#"SELECT id, slug, tier_id AS "tier_id: TierId", isolation_level AS "isolation_level: IsolationLevel", status AS "status: TenantStatus", environment AS "environment: Environment", namespace_target, prevent_deletion, dedicated_instance, version
           FROM tenants WHERE slug = $1 FOR UPDATE"#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await?
    .filter(|r| r.status != TenantStatus::Deleted)
    .ok_or(AppError::NotFound)?;
    if row.version != version {
        return Err(AppError::Conflict(STALE.into()));
    }
    Ok(Locked {
        id: row.id,
        slug: row.slug,
        tier_id: row.tier_id,
        isolation_level: row.isolation_level,
        status: row.status,
        environment: row.environment,
        namespace_target: row.namespace_target,
        prevent_deletion: row.prevent_deletion,
        dedicated_instance: row.dedicated_instance,
    })
}
