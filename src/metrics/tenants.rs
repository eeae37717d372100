//! The tenants' series of `/metrics`, read from the database in the
//! background (every 15 s) and served from memory, so a scrape costs no
//! query however many tenants there are.
//!
//! Tenant labels are bounded: only tenants at 50 % or more of some quota get
//! series of their own (usage, quota, utilisation per limit), the fullest
//! first, at most `BULKHEAD_METRICS_TENANT_SERIES` of them (500 by default).
//! Every tenant is counted in `bulkhead_tenants_in_band` (per limit: under
//! 50 %, 50-80 %, 80-100 %, 100 % and over), so 100,000 tenants make at most
//! 500 × 18 labelled series plus a few dozen counts.

use crate::domain::limits::Limit;
use crate::server::db::{self, Scope};
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// The utilisation from which a tenant may get series of its own.
pub const LABEL_FROM: f64 = 0.5;
/// How often the snapshot is read again.
pub const EVERY: Duration = Duration::from_secs(15);

type Labels = Vec<(&'static str, String)>;

fn band(utilisation: f64) -> &'static str {
    match utilisation {
        u if u >= 1.0 => "100_and_over",
        u if u >= 0.8 => "80_to_100",
        u if u >= 0.5 => "50_to_80",
        _ => "under_50",
    }
}

/// A tenant that may be labelled: its slug, its fullest utilisation, and its
/// (limit, used, quota) figures.
type Candidate = (String, f64, Vec<(Limit, i64, i64)>);

/// Reads every tenant's usage against its quotas and encodes the series
/// (without the exposition's end); labels at most `max_tenants` tenants.
pub async fn snapshot(pool: &PgPool, max_tenants: usize) -> Result<String, sqlx::Error> {
    let started = Instant::now();
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let standings = crate::quotas::ssr::standings(&mut tx, crate::quotas::ssr::Which::Live).await?;
    let open_alerts = crate::alerts::ssr::open_count(&mut tx).await?;
    tx.commit().await?;

    let mut by_status: HashMap<(String, String), i64> = HashMap::new();
    let mut bands: HashMap<(&'static str, &'static str), i64> = HashMap::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    for t in standings {
        *by_status.entry((t.status, t.tier_id)).or_default() += 1;
        let limits = t.limits;
        let mut fullest = 0.0_f64;
        let mut figures = Vec::new();
        for l in limits {
            let used = l.used.unwrap_or(0);
            let u = if l.value > 0 { used as f64 / l.value as f64 } else { 0.0 };
            *bands.entry((l.limit.metric(), band(u))).or_default() += 1;
            fullest = fullest.max(u);
            if l.used.is_some() {
                figures.push((l.limit, used, l.value));
            }
        }
        if fullest >= LABEL_FROM {
            candidates.push((t.slug, fullest, figures));
        }
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    candidates.truncate(max_tenants);

    let mut registry = Registry::default();
    let usage_f = Family::<Labels, Gauge>::default();
    let quota_f = Family::<Labels, Gauge>::default();
    let ratio_f = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    for (slug, _, figures) in &candidates {
        for (limit, used, quota) in figures {
            let labels = vec![("tenant", slug.clone()), ("metric", limit.metric().to_string())];
            usage_f.get_or_create(&labels).set(*used);
            quota_f.get_or_create(&labels).set(*quota);
            ratio_f.get_or_create(&labels).set(if *quota > 0 { *used as f64 / *quota as f64 } else { 0.0 });
        }
    }
    registry.register(
        "bulkhead_tenant_usage",
        "Current usage of a tenant at 50 % or more of a quota, per limit",
        usage_f,
    );
    registry.register(
        "bulkhead_tenant_quota",
        "Effective quota of a tenant at 50 % or more of a quota, per limit",
        quota_f,
    );
    registry.register(
        "bulkhead_tenant_utilisation_ratio",
        "Usage over quota of a tenant at 50 % or more of a quota, per limit",
        ratio_f,
    );
    let bands_f = Family::<Labels, Gauge>::default();
    for limit in Limit::ALL {
        for b in ["under_50", "50_to_80", "80_to_100", "100_and_over"] {
            let n = bands.get(&(limit.metric(), b)).copied().unwrap_or(0);
            bands_f.get_or_create(&vec![("metric", limit.metric().to_string()), ("band", b.to_string())]).set(n);
        }
    }
    registry.register("bulkhead_tenants_in_band", "Tenants by utilisation band, per limit (every tenant)", bands_f);
    let tenants_f = Family::<Labels, Gauge>::default();
    for ((status, tier), n) in by_status {
        tenants_f.get_or_create(&vec![("status", status), ("tier", tier)]).set(n);
    }
    registry.register("bulkhead_tenants", "Tenants, by status and tier", tenants_f);
    let labelled: Gauge = Gauge::default();
    labelled.set(candidates.len() as i64);
    registry.register(
        "bulkhead_tenants_labelled",
        "Tenants given series of their own (the fullest, bounded)",
        labelled,
    );
    let open: Gauge = Gauge::default();
    open.set(open_alerts);
    registry.register("bulkhead_quota_alerts_open", "Quotas at or over 80 % now (open alerts)", open);
    let took: Gauge<f64, AtomicU64> = Gauge::default();
    took.set(started.elapsed().as_secs_f64());
    registry.register_with_unit(
        "bulkhead_metrics_snapshot_duration",
        "Time the last snapshot of the tenants took to read",
        prometheus_client::registry::Unit::Seconds,
        took,
    );
    let mut out = String::new();
    encode_registry(&mut out, &registry).expect("writing to a String cannot fail");
    Ok(out)
}

/// Reads the snapshot now and every [`EVERY`] after, in the background.
pub fn spawn_snapshots(pool: PgPool, metrics: std::sync::Arc<super::Metrics>, max: usize) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match snapshot(&pool, max).await {
                Ok(encoded) => metrics.set_tenants(encoded),
                Err(err) => {
                    tracing::warn!(error = %err, "the tenants' metrics could not be read; serving the last ones")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn bands_split_at_50_80_and_100_percent() {
        let b: Vec<&str> = [0.0, 0.49, 0.5, 0.79, 0.8, 0.99, 1.0, 7.0].iter().map(|u| super::band(*u)).collect();
        assert_eq!(
            b,
            ["under_50", "under_50", "50_to_80", "50_to_80", "80_to_100", "80_to_100", "100_and_over", "100_and_over"]
        );
    }
}
