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
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 =
        |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let from = observer();
    // What a probe saw, with when and from where; the checks made on
    // Bulkhead's own files belong to what was rendered, not to what was seen.
    let mut observed = serde_json::Map::new();
    let mut confirmed = Vec::new();
    for r in earlier {
        let mut evidence = r.evidence["evidence"].clone();
        if let Some(e) = evidence.as_object_mut() {
            e.remove("network_policy");
            e.remove("manifests_sha256");
        }
        if r.step == "apply" {
            confirmed
                .push(json!({ "claim": "the rendered manifests were applied to the cluster", "at": rfc3339(r.at) }));
        }
        observed.insert(r.step, json!({ "at": rfc3339(r.at), "from": from, "evidence": evidence }));
    }
    let mut verify = verify_evidence.clone();
    if let Some(e) = verify.as_object_mut() {
        e.remove("network_policy");
    }
    observed.insert("verify".into(), json!({ "at": rfc3339(now), "from": from, "evidence": verify }));
    let plan = &subject.plan;
    let egress: Vec<String> = std::iter::once(format!("cluster DNS ({}, port 53)", super::render::DNS_NAMESPACE))
        .chain(plan.database.iter().map(|d| format!("database {} port {}", d.cidr, d.port)))
        .chain(plan.redis.iter().map(|d| format!("Redis {} port {}", d.cidr, d.port)))
        .collect();
    let predicate = json!({
        "tenant": { "id": subject.tenant_id, "slug": subject.slug },
        "isolation_level": 3,
        "domain": subject.domain,
        "upstream": subject.upstream,
        "namespace": plan.namespace,
        "queue": plan.queue(),
        "bucket": plan.bucket(),
        "issued_at": rfc3339(now),
        "issuer": state.config.public_origin.clone().unwrap_or_else(|| "Bulkhead".into()),
        // What the files named in `subject` say, checked on the files as written.
        "rendered": {
            "network_policy": {
                "ingress": format!("only from the namespace {}", plan.router_namespace),
                "egress": egress,
            },
            "pod_security": "restricted (non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp, read-only root)",
            "resource_quota": { "cpu_millicores": plan.cpu_millicores, "memory_bytes": plan.memory_bytes },
        },
        // What the operator said, and nobody observed.
        "confirmed_by_operator": confirmed,
        // What a probe of Bulkhead's saw.
        "observed": observed,
        // What this report does not vouch for: Bulkhead has no probe inside the cluster.
        "not_observed": [
            "that the tenant's pods run the rendered manifests",
            "that the cluster's network plugin enforces the NetworkPolicy (traffic between tenants was not tried)",
        ],
    });
    let statement = super::report::statement(&rendered.digests(), predicate);
    Ok((super::report::sign(signer, &statement), signer.key_id()))
}

/// Where the probes ran from: this console's host name.
pub(super) fn observer() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}
