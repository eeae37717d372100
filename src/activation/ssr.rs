//! The activation checklist, server only: opening one when a tenant moves to
//! level 3, rolling it back when it leaves, and recording each step with who,
//! when, the evidence and the outcome, in the transaction that moves the state.

use super::state::{self, ActivationState, Step};
use crate::audit::{self, Actor, NewEvent};
use crate::domain::isolation::IsolationLevel;
use crate::error::AppError;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

fn actor_label(actor: &Actor) -> String {
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
#[allow(clippy::too_many_arguments)]
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
    let next = state::after(live.state, live.failed_step, step, passed).map_err(|m| AppError::Conflict(m))?;
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

/// The checklist page's data for `slug`, in the caller's scope.
pub async fn view(conn: &mut PgConnection, slug: &str) -> Result<Option<super::ActivationView>, AppError> {
    let Some(t) = sqlx::query!("SELECT id, name, namespace_target FROM tenants WHERE slug = $1", slug)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let live = sqlx::query!(
        r#"SELECT state AS "state: ActivationState", failed_step, failure, dedicated_domain, upstream, health_url,
                  manifests_digest IS NOT NULL AS "rendered!", version, drift
             FROM activations WHERE tenant_id = $1 AND state <> 'rolled_back'"#,
        t.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|a| {
        let failed_step = a.failed_step.as_deref().and_then(Step::parse);
        super::LiveActivation {
            next: Step::next(a.state, failed_step),
            files: if a.rendered { rendered_names(slug) } else { Vec::new() },
            state: a.state,
            failed_step,
            failure: a.failure,
            domain: a.dedicated_domain,
            upstream: a.upstream,
            health_url: a.health_url,
            version: a.version,
            drift: a.drift,
        }
    });
    let report = sqlx::query!(
        "SELECT sha256, key_id, issued_at FROM isolation_reports WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1",
        t.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| super::ReportSummary { sha256: hex::encode(r.sha256), key_id: r.key_id, issued_at: r.issued_at });
    let history = sqlx::query!(
        "SELECT step, outcome, evidence, actor, at FROM activation_steps WHERE tenant_id = $1 ORDER BY id DESC LIMIT 200",
        t.id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| super::StepRecord {
        step: r.step,
        outcome: r.outcome,
        evidence: serde_json::to_string_pretty(&r.evidence).unwrap_or_default(),
        actor: r.actor,
        at: r.at,
    })
    .collect();
    Ok(Some(super::ActivationView {
        slug: slug.to_string(),
        tenant_name: t.name,
        namespace: t.namespace_target,
        live,
        history,
        report,
        can_run: false,
        fresh_queue_password: None,
    }))
}

fn rendered_names(slug: &str) -> Vec<String> {
    ["k8s.yaml", "compose.yaml", "storage-policy.json"].iter().map(|ext| format!("tenant-{slug}.{ext}")).collect()
}

/// A dedicated domain as typed: a DNS name with at least two labels, no port.
pub fn parse_domain(input: &str) -> Result<String, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("Enter the dedicated domain, for example api.customer.example.".into());
    }
    if input.contains(['/', ':', '@', ' ']) {
        return Err("A domain only: no scheme, port or path.".into());
    }
    match crate::routing::host::normalise(input) {
        Some(d) if d.contains('.') => Ok(d),
        _ => Err(format!("“{input}” is not a domain name.")),
    }
}

/// An `http(s)://` address with a host.
pub fn parse_url(input: &str, what: &str) -> Result<String, String> {
    let input = input.trim();
    let ok = ["http://", "https://"].iter().any(|p| input.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        && !input.contains(char::is_whitespace);
    if ok {
        Ok(input.to_string())
    } else {
        Err(format!("Enter the {what} as an http:// or https:// address."))
    }
}

async fn tenant_for_update(conn: &mut PgConnection, slug: &str) -> Result<(Uuid, IsolationLevel), AppError> {
    let t = sqlx::query!(
        r#"SELECT id, isolation_level AS "level: IsolationLevel" FROM tenants WHERE slug = $1 AND status <> 'deleted' FOR UPDATE"#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((t.id, t.level))
}

/// Saves the configuration; any change starts the checklist over from rendering.
pub async fn configure(
    state: &crate::server::state::AppState,
    actor: &Actor,
    slug: &str,
    version: i32,
    domain: &str,
    upstream: &str,
    health_url: &str,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let domain = parse_domain(domain).map_err(|m| errors.push(("domain", m))).ok();
    let upstream = parse_url(upstream, "dedicated upstream").map_err(|m| errors.push(("upstream", m))).ok();
    let health = parse_url(health_url, "health URL").map_err(|m| errors.push(("health_url", m))).ok();
    let (Some(domain), Some(upstream), Some(health)) = (domain, upstream, health) else {
        return Err(AppError::Invalid(
            errors.into_iter().map(|(f, m)| crate::error::FieldError { field: f.into(), message: m }).collect(),
        ));
    };
    let mut tx = crate::server::db::begin(&state.pool, crate::server::db::Scope::Platform).await?;
    let (tenant_id, _) = tenant_for_update(&mut tx, slug).await?;
    let live = lock(&mut tx, tenant_id, version).await?;
    if !live.state.configurable() {
        return Err(AppError::Conflict("The dedicated instance is running: its configuration is fixed.".into()));
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM tenants WHERE domain = $1 AND id <> $2)
               OR EXISTS (SELECT 1 FROM activations WHERE dedicated_domain = $1 AND tenant_id <> $2 AND state <> 'rolled_back')
               AS "taken!""#,
        domain,
        tenant_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Err(AppError::invalid("domain", format!("“{domain}” is already another tenant's domain.")));
    }
    sqlx::query!(
        "UPDATE activations SET dedicated_domain = $2, upstream = $3, health_url = $4, state = 'requested',
                failed_step = NULL, failure = NULL, manifests_digest = NULL, version = version + 1, updated_at = now()
          WHERE id = $1",
        live.id,
        domain,
        upstream,
        health
    )
    .execute(&mut *tx)
    .await?;
    let config = json!({ "domain": domain, "upstream": upstream, "health_url": health });
    sqlx::query!(
        "INSERT INTO activation_steps (activation_id, tenant_id, step, outcome, evidence, actor_user_id, actor)
         VALUES ($1, $2, 'configure', 'passed', $3, $4, $5)",
        live.id,
        tenant_id,
        json!({ "evidence": config }),
        actor.user_id,
        actor_label(actor)
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("activation.configured")
            .tenant(tenant_id)
            .target(slug)
            .before(json!({ "state": live.state }))
            .after(config),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Everything a step needs to know about the tenant and its configuration.
pub struct Subject {
    pub tenant_id: Uuid,
    pub slug: String,
    pub domain: String,
    pub upstream: String,
    pub health_url: String,
    pub digest: Option<Vec<u8>>,
    pub plan: super::render::Plan,
}

/// The plan of `slug`'s dedicated instance from its configuration and effective limits.
pub async fn subject(
    conn: &mut PgConnection,
    config: &crate::server::config::Config,
    slug: &str,
) -> Result<Subject, AppError> {
    let detail = crate::tenants::ssr::detail(conn, slug).await?.ok_or(AppError::NotFound)?;
    if detail.tenant.isolation_level != IsolationLevel::INSTANCE {
        return Err(AppError::Conflict(format!(
            "{slug} is at isolation level {}: only a level-3 tenant has an instance of its own to render.",
            detail.tenant.isolation_level
        )));
    }
    let a = sqlx::query!(
        "SELECT dedicated_domain, upstream, health_url, manifests_digest FROM activations
          WHERE tenant_id = $1 AND state <> 'rolled_back'",
        detail.tenant.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::Conflict("This tenant has no activation checklist.".into()))?;
    let limit =
        |l: crate::domain::limits::Limit| detail.limits.iter().find(|e| e.limit == l).map(|e| e.value).unwrap_or(0);
    use crate::domain::limits::Limit;
    let plan = super::render::Plan {
        tenant_id: detail.tenant.id,
        slug: detail.tenant.slug.clone(),
        namespace: detail.namespace_target.clone().unwrap_or_else(|| format!("tenant-{slug}")),
        router_namespace: config.router_namespace.clone(),
        image: config.tenant_image.clone(),
        cpu_millicores: limit(Limit::Cpu),
        memory_bytes: limit(Limit::Memory),
        storage_bytes: limit(Limit::Storage),
    };
    Ok(Subject {
        tenant_id: detail.tenant.id,
        slug: detail.tenant.slug,
        domain: a.dedicated_domain.unwrap_or_default(),
        upstream: a.upstream.unwrap_or_default(),
        health_url: a.health_url.unwrap_or_default(),
        digest: a.manifests_digest,
        plan,
    })
}

/// Runs `step` for `slug` and records it; the outcome's state.
pub async fn run_step(
    state: &crate::server::state::AppState,
    actor: &Actor,
    slug: &str,
    version: i32,
    step: Step,
    applied: bool,
) -> Result<Ran, AppError> {
    use crate::server::db::{begin, Scope};
    // Checked first, outside any lock: the slow checks (DNS, TLS, health) hold no row.
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    let subject = subject(&mut tx, &state.config, slug).await?;
    let live = lock(&mut tx, subject.tenant_id, version).await?;
    state::after(live.state, live.failed_step, step, true).map_err(AppError::Conflict)?;
    if subject.domain.is_empty() {
        return Err(AppError::invalid("domain", "Save the dedicated instance's configuration first."));
    }
    tx.commit().await?;
    if step == Step::Apply && !applied {
        return Err(AppError::invalid(
            "applied",
            "Confirm that the manifests are applied before checking the instance.",
        ));
    }
    let mut fresh_secret = None;
    let queue_password = if step == Step::Verify {
        Some(queue_password(state, subject.tenant_id, &mut fresh_secret).await?)
    } else {
        None
    };
    let outcome = match step {
        Step::Render => super::probes::render(&subject),
        Step::Validate => super::probes::validate(&subject, &state.config).await,
        Step::Apply => super::probes::health(&subject.health_url).await,
        Step::Verify => {
            let password = queue_password.as_deref().unwrap_or_default();
            super::probes::verify(&state.pool, &state.config, &subject, password, true).await
        }
        Step::Activate => Ok(json!({ "domain": subject.domain, "upstream": subject.upstream })),
    };
    // A verification that passed is a report, or it did not pass.
    let (outcome, envelope) = match outcome {
        Ok(evidence) if step == Step::Verify => match &state.config.signing_key {
            None => (
                Err((
                    "No signing key (BULKHEAD_SIGNING_KEY): the integrity report cannot be signed, so this step cannot pass."
                        .to_string(),
                    evidence,
                )),
                None,
            ),
            Some(signer) => {
                let envelope = issue_report(state, signer, &subject, &evidence).await?;
                (Ok(evidence), Some(envelope))
            }
        },
        other => (other, None),
    };
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    let (tenant_id, level) = tenant_for_update(&mut tx, slug).await?;
    if level != IsolationLevel::INSTANCE {
        return Err(AppError::Conflict("The tenant left isolation level 3 meanwhile.".into()));
    }
    let live = lock(&mut tx, tenant_id, version).await?;
    if step == Step::Render && outcome.is_ok() {
        let digest = super::render::Rendered::of(&subject.plan).map_err(AppError::internal)?.digest();
        sqlx::query!("UPDATE activations SET manifests_digest = $2 WHERE id = $1", live.id, digest)
            .execute(&mut *tx)
            .await?;
    }
    let next = record_step(&mut tx, actor, tenant_id, slug, &live, step, outcome).await?;
    if let Some((envelope, key_id)) = envelope {
        let body = serde_json::to_value(&envelope).map_err(AppError::internal)?;
        let sha256 = <sha2::Sha256 as sha2::Digest>::digest(serde_json::to_vec(&body).unwrap_or_default()).to_vec();
        sqlx::query!(
            "INSERT INTO isolation_reports (tenant_id, activation_id, envelope, sha256, key_id) VALUES ($1, $2, $3, $4, $5)",
            tenant_id,
            live.id,
            body,
            sha256,
            key_id
        )
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            actor,
            NewEvent::new("activation.report_issued")
                .tenant(tenant_id)
                .target(slug)
                .after(json!({ "sha256": hex::encode(&sha256), "key_id": key_id })),
        )
        .await?;
    }
    if next == ActivationState::Active {
        // Only now: the tenant's own domain and upstream, and dedicated routing.
        sqlx::query!(
            "UPDATE tenants SET dedicated_instance = true, status = CASE WHEN status = 'provisioning' THEN 'active' ELSE status END,
                    domain = $2, upstream = $3, version = version + 1, updated_at = now()
              WHERE id = $1",
            tenant_id,
            subject.domain,
            subject.upstream
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ran { state: next, fresh_queue_password: fresh_secret.filter(|_| next == ActivationState::Verified) })
}

/// Signs the report of a verification that passed: the rendered files as
/// subjects, every probe's latest evidence as the predicate.
async fn issue_report(
    state: &crate::server::state::AppState,
    signer: &crate::audit::checkpoint::Signer25519,
    subject: &Subject,
    verify_evidence: &Value,
) -> Result<(super::report::Envelope, String), AppError> {
    let rendered = super::render::Rendered::of(&subject.plan).map_err(AppError::internal)?;
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

/// `GET /tenants/{slug}/activation/report.json`: the newest signed report, to
/// platform staff and to the tenant's own admins.
pub async fn report_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
    meta: Option<axum::Extension<crate::auth::session::ClientMeta>>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    let mut tx = crate::server::db::begin(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let row = sqlx::query!(
        "SELECT r.tenant_id, r.envelope, r.sha256 FROM isolation_reports r JOIN tenants t ON t.id = r.tenant_id
          WHERE t.slug = $1 ORDER BY r.id DESC LIMIT 1",
        slug
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let actor = meta.map(|axum::Extension(m)| m).unwrap_or_default().actor(Some(&user));
    audit::record(
        &mut tx,
        &actor,
        NewEvent::new("activation.report_downloaded")
            .tenant(row.tenant_id)
            .target(slug.as_str())
            .after(json!({ "sha256": hex::encode(&row.sha256) })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        [
            (http::header::CONTENT_TYPE, "application/json".to_string()),
            (
                http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"tenant-{slug}.isolation-report.json\""),
            ),
        ],
        serde_json::to_string_pretty(&row.envelope).map_err(AppError::internal)?,
    )
        .into_response())
}

/// What running a step did: the new state, and the tenant's Redis password
/// when this run made it (to be shown once).
pub struct Ran {
    pub state: ActivationState,
    pub fresh_queue_password: Option<String>,
}

/// The password of the tenant's Redis user: the one kept sealed, or a new
/// one (kept at once, and noted in `fresh` to be shown once).
async fn queue_password(
    state: &crate::server::state::AppState,
    tenant_id: Uuid,
    fresh: &mut Option<String>,
) -> Result<String, AppError> {
    use crate::server::db::{begin, Scope};
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    let sealed = sqlx::query_scalar!(
        "SELECT queue_secret FROM activations WHERE tenant_id = $1 AND state <> 'rolled_back' FOR UPDATE",
        tenant_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(password) = sealed.and_then(|s| state.secrets.open(tenant_id, &s).ok()) {
        tx.commit().await?;
        return String::from_utf8(password).map_err(AppError::internal);
    }
    let password = crate::team::ssr::new_link_token().0;
    sqlx::query!(
        "UPDATE activations SET queue_secret = $2 WHERE tenant_id = $1 AND state <> 'rolled_back'",
        tenant_id,
        state.secrets.seal(tenant_id, password.as_bytes())
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    *fresh = Some(password.clone());
    Ok(password)
}

/// `GET /tenants/{slug}/activation/files/{name}`: a rendered file, for platform staff and the tenant's admins.
pub async fn file_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path((slug, name)): axum::extract::Path<(String, String)>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    let mut tx = crate::server::db::begin(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let subject = subject(&mut tx, &state.config, &slug).await?;
    tx.commit().await?;
    let rendered = super::render::Rendered::of(&subject.plan).map_err(AppError::internal)?;
    let (name, body) = rendered.files.into_iter().find(|(n, _)| *n == name).ok_or(AppError::NotFound)?;
    let mime = if name.ends_with(".json") { "application/json" } else { "application/yaml" };
    Ok((
        [
            (http::header::CONTENT_TYPE, mime.to_string()),
            (http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

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
        Ok(_) => super::probes::health(&subject.health_url).await.map(|_| ()),
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
