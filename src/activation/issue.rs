//! Issuing an isolation integrity report, server only: the statement built
//! from the rendered files and every probe's latest evidence, signed, kept,
//! and its issue audited (its digest joins the hash chain).

use super::subject::Subject;
use crate::audit::{self, Actor, NewEvent};
use crate::error::AppError;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

/// Keeps a signed report and records its issue (its digest joins the hash chain).
pub async fn keep_report(
    conn: &mut PgConnection,
    actor: &Actor,
    tenant_id: Uuid,
    activation_id: Uuid,
    slug: &str,
    envelope: &super::report::Envelope,
    key_id: &str,
) -> Result<(), AppError> {
    let body = serde_json::to_value(envelope).map_err(AppError::internal)?;
    let sha256 = <sha2::Sha256 as sha2::Digest>::digest(serde_json::to_vec(&body).unwrap_or_default()).to_vec();
    sqlx::query!(
        "INSERT INTO isolation_reports (tenant_id, activation_id, envelope, sha256, key_id) VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        activation_id,
        body,
        sha256,
        key_id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent::new("activation.report_issued")
            .tenant(tenant_id)
            .target(slug)
            .after(json!({ "sha256": hex::encode(&sha256), "key_id": key_id })),
    )
    .await?;
    Ok(())
}

pub async fn issue_report(
    state: &crate::server::state::AppState,
    signer: &crate::audit::checkpoint::Signer25519,
    subject: &Subject,
    verify_evidence: &Value,
) -> Result<(super::report::Envelope, String), AppError> {
    let rendered = super::bundle::Rendered::of(&subject.plan).map_err(AppError::internal)?;
    let mut tx = crate::server::db::begin(&state.pool, crate::server::db::Scope::Platform).await?;
    let earlier = sqlx::query!(
        r#"SELECT DISTINCT ON (s.step) s.step, s.evidence, s.at FROM activation_steps s
             JOIN activations a ON a.id = s.activation_id
            WHERE a.tenant_id = $1 AND a.state <> 'rolled_back' AND s.outcome = 'passed' AND s.step IN ('validate', 'apply')
            ORDER BY s.step, s.id DESC"#,
        subject.tenant_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut probes = serde_json::Map::new();
    for r in earlier {
        probes.insert(r.step, json!({ "at": r.at.to_string(), "evidence": r.evidence["evidence"] }));
    }
    probes.insert("verify".into(), verify_evidence.clone());
    let predicate = json!({
        "tenant": { "id": subject.tenant_id, "slug": subject.slug },
        "isolation_level": 3,
        "domain": subject.domain,
        "upstream": subject.upstream,
        "namespace": subject.plan.namespace,
        "queue": subject.plan.queue(),
        "bucket": subject.plan.bucket(),
        "issued_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "issuer": state.config.public_origin.clone().unwrap_or_else(|| "Bulkhead".into()),
        "probes": probes,
    });
    let statement = super::report::statement(&rendered.digests(), predicate);
    Ok((super::report::sign(signer, &statement), signer.key_id()))
}
