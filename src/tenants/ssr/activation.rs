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

/// Ends the tenant's live activation (the tenant left level 3): its routing
/// goes back to the shared pool; the steps stay as history.
pub async fn roll_back(conn: &mut PgConnection, actor: &Actor, tenant_id: Uuid, slug: &str) -> Result<(), AppError> {
    let rolled = sqlx::query!(
        r#"WITH live AS (SELECT id, state FROM activations WHERE tenant_id = $1 AND state <> 'rolled_back' FOR UPDATE)
           UPDATE activations a SET state = 'rolled_back', failed_step = NULL, version = a.version + 1, updated_at = now()
             FROM live WHERE a.id = live.id RETURNING a.id, live.state AS "was!""#,
        tenant_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(rolled) = rolled else { return Ok(()) };
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
            .after(json!({ "activation": rolled.id, "state": "rolled_back" })),
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
        (true, false) => roll_back(conn, actor, tenant_id, slug).await,
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
