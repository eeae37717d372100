//! An activation's life in the database, server only: opened when a tenant
//! moves to level 3, rolled back when it leaves, and each run of a step
//! recorded (who, when, evidence, outcome) in the transaction that moves the
//! state. Nothing here knows the tenants' tables beyond their ids: the
//! tenants' own changes call in.

use crate::audit::{self, Actor, NewEvent};
use crate::domain::activation::{self as state, ActivationState, Step};
use crate::domain::isolation::IsolationLevel;
use crate::error::AppError;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

pub fn actor_label(actor: &Actor) -> String {
    actor.email.clone().or_else(|| actor.role.clone()).unwrap_or_else(|| "Bulkhead".into())
}

/// Opens the tenant's activation checklist, unless one is already live.
pub async fn request(conn: &mut PgConnection, actor: &Actor, tenant_id: Uuid, slug: &str) -> Result<(), AppError> {
    let opened = sqlx::query_scalar!(
        "INSERT INTO activations (tenant_id, created_by) VALUES ($1, $2)
         ON CONFLICT (tenant_id) WHERE state <> 'rolled_back' DO NOTHING RETURNING id",
        tenant_id,
        actor.user_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = opened {
        audit::record(
            conn,
            actor,
            NewEvent::new("activation.requested").tenant(tenant_id).target(slug).after(json!({ "activation": id })),
        )
        .await?;
    }
    Ok(())
}

/// Why a dedicated instance is being taken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    Deleted,
    LeftLevel3,
}

impl Leaving {
    pub fn as_str(self) -> &'static str {
        match self {
            Leaving::Deleted => "deleted",
            Leaving::LeftLevel3 => "left_level_3",
        }
    }
}

/// Ends the tenant's live activation (the tenant left level 3, or was
/// deleted): its routing goes back to the shared pool, its own domain is
/// released for another tenant, its scheduled probes stop (they run on
/// active checklists only), and a teardown is queued: the background work
/// removes its Redis user and stream and signs the list of what the operator
/// must remove. The steps stay as history.
pub async fn roll_back(
    conn: &mut PgConnection,
    actor: &Actor,
    tenant_id: Uuid,
    slug: &str,
    why: Leaving,
) -> Result<(), AppError> {
    let rolled = sqlx::query!(
        r#"WITH live AS (SELECT id, state FROM activations WHERE tenant_id = $1 AND state <> 'rolled_back' FOR UPDATE)
           UPDATE activations a SET state = 'rolled_back', failed_step = NULL, version = a.version + 1, updated_at = now()
             FROM live WHERE a.id = live.id RETURNING a.id, live.state AS "was!""#,
        tenant_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(rolled) = rolled else { return Ok(()) };
    let released = sqlx::query!(
        r#"WITH before AS (SELECT domain, upstream FROM tenants WHERE id = $1 FOR UPDATE)
           UPDATE tenants t SET domain = NULL, upstream = NULL, dedicated_instance = false
             FROM before WHERE t.id = $1 RETURNING before.domain, before.upstream"#,
        tenant_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let released = json!({ "domain": released.domain, "upstream": released.upstream });
    sqlx::query!(
        "INSERT INTO teardowns (tenant_id, activation_id, reason, released) VALUES ($1, $2, $3, $4)",
        tenant_id,
        rolled.id,
        why.as_str(),
        released
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO activation_steps (activation_id, tenant_id, step, outcome, evidence, actor_user_id, actor)
         VALUES ($1, $2, 'roll_back', 'passed', $3, $4, $5)",
        rolled.id,
        tenant_id,
        json!({ "from": rolled.was }),
        actor.user_id,
        actor_label(actor)
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent::new("activation.rolled_back")
            .tenant(tenant_id)
            .target(slug)
            .before(json!({ "state": rolled.was }))
            .after(
                json!({ "activation": rolled.id, "state": "rolled_back", "why": why.as_str(), "released": released }),
            ),
    )
    .await?;
    Ok(())
}

/// Keeps the checklist in step with a change of isolation level, in the
/// change's own transaction.
pub async fn follow_level(
    conn: &mut PgConnection,
    actor: &Actor,
    tenant_id: Uuid,
    slug: &str,
    from: IsolationLevel,
    to: IsolationLevel,
) -> Result<(), AppError> {
    match (from == IsolationLevel::INSTANCE, to == IsolationLevel::INSTANCE) {
        (false, true) => request(conn, actor, tenant_id, slug).await,
        (true, false) => roll_back(conn, actor, tenant_id, slug, Leaving::LeftLevel3).await,
        _ => Ok(()),
    }
}

/// The live activation of a tenant, locked for a step.
pub struct Live {
    pub id: Uuid,
    pub state: ActivationState,
    pub failed_step: Option<Step>,
    pub version: i32,
}

/// Locks the tenant's live activation, checking it is still at `version`.
pub async fn lock(conn: &mut PgConnection, tenant_id: Uuid, version: i32) -> Result<Live, AppError> {
    let row = sqlx::query!(
        r#"SELECT id, state AS "state: ActivationState", failed_step, version FROM activations
            WHERE tenant_id = $1 AND state <> 'rolled_back' FOR UPDATE"#,
        tenant_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| {
        AppError::Conflict("This tenant has no activation checklist: it is not at isolation level 3.".into())
    })?;
    if row.version != version {
        return Err(AppError::Conflict(
            "Someone else moved this checklist on since you opened the page. Nothing was done: reload to see where it stands."
                .into(),
        ));
    }
    Ok(Live { id: row.id, state: row.state, failed_step: row.failed_step.as_deref().and_then(Step::parse), version })
}

/// Records one run of `step` with its evidence and moves the checklist: to
/// the step's state when it passed, to `failed` (with the reason) when not.
/// Returns the new state.
pub async fn record_step(
    conn: &mut PgConnection,
    actor: &Actor,
    tenant_id: Uuid,
    slug: &str,
    live: &Live,
    step: Step,
    outcome: Result<Value, (String, Value)>,
) -> Result<ActivationState, AppError> {
    let passed = outcome.is_ok();
    let next = state::after(live.state, live.failed_step, step, passed).map_err(AppError::Conflict)?;
    let (evidence, failure) = match outcome {
        Ok(evidence) => (evidence, None),
        Err((reason, evidence)) => (evidence, Some(reason)),
    };
    sqlx::query!(
        "UPDATE activations SET state = $2, failed_step = $3, failure = $4, version = version + 1, updated_at = now()
          WHERE id = $1",
        live.id,
        next.as_str(),
        (!passed).then(|| step.as_str()),
        failure
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO activation_steps (activation_id, tenant_id, step, outcome, evidence, actor_user_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        live.id,
        tenant_id,
        step.as_str(),
        if passed { "passed" } else { "failed" },
        json!({ "evidence": evidence, "reason": failure }),
        actor.user_id,
        actor_label(actor)
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent::new(if passed { "activation.step_passed" } else { "activation.step_failed" })
            .tenant(tenant_id)
            .target(slug)
            .before(json!({ "state": live.state }))
            .after(json!({ "step": step, "state": next, "reason": failure, "evidence": evidence })),
    )
    .await?;
    Ok(next)
}

/// The newest teardown of the tenant's dedicated instance, as its page shows it.
pub async fn teardown_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<Option<crate::tenants::Teardown>, sqlx::Error> {
    use base64::Engine;
    let Some(t) = sqlx::query!(
        "SELECT reason, requested_at, done_at, last_failure, envelope FROM teardowns
          WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1",
        tenant_id
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    // The list as signed: read back from the statement itself.
    let statement: Option<Value> = t
        .envelope
        .as_ref()
        .and_then(|e| e["payload"].as_str())
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let operator_must_remove = statement
        .as_ref()
        .and_then(|s| s["predicate"]["operator_must_remove"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|i| (text(&i["what"]), text(&i["name"]), text(&i["how"])))
        .collect();
    Ok(Some(crate::tenants::Teardown {
        reason: t.reason,
        requested_at: t.requested_at,
        done_at: t.done_at,
        last_failure: t.last_failure,
        operator_must_remove,
    }))
}
