//! What the fold tells `/metrics`: counters kept in this process, in a file
//! that imports nothing, so the metrics read them without reaching into the
//! fold (which reaches the alerts, the quotas and the tiers).

/// Samples set aside since this process started (for `/metrics`).
pub(super) static QUARANTINED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The age of the oldest sample waiting to be folded, in milliseconds, at the
/// end of the last fold (`u64::MAX` before the first).
pub(super) static LAG_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

/// Samples the fold has set aside since this process started.
pub fn quarantined_total() -> u64 {
    QUARANTINED.load(std::sync::atomic::Ordering::Relaxed)
}

/// How far behind the fold was at its last run; `None` before the first.
pub fn fold_lag() -> Option<std::time::Duration> {
    match LAG_MS.load(std::sync::atomic::Ordering::Relaxed) {
        u64::MAX => None,
        ms => Some(std::time::Duration::from_millis(ms)),
    }
}
