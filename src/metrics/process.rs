//! The process's own figures, read from `/proc/self` (Linux) at each scrape,
//! under the names Prometheus' client libraries use.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Clock ticks per second of `/proc/self/stat`'s times (Linux's `USER_HZ`).
const TICKS: f64 = 100.0;
const PAGE: i64 = 4096;

pub struct Process {
    cpu: Counter<f64, AtomicU64>,
    resident: Gauge,
    virtual_bytes: Gauge,
    fds: Gauge,
    start: Gauge<f64, AtomicU64>,
}

impl Process {
    pub fn register(registry: &mut Registry) -> Process {
        let p = Process {
            cpu: Counter::default(),
            resident: Gauge::default(),
            virtual_bytes: Gauge::default(),
            fds: Gauge::default(),
            start: Gauge::default(),
        };
        registry.register("process_cpu_seconds", "User and system CPU time spent, in seconds", p.cpu.clone());
        registry.register("process_resident_memory_bytes", "Resident memory size, in bytes", p.resident.clone());
        registry.register("process_virtual_memory_bytes", "Virtual memory size, in bytes", p.virtual_bytes.clone());
        registry.register("process_open_fds", "Open file descriptors", p.fds.clone());
        registry.register("process_start_time_seconds", "Start time since the Unix epoch, in seconds", p.start.clone());
        if let Some(started) = start_time() {
            p.start.set(started);
        }
        p
    }

    /// Reads the figures again (those the system does not give are left as they were).
    pub fn update(&self) {
        if let Some(fields) = stat() {
            // Fields 14 and 15 (utime, stime), counted from 1 with the command's parentheses removed.
            let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<f64>().ok()).sum();
            // A counter only rises: add what was spent since the last read.
            let spent = ticks / TICKS - self.cpu.get();
            if spent > 0.0 {
                self.cpu.inc_by(spent);
            }
        }
        if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
            let mut pages = statm.split_whitespace().map(|p| p.parse::<i64>().unwrap_or(0));
            self.virtual_bytes.set(pages.next().unwrap_or(0) * PAGE);
            self.resident.set(pages.next().unwrap_or(0) * PAGE);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.fds.set(dir.count() as i64);
        }
    }
}

/// `/proc/self/stat`'s fields after the command name (which may hold spaces).
fn stat() -> Option<Vec<String>> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// When the process started: the boot time plus its start in ticks.
fn start_time() -> Option<f64> {
    let started_ticks: f64 = stat()?.get(19)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
    Some(boot + started_ticks / TICKS)
}
