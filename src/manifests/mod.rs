//! What Bulkhead hands a cluster for a tenant, rendered from typed
//! structures and checked as written: the namespace's guardrails
//! (NetworkPolicy, ResourceQuota, LimitRange) of levels 2 and 3, the
//! workloads of a dedicated instance, its Compose file and storage policy,
//! and the directory GitOps tools apply. Server only; it names no capability
//! but the configuration it is given.

pub mod bundle;
pub mod invariants;
pub mod outside;
pub mod render;
mod workload;
