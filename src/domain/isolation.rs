//! Isolation levels: how a tenant's data and workloads are kept apart.

/// Where a tenant's data lives and how it is separated.
pub fn isolation_label(level: i16) -> &'static str {
    match level {
        1 => "1 · Logical (shared database, Row-Level Security)",
        2 => "2 · Dedicated namespace",
        3 => "3 · Dedicated instance",
        _ => "unknown",
    }
}

/// Parses an isolation level from a form value.
pub fn parse_isolation(input: &str) -> Result<i16, String> {
    match input.trim() {
        "1" => Ok(1),
        "2" => Ok(2),
        "3" => Ok(3),
        _ => Err("Choose isolation level 1, 2 or 3.".into()),
    }
}
