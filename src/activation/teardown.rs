//! A dedicated instance taken down, server only. When a tenant is deleted or
//! leaves level 3, its activation is rolled back in that transaction (the
//! routing returns to the shared pool, its domain is released, its scheduled
//! probes stop) and a teardown is queued. Here the console's background work
//! carries it out: it disables and then deletes the tenant's Redis ACL user
//! and its stream, observes that both are gone, and signs a statement of
//! what it did and of what the operator must remove (the namespace, the
//! Compose project, the bucket, the DNS record…). Until Redis and the
//! signing key are there, the teardown stays pending with its reason.

use crate::audit::{self, Actor, NewEvent};
use crate::error::AppError;
use redis::IntoConnectionInfo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub use super::report::TEARDOWN_PREDICATE_TYPE as PREDICATE_TYPE;

/// How often the background work looks for teardowns to carry out.
const EVERY: Duration = Duration::from_secs(5);

/// Carries out the pending teardowns, in the background.
pub fn spawn(state: &crate::server::state::AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = run_pending(&state).await {
                tracing::warn!(error = %err, "pending teardowns could not be read");
            }
        }
    });
}

/// Tries every pending teardown once; the number completed. Each is claimed
/// in its own transaction (`FOR UPDATE SKIP LOCKED`), held while its Redis
/// work runs, so two consoles never carry out, sign and audit the same one.
pub async fn run_pending(state: &crate::server::state::AppState) -> Result<usize, AppError> {
    use crate::server::db::{begin, Scope};
    let mut done = 0;
    let mut after = 0_i64;
    loop {
        let mut tx = begin(&state.pool, Scope::Platform).await?;
        let Some(p) = sqlx::query!(
            r#"SELECT d.id, d.tenant_id, d.activation_id, d.reason, d.released, d.requested_at, d.last_failure,
                      d.redis_evidence, t.slug, t.namespace_target, a.manifests_digest,
                      a.queue_secret IS NOT NULL AS "queue_provisioned!"
                 FROM teardowns d JOIN tenants t ON t.id = d.tenant_id JOIN activations a ON a.id = d.activation_id
                WHERE d.done_at IS NULL AND d.id > $1 ORDER BY d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED"#,
            after
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            break;
        };
        after = p.id;
        let redis = match (&p.redis_evidence, p.queue_provisioned, &state.config.redis_url) {
            (Some(evidence), _, _) => Ok(evidence.clone()),
            // The checklist never reached verification: no user or stream was made.
            (None, false, _) => Ok(json!({
                "at": rfc3339(time::OffsetDateTime::now_utc()),
                "user": super::queue::user_name(&p.slug),
                "provisioned": false,
            })),
            (None, true, None) => {
                Err("Redis is not configured (BULKHEAD_REDIS_URL): the tenant's ACL user and stream \
                                      cannot be removed from here."
                    .to_string())
            }
            (None, true, Some(url)) => remove_queue(url, &p.slug).await,
        };
        let namespace = p.namespace_target.clone().unwrap_or_else(|| format!("tenant-{}", p.slug));
        let outcome = match (&redis, &state.config.signing_key) {
            (Err(reason), _) => Err(reason.clone()),
            (Ok(_), None) => {
                Err("No signing key (BULKHEAD_SIGNING_KEY): the teardown statement cannot be signed.".into())
            }
            (Ok(evidence), Some(signer)) => {
                let predicate = json!({
                    "tenant": { "id": p.tenant_id, "slug": p.slug },
                    "reason": p.reason,
                    "requested_at": rfc3339(p.requested_at),
                    "issued_at": rfc3339(time::OffsetDateTime::now_utc()),
                    "issuer": state.config.public_origin.clone().unwrap_or_else(|| "Bulkhead".into()),
                    "done_by_bulkhead": {
                        "routing": "back to the shared pool",
                        "released": p.released,
                        "activation": { "id": p.activation_id, "state": "rolled_back" },
                        "scheduled_probes": "stopped",
                    },
                    // A queue never made was not observed gone: nothing is claimed of Redis then.
                    "observed": if evidence["provisioned"] == false {
                        json!({})
                    } else {
                        json!({ "redis": { "at": evidence["at"], "from": super::issue::observer(), "evidence": evidence } })
                    },
                    "redis_queue_provisioned": evidence["provisioned"] != false,
                    "operator_must_remove": operator_list(&p.slug, &namespace, p.released["domain"].as_str()),
                });
                let subjects: Vec<(String, String)> = p
                    .manifests_digest
                    .as_ref()
                    .map(|d| vec![(format!("tenant-{} rendered files", p.slug), hex::encode(d))])
                    .unwrap_or_default();
                let statement = super::report::statement_of(PREDICATE_TYPE, &subjects, predicate);
                Ok(super::report::sign(signer, &statement))
            }
        };
        let actor = Actor { role: Some("teardown".into()), ..Actor::default() };
        match outcome {
            Ok(envelope) => {
                let sha256 = Sha256::digest(serde_json::to_vec(&envelope).unwrap_or_default()).to_vec();
                let key_id = envelope.signatures[0].keyid.clone();
                sqlx::query!(
                    "UPDATE teardowns SET redis_evidence = $2, envelope = $3, sha256 = $4, key_id = $5, done_at = now(),
                            attempts = attempts + 1, last_failure = NULL WHERE id = $1",
                    p.id,
                    redis.as_ref().ok(),
                    serde_json::to_value(&envelope).map_err(AppError::internal)?,
                    sha256,
                    key_id
                )
                .execute(&mut *tx)
                .await?;
                audit::record(
                    &mut tx,
                    &actor,
                    NewEvent::new("activation.torn_down").tenant(p.tenant_id).target(p.slug.as_str()).after(
                        json!({ "redis": redis.as_ref().ok(), "sha256": hex::encode(&sha256), "key_id": key_id }),
                    ),
                )
                .await?;
                done += 1;
            }
            Err(reason) => {
                sqlx::query!(
                    "UPDATE teardowns SET redis_evidence = $2, attempts = attempts + 1, last_failure = $3 WHERE id = $1",
                    p.id,
                    redis.as_ref().ok(),
                    reason
                )
                .execute(&mut *tx)
                .await?;
                // One event per new reason, not one per attempt.
                if p.last_failure.as_deref() != Some(reason.as_str()) {
                    audit::record(
                        &mut tx,
                        &actor,
                        NewEvent::new("activation.teardown_pending")
                            .tenant(p.tenant_id)
                            .target(p.slug.as_str())
                            .after(json!({ "reason": reason })),
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
    }
    Ok(done)
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// What only the operator can remove, and how.
pub fn operator_list(slug: &str, namespace: &str, domain: Option<&str>) -> Vec<Value> {
    let mut list = vec![
        json!({ "what": "the Kubernetes namespace, and everything in it (Deployments, Service, NetworkPolicy, \
                         ResourceQuota, LimitRange, the tenant-credentials Secret)",
                 "name": namespace, "how": format!("kubectl delete namespace {namespace}") }),
        json!({ "what": "the rendered directory in the GitOps repository", "name": format!("tenant-{slug}/"),
                 "how": "remove it and commit: Argo CD or Flux prunes what it applied" }),
        json!({ "what": "the Compose project and its network", "name": format!("tenant-{slug}"),
                 "how": format!("docker compose -p tenant-{slug} down") }),
        json!({ "what": "the object-storage bucket and its IAM policy", "name": format!("bulkhead-tenant-{slug}"),
                 "how": "empty and delete the bucket, then delete the policy" }),
        json!({ "what": "the credentials the tenant's workloads held (database role, Redis password)",
                 "name": format!("tenant_{slug}"), "how": "revoke the database role's login; the Redis user is gone" }),
    ];
    if let Some(domain) = domain {
        list.push(json!({ "what": "the dedicated domain's DNS record and TLS certificate", "name": domain,
                          "how": "remove the record and revoke or let expire the certificate" }));
    }
    list
}

/// Disables the tenant's Redis user (its connections are closed), deletes it
/// and its stream, then observes that neither exists. The evidence.
pub async fn remove_queue(admin_url: &str, slug: &str) -> Result<Value, String> {
    let info = admin_url.into_connection_info().map_err(|e| format!("BULKHEAD_REDIS_URL: {e}"))?;
    let client = redis::Client::open(info).map_err(|e| format!("Redis: {e}"))?;
    let mut admin = tokio::time::timeout(Duration::from_secs(10), client.get_multiplexed_async_connection())
        .await
        .map_err(|_| "Redis did not answer in time.".to_string())?
        .map_err(|e| format!("Redis: {e}"))?;
    let user = super::queue::user_name(slug);
    let stream = super::render::queue_name(slug);
    let failed = |what: &str, e: redis::RedisError| format!("Redis: {what}: {e}");
    // Off first: no new command runs as the user, whatever happens next.
    let existed: redis::Value = redis::cmd("ACL")
        .arg("GETUSER")
        .arg(&user)
        .query_async(&mut admin)
        .await
        .map_err(|e| failed("reading the user", e))?;
    if existed != redis::Value::Nil {
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg("off")
            .query_async::<()>(&mut admin)
            .await
            .map_err(|e| failed("disabling the user", e))?;
    }
    let deleted_users: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut admin)
        .await
        .map_err(|e| failed("deleting the user", e))?;
    let deleted_keys: i64 =
        redis::cmd("DEL").arg(&stream).query_async(&mut admin).await.map_err(|e| failed("deleting the stream", e))?;
    // Observed: both gone.
    let after: redis::Value = redis::cmd("ACL")
        .arg("GETUSER")
        .arg(&user)
        .query_async(&mut admin)
        .await
        .map_err(|e| failed("reading the user back", e))?;
    let exists: i64 =
        redis::cmd("EXISTS").arg(&stream).query_async(&mut admin).await.map_err(|e| failed("reading the stream", e))?;
    if after != redis::Value::Nil || exists != 0 {
        return Err(format!("Redis: {user} or {stream} still exists after its deletion."));
    }
    Ok(json!({
        "at": rfc3339(time::OffsetDateTime::now_utc()),
        "user": user,
        "user_existed": existed != redis::Value::Nil,
        "disabled_then_deleted": deleted_users,
        "acl_getuser_after": null,
        "stream": stream,
        "stream_deleted": deleted_keys,
        "stream_exists_after": 0,
    }))
}
