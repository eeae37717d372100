//! `GET /metrics` (token scope `metrics`), in the Prometheus text format
//! (OpenMetrics): HTTP requests by route and status with latency
//! histograms, routing decisions by outcome, the pool and the process, live;
//! and the tenants' usage, quotas and utilisation from a snapshot refreshed
//! in the background (see [`tenants`] for how tenant labels are bounded).

pub mod http;
mod process;
pub mod tenants;

use crate::domain::token_scope::TokenScope;
use crate::routing::Routing;
use arc_swap::ArcSwap;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Latency buckets, in seconds: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

type Labels = Vec<(&'static str, String)>;

/// The live metrics and the last snapshot of the tenants'.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<Labels, Counter>,
    pub(crate) latency: Family<Labels, Histogram>,
    decisions: Family<Labels, Counter<u64, AtomicU64>>,
    pool: Family<Labels, Gauge>,
    /// The routing table's age (seconds since its last full load; -1 before
    /// the first), whether its listening connection is up, and its size.
    table_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    table_listening: Gauge,
    table_entries: Family<Labels, Gauge>,
    /// Usage samples the fold set aside, and how far behind it is.
    usage_quarantined: Counter<u64, AtomicU64>,
    usage_fold_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    process: process::Process,
    /// The tenants' series, encoded, with the time they took to read.
    tenants: ArcSwap<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "bulkhead_http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register_with_unit(
            "bulkhead_http_request_duration",
            "Time to answer an HTTP request, by route",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let decisions = Family::<Labels, Counter<u64, AtomicU64>>::default();
        registry.register("bulkhead_routing_decisions", "Routing check answers, by outcome", decisions.clone());
        let pool = Family::<Labels, Gauge>::default();
        registry.register("bulkhead_db_pool_connections", "Database pool connections, by state", pool.clone());
        let table_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "bulkhead_routing_table_age",
            "Time since the routing table was last loaded in full (-1: not yet loaded)",
            prometheus_client::registry::Unit::Seconds,
            table_age.clone(),
        );
        let table_listening = Gauge::default();
        registry.register(
            "bulkhead_routing_table_listening",
            "1 while the routing table hears the database's change notices",
            table_listening.clone(),
        );
        let table_entries = Family::<Labels, Gauge>::default();
        registry.register(
            "bulkhead_routing_table_entries",
            "Entries in the routing table, by kind",
            table_entries.clone(),
        );
        let usage_quarantined = Counter::<u64, AtomicU64>::default();
        registry.register(
            "bulkhead_usage_quarantined",
            "Usage samples the fold set aside because they could not be folded",
            usage_quarantined.clone(),
        );
        let usage_fold_lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "bulkhead_usage_fold_lag",
            "Age of the oldest reported sample not yet folded, at the last fold (-1: no fold yet)",
            prometheus_client::registry::Unit::Seconds,
            usage_fold_lag.clone(),
        );
        let process = process::Process::register(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            decisions,
            pool,
            table_age,
            table_listening,
            table_entries,
            usage_quarantined,
            usage_fold_lag,
            process,
            tenants: ArcSwap::from_pointee(String::new()),
        }
    }
}

impl Metrics {
    /// Replaces the tenants' series with a new snapshot.
    pub fn set_tenants(&self, encoded: String) {
        self.tenants.store(Arc::new(encoded));
    }

    /// The whole exposition: live metrics, then the tenants' snapshot.
    pub fn encode(&self, routing: &crate::routing::Routing, pool: &sqlx::PgPool) -> String {
        for (outcome, n) in routing.decisions.counts() {
            let counter = self.decisions.get_or_create(&vec![("outcome", outcome.to_string())]);
            // Counters only rise: bring this one up to the check's own count.
            let seen = counter.get();
            if n > seen {
                counter.inc_by(n - seen);
            }
        }
        let idle = pool.num_idle() as i64;
        self.pool.get_or_create(&vec![("state", "idle".to_string())]).set(idle);
        self.pool.get_or_create(&vec![("state", "in_use".to_string())]).set(pool.size() as i64 - idle);
        self.pool.get_or_create(&vec![("state", "max".to_string())]).set(pool.options().get_max_connections() as i64);
        self.table_age.set(routing.age().map(|a| a.as_secs_f64()).unwrap_or(-1.0));
        self.table_listening.set(routing.listening() as i64);
        let table = routing.table();
        self.table_entries.get_or_create(&vec![("kind", "tenants".to_string())]).set(table.tenants() as i64);
        self.table_entries.get_or_create(&vec![("kind", "keys".to_string())]).set(table.key_count() as i64);
        drop(table);
        let quarantined = crate::usage::fold_stats::quarantined_total();
        let seen = self.usage_quarantined.get();
        if quarantined > seen {
            self.usage_quarantined.inc_by(quarantined - seen);
        }
        self.usage_fold_lag.set(crate::usage::fold_stats::fold_lag().map(|l| l.as_secs_f64()).unwrap_or(-1.0));
        self.process.update();
        let mut out = String::with_capacity(64 * 1024);
        encode_registry(&mut out, &self.registry).expect("writing to a String cannot fail");
        out.push_str(&self.tenants.load());
        encode_eof(&mut out).expect("writing to a String cannot fail");
        out
    }
}

/// What `/metrics` reads: the routing check (its tokens and counts), the pool, the metrics.
pub type Sources = Arc<(Arc<Routing>, sqlx::PgPool, Arc<Metrics>)>;

/// `GET /metrics`.
pub async fn handler(State(sources): State<Sources>, headers: ::http::HeaderMap) -> Response {
    let (routing, pool, metrics) = &*sources;
    let now = time::OffsetDateTime::now_utc();
    if let Err(refused) = routing.table().authorize(&headers, TokenScope::Metrics, now) {
        return refused.into_response();
    }
    let body = metrics.encode(routing, pool);
    ([(::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}

/// Handlers take this capability's state as `State<Arc<Metrics>>` (axum's
/// `FromRef`); the composition root puts it in the state's parts.
impl axum::extract::FromRef<crate::server::state::AppState> for std::sync::Arc<Metrics> {
    fn from_ref(state: &crate::server::state::AppState) -> Self {
        state.part::<std::sync::Arc<Metrics>>().clone()
    }
}
