//! Amounts as people read them: bytes in binary units, counts with
//! thousands separators, CPU in cores.

/// A byte count in binary units: `512 MiB`, `8 GiB`, `1 TiB`.
pub fn format_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if (value - value.round()).abs() < 0.05 {
        format!("{:.0} {}", value, UNITS[unit])
    } else {
        format!("{:.1} {}", value, UNITS[unit])
    }
}

/// A count with thousands separators: `1,000,000`.
pub fn format_count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// CPU from millicores: `0.25 cores`, `2 cores`.
pub fn format_cpu(millicores: i64) -> String {
    let cores = millicores as f64 / 1000.0;
    let text = format!("{cores:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", if cores == 1.0 { "core" } else { "cores" })
}
