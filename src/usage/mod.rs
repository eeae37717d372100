//! Usage: what tenants consume, measured against their quotas: reported
//! through the ingestion API, folded into hourly buckets, shown per tenant
//! on its usage page as meters and 30-day charts.

#[cfg(feature = "ssr")]
pub mod cloudevents;
#[cfg(feature = "ssr")]
pub mod fold;
#[cfg(feature = "ssr")]
pub mod fold_stats;
#[cfg(feature = "ssr")]
pub mod ingest;
#[cfg(feature = "ssr")]
pub mod problem;
#[cfg(feature = "ssr")]
pub mod ssr;

use crate::domain::limits::Limit;
use crate::quotas::EffectiveLimit;
use serde::{Deserialize, Serialize};

/// Days a usage chart covers.
pub const CHART_DAYS: i64 = 30;

/// The metrics reported through the ingestion API, their limits and names.
pub const GAUGES: [(&str, Limit, &str); 5] = [
    ("storage_bytes", Limit::Storage, "Storage"),
    ("memory_bytes", Limit::Memory, "Memory"),
    ("cpu_millicores", Limit::Cpu, "CPU"),
    ("users", Limit::Users, "Users"),
    ("db_connections", Limit::DbConnections, "DB connections"),
];

/// One day of a chart, as its table lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub average: f64,
    pub peak: f64,
}

/// One metric over the last 30 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub metric: String,
    pub title: String,
    pub limit: Limit,
    /// The quota drawn across the chart (none for API calls per day: their quota is monthly).
    pub quota: Option<i64>,
    /// Hours since the chart's start and the hour's peak (gauges); days and
    /// calls (API calls, drawn as bars).
    pub points: Vec<(u32, f64)>,
    pub bars: bool,
    pub days: Vec<Day>,
}

/// A tenant's usage page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub slug: String,
    pub name: String,
    pub limits: Vec<EffectiveLimit>,
    /// The first day the charts show (`YYYY-MM-DD`, UTC) and the last.
    pub from: String,
    pub to: String,
    pub charts: Vec<Chart>,
}
