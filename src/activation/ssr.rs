//! The activation checklist's page and steps, server only: the page's data,
//! the configuration, and running a step (its slow checks outside any lock,
//! then recorded with the state it leads to).

use super::lifecycle::{actor_label, lock, record_step};
use super::state::{self, ActivationState, Step};
use super::subject::subject;
use crate::audit::{self, Actor, NewEvent};
use crate::domain::isolation::IsolationLevel;
use crate::error::AppError;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

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
        "SELECT sha256, key_id, issued_at, envelope FROM isolation_reports WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1",
        t.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| {
        // What it states, read from its own payload (the record is the signed envelope).
        let statement: Value = serde_json::from_value::<super::report::Envelope>(r.envelope)
            .ok()
            .and_then(|e| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, e.payload).ok())
            .and_then(|p| serde_json::from_slice(&p).ok())
            .unwrap_or_default();
        let subjects = statement["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (s["name"].as_str().unwrap_or_default().to_string(), s["digest"]["sha256"].as_str().unwrap_or_default().to_string())
            })
            .collect();
        super::ReportSummary {
            sha256: hex::encode(r.sha256),
            key_id: r.key_id,
            subjects,
            predicate: serde_json::to_string_pretty(&statement["predicate"]).unwrap_or_default(),
            issued_at: r.issued_at,
        }
    });
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
    super::bundle::names(slug).to_vec()
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
    match crate::domain::host::normalise(input) {
        Some(d) if d.contains('.') => Ok(d),
        _ => Err(format!("“{input}” is not a domain name.")),
    }
}

/// An `http(s)://` address with a host.
pub fn parse_url(input: &str, what: &str) -> Result<String, String> {
    let input = input.trim();
    let ok = ["http://", "https://"].iter().any(|p| input.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        && !input.contains(char::is_whitespace);
    let url = reqwest::Url::parse(input).ok().filter(|u| ok && u.host_str().is_some_and(|h| !h.is_empty()));
    let Some(url) = url else {
        return Err(format!("Enter the {what} as an http:// or https:// address."));
    };
    // Whatever is in the address is shown on the checklist and kept in its evidence.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "The {what} may not hold a user name or password: they would be shown to everyone who reads the checklist."
        ));
    }
    Ok(input.to_string())
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
    // The probes go where public addresses are, or the networks the operator allows.
    let health = parse_url(health_url, "health URL")
        .and_then(|u| {
            crate::server::fence::Fence::probes(state.config.probe_allow_networks.clone()).check_url(&u).map(|_| u)
        })
        .map_err(|m| errors.push(("health_url", m)))
        .ok();
    let (Some(domain), Some(upstream), Some(health)) = (domain, upstream, health) else {
        return Err(AppError::Invalid(
            errors.into_iter().map(|(f, m)| crate::error::FieldError { field: f.into(), message: m }).collect(),
        ));
    };
    // `<slug>.<base domain>` names the tenant `slug` at the edge: another
    // tenant's dedicated domain may not take it.
    let under_base = state.config.base_domain.as_deref().and_then(|base| crate::domain::host::subdomain(&domain, base));
    if under_base.is_some_and(|label| label != slug) {
        return Err(AppError::invalid(
            "domain",
            format!("“{domain}” names another tenant under the base domain: choose a name of the customer's own."),
        ));
    }
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
        Step::Apply => super::probes::health(&state.config, &subject.health_url).await,
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
                let envelope = super::issue::issue_report(state, signer, &subject, &evidence).await?;
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
        let digest = super::bundle::Rendered::of(&subject.plan).map_err(AppError::internal)?.digest();
        sqlx::query!("UPDATE activations SET manifests_digest = $2 WHERE id = $1", live.id, digest)
            .execute(&mut *tx)
            .await?;
    }
    let next = record_step(&mut tx, actor, tenant_id, slug, &live, step, outcome).await?;
    if let Some((envelope, key_id)) = envelope {
        super::issue::keep_report(&mut tx, actor, tenant_id, live.id, slug, &envelope, &key_id).await?;
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
    let password = crate::auth::link_token::new_link_token().0;
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
