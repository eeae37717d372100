//! Scheduled re-runs of the isolation probes on every dedicated tenant,
//! server only: a failing probe marks the tenant as drifted (one audit event
//! per drift, shown on its checklist) until a later run passes.

use super::subject::subject;
use crate::audit::{self, Actor, NewEvent};
use crate::error::AppError;
use serde_json::json;

/// Runs the isolation probes again on one dedicated tenant and records the
/// outcome: a failure marks the tenant as drifted (an audit event, shown on
/// its pages) until a later run passes. Returns the failing probe's reason.
pub async fn recheck(state: &crate::server::state::AppState, slug: &str) -> Result<Option<String>, AppError> {
    use crate::server::db::{begin, Scope};
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    let subject = subject(&mut tx, &state.config, slug).await?;
    let row = sqlx::query!(
        "SELECT id, drift, queue_secret FROM activations WHERE tenant_id = $1 AND state = 'active'",
        subject.tenant_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::Conflict(format!("{slug} does not run dedicated: nothing to re-check.")))?;
    tx.commit().await?;
    let password = row
        .queue_secret
        .and_then(|s| state.secrets.open(subject.tenant_id, &s).ok())
        .and_then(|p| String::from_utf8(p).ok())
        .unwrap_or_default();
    let outcome = match super::probes::verify(&state.pool, &state.config, &subject, &password, false).await {
        Ok(_) => super::probes::health(&state.config, &subject.health_url).await.map(|_| ()),
        Err(e) => Err(e),
    };
    let failure = outcome.err().map(|(reason, _)| reason);
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    sqlx::query!("UPDATE activations SET drift = $2, drift_checked_at = now() WHERE id = $1", row.id, failure)
        .execute(&mut *tx)
        .await?;
    let actor = Actor { role: Some("scheduled probes".into()), ..Actor::default() };
    match (&row.drift, &failure) {
        (None, Some(reason)) => {
            audit::record(
                &mut tx,
                &actor,
                NewEvent::new("activation.drift_detected")
                    .tenant(subject.tenant_id)
                    .target(slug)
                    .after(json!({ "reason": reason })),
            )
            .await?
        }
        (Some(was), None) => {
            audit::record(
                &mut tx,
                &actor,
                NewEvent::new("activation.drift_cleared")
                    .tenant(subject.tenant_id)
                    .target(slug)
                    .before(json!({ "reason": was })),
            )
            .await?
        }
        _ => {}
    }
    tx.commit().await?;
    Ok(failure)
}

/// Re-runs the probes on every dedicated tenant every `probe_interval`, in the background.
pub fn spawn_probes(state: &crate::server::state::AppState) {
    if state.config.probe_interval.is_zero() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.config.probe_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let slugs = async {
                let mut tx = crate::server::db::begin(&state.pool, crate::server::db::Scope::Platform).await?;
                let slugs = sqlx::query_scalar!(
                    "SELECT t.slug FROM tenants t JOIN activations a ON a.tenant_id = t.id WHERE a.state = 'active'"
                )
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(slugs)
            }
            .await;
            for slug in slugs.unwrap_or_default() {
                match recheck(&state, &slug).await {
                    Ok(Some(reason)) => tracing::warn!(tenant = %slug, %reason, "a dedicated tenant drifted"),
                    Ok(None) => {}
                    Err(err) => tracing::warn!(tenant = %slug, error = %err, "the isolation probes could not run"),
                }
            }
        }
    });
}

/// `bulkhead tenant probe`: runs the isolation probes and the health check on
/// a level-3 tenant as they stand (nothing is provisioned), and with
/// `report`, signs, keeps and returns a report of them. The evidence, or the
/// failing probe's reason.
pub async fn probe(
    state: &crate::server::state::AppState,
    slug: &str,
    report: bool,
) -> Result<Result<(serde_json::Value, Option<super::report::Envelope>), String>, AppError> {
    use crate::server::db::{begin, Scope};
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    let subject = subject(&mut tx, &state.config, slug).await?;
    let row = sqlx::query!(
        "SELECT id, queue_secret FROM activations WHERE tenant_id = $1 AND state <> 'rolled_back'",
        subject.tenant_id
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let password = row
        .queue_secret
        .and_then(|s| state.secrets.open(subject.tenant_id, &s).ok())
        .and_then(|p| String::from_utf8(p).ok())
        .unwrap_or_default();
    let mut evidence = match super::probes::verify(&state.pool, &state.config, &subject, &password, false).await {
        Ok(e) => e,
        Err((reason, _)) => return Ok(Err(reason)),
    };
    match super::probes::health(&state.config, &subject.health_url).await {
        Ok(h) => evidence["health"] = h,
        Err((reason, _)) => return Ok(Err(reason)),
    }
    if !report {
        return Ok(Ok((evidence, None)));
    }
    let signer =
        state.config.signing_key.as_ref().ok_or_else(|| {
            AppError::Conflict("No signing key (BULKHEAD_SIGNING_KEY): no report can be signed.".into())
        })?;
    let (envelope, key_id) = super::issue::issue_report(state, signer, &subject, &evidence).await?;
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    super::issue::keep_report(&mut tx, &Actor::cli(), subject.tenant_id, row.id, slug, &envelope, &key_id).await?;
    tx.commit().await?;
    Ok(Ok((evidence, Some(envelope))))
}
