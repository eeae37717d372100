//! What each step checks, against the live parts: the rendered manifests'
//! invariants, DNS, the TLS certificate, the dedicated API's health, and the
//! isolation probes. Each answers its evidence, or the reason it failed with
//! the evidence gathered so far; none says "done" about anything it did not
//! just check.

use super::bundle::Rendered;
use super::invariants::policy_problems;
use super::subject::Subject;
use crate::server::config::Config;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A step's outcome: evidence, or the reason and what was gathered.
pub type Outcome = Result<Value, (String, Value)>;

/// How long a network check may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A certificate must stay valid this long past the check.
pub const MIN_VALIDITY_DAYS: u64 = 14;

/// Produces the files and their digests (the report's subjects).
pub fn render(subject: &Subject) -> Outcome {
    let rendered =
        Rendered::of(&subject.plan).map_err(|e| (format!("The manifests could not be produced: {e}"), json!({})))?;
    let files: Vec<Value> =
        rendered.digests().into_iter().map(|(name, sha256)| json!({ "name": name, "sha256": sha256 })).collect();
    Ok(json!({ "files": files, "namespace": subject.plan.namespace, "queue": subject.plan.queue() }))
}

/// The manifests keep their invariants (parsed back as written), the domain
/// resolves, and it presents a certificate valid for its name for two more weeks.
pub async fn validate(subject: &Subject, config: &Config) -> Outcome {
    let rendered = Rendered::of(&subject.plan).map_err(|e| (e, json!({})))?;
    let digest = rendered.digest();
    let mut evidence = json!({ "manifests_sha256": hex::encode(&digest) });
    if subject.digest.as_deref() != Some(digest.as_slice()) {
        return Err((
            "The manifests changed since they were rendered (the tenant's limits moved): render them again.".into(),
            evidence,
        ));
    }
    let problems = policy_problems(&rendered.files[0].1, &subject.plan);
    if !problems.is_empty() {
        return Err((format!("The manifests break their invariants: {}.", problems.join("; ")), evidence));
    }
    evidence["network_policy"] = json!("default deny; ingress from the router only; egress DNS, PostgreSQL, Redis");
    let addresses = match resolve(&subject.domain, config.tls_check_port, config.dns_server).await {
        Ok(a) => a,
        Err(reason) => return Err((reason, evidence)),
    };
    evidence["dns"] = json!(addresses.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>());
    // The TLS check connects only where the fence lets the console go.
    let fence = crate::server::fence::Fence::probes(config.probe_allow_networks.clone());
    let Some(address) = addresses.iter().copied().find(|a| fence.permits(a.ip())) else {
        return Err((
            format!("DNS: {}", fence.refusal(&format!("{} ({})", subject.domain, addresses[0].ip()))),
            evidence,
        ));
    };
    let roots = match roots(config) {
        Ok(r) => r,
        Err(reason) => return Err((reason, evidence)),
    };
    match tls_check(&subject.domain, address, roots).await {
        Ok(tls) => {
            evidence["tls"] = tls;
            Ok(evidence)
        }
        Err(reason) => Err((reason, evidence)),
    }
}

/// The domain's addresses, as `server` answers (the system's resolver without one).
pub async fn resolve(domain: &str, port: u16, server: Option<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    if let Some(server) = server {
        return resolve_with(domain, port, server).await;
    }
    match tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((domain, port))).await {
        Err(_) => Err(format!("DNS: looking up {domain} timed out.")),
        Ok(Err(e)) => Err(format!("DNS: {domain} does not resolve ({e}).")),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(format!("DNS: {domain} has no address."))
            } else {
                Ok(addrs)
            }
        }
    }
}

async fn resolve_with(domain: &str, port: u16, server: SocketAddr) -> Result<Vec<SocketAddr>, String> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
    for c in &mut name_server.connections {
        c.port = server.port();
    }
    let resolver = hickory_resolver::Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![name_server]),
        TokioRuntimeProvider::default(),
    )
    .build()
    .map_err(|e| format!("DNS: the resolver for {server} could not start ({e})."))?;
    // Fully qualified: no search domain is tried.
    match tokio::time::timeout(TIMEOUT, resolver.lookup_ip(format!("{domain}."))).await {
        Err(_) => Err(format!("DNS: looking up {domain} at {server} timed out.")),
        Ok(Err(e)) => Err(format!("DNS: {domain} does not resolve at {server} ({e}).")),
        Ok(Ok(ips)) => {
            let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, port)).collect();
            if addrs.is_empty() {
                Err(format!("DNS: {domain} has no address at {server}."))
            } else {
                Ok(addrs)
            }
        }
    }
}

/// The certificates the TLS check trusts.
pub fn roots(config: &Config) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    match &config.tls_roots {
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("BULKHEAD_TLS_ROOTS ({}) cannot be read: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("BULKHEAD_TLS_ROOTS holds a bad certificate: {e}"))?;
                store.add(cert).map_err(|e| format!("BULKHEAD_TLS_ROOTS holds an unusable certificate: {e}"))?;
            }
        }
    }
    Ok(store)
}

/// Keeps the server's chain for checking after the handshake: the probe
/// sends nothing over the connection.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Option<(CertificateDer<'static>, Vec<CertificateDer<'static>>)>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = (end_entity.clone().into_owned(), intermediates.iter().map(|c| c.clone().into_owned()).collect());
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = Some(chain);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn certificate_problem(domain: &str, err: &rustls::Error, later: bool) -> String {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })
            if later =>
        {
            format!("TLS: the certificate of {domain} expires within {MIN_VALIDITY_DAYS} days: renew it first.")
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            format!("TLS: the certificate of {domain} has expired.")
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => {
            format!("TLS: the certificate of {domain} is not valid yet.")
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!("TLS: the certificate presented is not valid for {domain}."),
        // A chain to no trusted root, or to a root of the same name that did not sign it.
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            format!("TLS: the certificate of {domain} is not issued by a trusted authority (unknown issuer).")
        }
        other => format!("TLS: the certificate of {domain} is refused: {other}."),
    }
}

/// Connects to `addr`, asks for `domain`, and checks the certificate chain
/// against `roots` now and in `MIN_VALIDITY_DAYS` days.
pub async fn tls_check(domain: &str, addr: SocketAddr, roots: rustls::RootCertStore) -> Result<Value, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder { chain: Mutex::new(None), provider: provider.clone() });
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(domain.to_string()).map_err(|_| format!("TLS: {domain} is not a server name."))?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("TLS: cannot reach {domain} at {addr} ({e})."))?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS: the handshake with {domain} at {addr} failed ({e})."))
    };
    let stream = tokio::time::timeout(TIMEOUT, handshake)
        .await
        .map_err(|_| format!("TLS: {domain} at {addr} did not answer in time."))??;
    drop(stream);
    let (end_entity, intermediates) = recorder
        .chain
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| format!("TLS: {domain} presented no certificate."))?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("TLS: no roots to check against ({e})."))?;
    let now = UnixTime::now();
    verifier
        .verify_server_cert(&end_entity, &intermediates, &name, &[], now)
        .map_err(|e| certificate_problem(domain, &e, false))?;
    let later = UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + MIN_VALIDITY_DAYS * 86_400));
    verifier
        .verify_server_cert(&end_entity, &intermediates, &name, &[], later)
        .map_err(|e| certificate_problem(domain, &e, true))?;
    Ok(json!({
        "address": addr.to_string(),
        "certificate_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(end_entity.as_ref())),
        "valid_for_name": domain,
        "valid_for_at_least_days": MIN_VALIDITY_DAYS,
    }))
}

/// The dedicated API's health URL answers 200 within the timeout, asked
/// only at an address the probes' fence permits (a name is resolved through it).
pub async fn health(config: &Config, url: &str) -> Outcome {
    let fence = crate::server::fence::Fence::probes(config.probe_allow_networks.clone());
    fence.check_url(url).map_err(|reason| (reason, json!({ "url": url })))?;
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(fence))
        .build()
        .map_err(|e| (format!("The health check could not start: {e}"), json!({})))?;
    let started = std::time::Instant::now();
    match client.get(url).send().await {
        Err(e) if e.is_timeout() => {
            Err((format!("The health URL {url} did not answer within {} s.", TIMEOUT.as_secs()), json!({ "url": url })))
        }
        Err(e) => {
            // The innermost cause says why (a refused address, a refused connection).
            let mut cause: &dyn std::error::Error = &e;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            Err((format!("The health URL {url} cannot be reached: {cause}"), json!({ "url": url })))
        }
        Ok(res) => {
            let evidence =
                json!({ "url": url, "status": res.status().as_u16(), "millis": started.elapsed().as_millis() as u64 });
            if res.status() == reqwest::StatusCode::OK {
                Ok(evidence)
            } else {
                Err((format!("The health URL {url} answered {} instead of 200.", res.status()), evidence))
            }
        }
    }
}

/// The isolation probes: the database scopes another tenant out of this
/// one's rows, the routing check does not yet send the domain to the
/// dedicated upstream, and the tenant's Redis queue is its own.
/// With `provision`, the queue and its user are (re)made first; without, they are proven as they stand.
pub async fn verify(
    pool: &sqlx::PgPool,
    config: &Config,
    subject: &Subject,
    queue_password: &str,
    provision: bool,
) -> Outcome {
    let mut evidence = json!({});
    match rls_probe(pool, subject.tenant_id).await {
        Ok(e) => evidence["rls"] = e,
        Err(reason) => return Err((reason, evidence)),
    }
    let rendered = Rendered::of(&subject.plan).map_err(|e| (e, evidence.clone()))?;
    let problems = policy_problems(&rendered.files[0].1, &subject.plan);
    if !problems.is_empty() {
        return Err((format!("NetworkPolicy: {}.", problems.join("; ")), evidence));
    }
    evidence["network_policy"] = json!("invariants hold");
    let Some(redis_url) = &config.redis_url else {
        return Err((
            "Redis is not configured (BULKHEAD_REDIS_URL): the tenant's queue cannot be proven isolated, so this step cannot pass."
                .into(),
            evidence,
        ));
    };
    match super::queue::provision_and_prove(redis_url, &subject.slug, queue_password, provision).await {
        Ok(queue) => {
            evidence["redis"] = queue;
            Ok(evidence)
        }
        Err(reason) => Err((reason, evidence)),
    }
}

/// Another tenant's scope reads none of this tenant's rows and cannot write one.
pub async fn rls_probe(pool: &sqlx::PgPool, tenant_id: uuid::Uuid) -> Result<Value, String> {
    use crate::server::db::{begin, Scope};
    let stranger = uuid::Uuid::new_v4();
    let failed = |e: sqlx::Error| format!("RLS probe: {e}");
    let mut tx = begin(pool, Scope::Tenant(stranger)).await.map_err(failed)?;
    let mut seen = serde_json::Map::new();
    for (table, sql) in [
        ("tenants", "SELECT count(*) FROM tenants WHERE id = $1"),
        ("audit_events", "SELECT count(*) FROM audit_events WHERE tenant_id = $1"),
        ("activations", "SELECT count(*) FROM activations WHERE tenant_id = $1"),
        ("usage_samples", "SELECT count(*) FROM usage_samples WHERE tenant_id = $1"),
        ("api_calls", "SELECT count(*) FROM api_calls WHERE tenant_id = $1"),
    ] {
        let n: i64 = sqlx::query_scalar(sql).bind(tenant_id).fetch_one(&mut *tx).await.map_err(failed)?;
        if n != 0 {
            return Err(format!("RLS probe: another tenant's scope reads {n} of this tenant's rows in {table}."));
        }
        seen.insert(table.into(), json!(0));
    }
    tx.rollback().await.map_err(failed)?;
    let mut tx = begin(pool, Scope::Tenant(stranger)).await.map_err(failed)?;
    let write = sqlx::query("INSERT INTO audit_events (tenant_id, action) VALUES ($1, 'probe')")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await;
    tx.rollback().await.map_err(failed)?;
    if write.is_ok() {
        return Err("RLS probe: another tenant's scope could write an event for this tenant.".into());
    }
    Ok(json!({ "rows_seen_by_another_tenant": seen, "write_by_another_tenant": "refused" }))
}
