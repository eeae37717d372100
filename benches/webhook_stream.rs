//! The webhook sender against a receiver that answers each delivery with a
//! 1 GiB body: how much the console's resident size grows while it delivers
//! 20 messages there (the receiver runs in its own process, so its buffers
//! are not counted), against the same process reading one such answer whole,
//! as a sender without a cap would, measured in the same run.
//!
//! Run with `cargo bench --features ssr --bench webhook_stream`. Needs a
//! PostgreSQL server (BULKHEAD_TEST_DATABASE_URL, as for the tests) and python3.

#[path = "../tests/common/mod.rs"]
mod common;

use bulkhead::audit::Actor;
use bulkhead::server::config::Config;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: usize = 20;

/// Answers every POST with 200 and a 1 GiB body, sent in 64 KiB writes until
/// the client goes; prints the bytes each answer got out.
const RECEIVER: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        size, chunk, sent = 1 << 30, b"x" * 65536, 0
        self.send_response(200)
        self.send_header("content-length", str(size))
        self.end_headers()
        try:
            while sent < size:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        print(sent, flush=True)
        self.close_connection = True
    do_GET = do_POST
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// This process's resident size and its peak since the last reset, in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().nth(1).unwrap().parse::<f64>().unwrap()
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak resident size (VmHWM) to the current one.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[tokio::main]
async fn main() {
    let mut receiver = Receiver(
        Command::new("python3")
            .args(["-c", RECEIVER])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the receiver"),
    );
    let mut lines = BufReader::new(receiver.0.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().parse().unwrap();
    let url = format!("http://127.0.0.1:{port}/hooks");

    let config = Config { webhook_allow_networks: vec!["127.0.0.0/8".parse().unwrap()], ..Config::default() };
    let app = common::spawn_app_with(config).await;
    let admin = app.create_admin("ops@example.com", common::TEST_PASSWORD).await;
    let endpoint = bulkhead::webhooks::ssr::NewEndpoint::parse(&url, "", &["quota.warning"]).unwrap();
    bulkhead::webhooks::ssr::create(&app.state, &Actor::cli(), admin, endpoint).await.unwrap();
    bulkhead::webhooks::send::spawn_sender(&app.state);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (before, _) = rss();
    reset_peak();
    let started = Instant::now();
    for i in 0..MESSAGES {
        let mut tx = bulkhead::server::db::begin(&app.pool, bulkhead::server::db::Scope::Platform).await.unwrap();
        bulkhead::webhooks::outbox::enqueue(&mut tx, "quota.warning", serde_json::json!({ "n": i })).await.unwrap();
        tx.commit().await.unwrap();
    }
    loop {
        let attempted: i64 = sqlx::query_scalar("SELECT count(DISTINCT delivery_id) FROM webhook_attempts")
            .fetch_one(&app.owner)
            .await
            .unwrap();
        if attempted as usize >= MESSAGES {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "{attempted} of {MESSAGES} delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let (after, peak) = rss();
    let sent: Vec<u64> = (0..MESSAGES).map(|_| lines.next().unwrap().unwrap().parse().unwrap()).collect();

    // The anchor: one such answer read whole.
    reset_peak();
    let (whole_before, _) = rss();
    let body = reqwest::Client::new().post(&url).body("{}").send().await.unwrap().bytes().await.unwrap();
    let (_, whole_peak) = rss();
    let whole_len = body.len();
    drop(body);

    println!("receiver answering each delivery with a 1 GiB body, {MESSAGES} deliveries in {took:.1?}");
    println!(
        "sender: resident {before:.1} MiB before, {after:.1} MiB after, peak {peak:.1} MiB: grew {:.1} MiB at most",
        peak - before
    );
    println!(
        "receiver got out {:.1} KiB per answer on average before the sender hung up (largest {:.1} KiB)",
        sent.iter().sum::<u64>() as f64 / MESSAGES as f64 / 1024.0,
        *sent.iter().max().unwrap() as f64 / 1024.0
    );
    println!(
        "anchor, one answer read whole ({:.0} MiB): resident grew {:.1} MiB",
        whole_len as f64 / 1048576.0,
        whole_peak - whole_before
    );
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
}

/// The receiver's process, stopped however the bench ends.
struct Receiver(std::process::Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}
