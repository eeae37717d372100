//! The one way a change that can move a quota ends: its audit event is
//! recorded, the tenants it touched are measured against their quotas again
//! (raising or clearing their alerts, audited and queued for webhooks), and
//! the transaction commits, all together. A tenant's change (`tenants`), a
//! tier's new terms (`tiers`) end here, so none can skip the alerts.

use crate::audit::{self, Actor, NewEvent};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Records `event`, evaluates `tenants`' alerts and commits `tx`.
pub async fn commit(
    mut tx: Transaction<'static, Postgres>,
    actor: &Actor,
    event: NewEvent<'_>,
    tenants: &[Uuid],
) -> Result<(), sqlx::Error> {
    audit::record(&mut tx, actor, event).await?;
    crate::alerts::ssr::evaluate(&mut tx, tenants).await?;
    tx.commit().await
}
