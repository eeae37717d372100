//! The routing check: reverse proxies (nginx `auth_request`, Caddy and
//! Traefik forward auth) ask `GET /route/check` which tenant a request is for
//! and whether it may pass. Answered from memory: the routing table (tenants,
//! tiers, overrides, tokens) follows the database through `LISTEN/NOTIFY`, and
//! API calls are counted in memory and added to PostgreSQL every second.

pub mod check;
pub mod host;
pub mod meter;
pub mod rate;
pub mod table;

use arc_swap::ArcSwap;
use meter::Meter;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use table::Table;

/// The routing check's memory: the table and the counters.
pub struct Routing {
    /// Swapped whole at each reload; a call reads it without a lock or a
    /// reference count that the other cores would contend for.
    table: ArcSwap<Table>,
    pub meter: Meter,
    pub rates: rate::Rates,
    /// The number of the latest load completed, for `/readyz` and tests.
    /// Loads are numbered as they begin (`begun`): a load numbered above a
    /// value of `begun` read after it, so it saw every change committed
    /// before that value was read.
    loaded: tokio::sync::watch::Sender<u64>,
    begun: std::sync::atomic::AtomicU64,
    /// Tenants are named `<slug>.<base_domain>` (`BULKHEAD_BASE_DOMAIN`).
    pub base_domain: Option<String>,
    /// Where the calls of tenants without an instance of their own go.
    pub shared_upstream: String,
    /// The check's answers, counted by outcome (for `/metrics`).
    pub decisions: Decisions,
}

/// The routing check's answers counted by outcome, one atomic each.
#[derive(Debug, Default)]
pub struct Decisions([std::sync::atomic::AtomicU64; 6]);

impl Decisions {
    const NAMES: [&'static str; 6] =
        ["allowed", "bad_request", "unauthorized", "forbidden", "unknown_tenant", "throttled"];

    /// Counts one answer.
    pub fn note(&self, outcome: &check::Outcome) {
        let i = match outcome {
            check::Outcome::Allowed(..) => 0,
            check::Outcome::Refused { status, .. } => match status.as_u16() {
                400 => 1,
                401 => 2,
                403 => 3,
                404 => 4,
                _ => 5,
            },
        };
        self.0[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Each outcome and how many answers it had.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Self::NAMES.iter().zip(&self.0).map(|(n, c)| (*n, c.load(std::sync::atomic::Ordering::Relaxed)))
    }
}

impl Routing {
    pub fn new(base_domain: Option<String>, shared_upstream: String) -> Routing {
        Routing {
            table: ArcSwap::from_pointee(Table::default()),
            meter: Meter::default(),
            rates: rate::Rates::default(),
            loaded: tokio::sync::watch::channel(0).0,
            begun: Default::default(),
            base_domain,
            shared_upstream,
            decisions: Decisions::default(),
        }
    }

    /// The table as it stands.
    pub fn table(&self) -> arc_swap::Guard<Arc<Table>> {
        self.table.load()
    }

    /// Loads the table in full from the database.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let number = self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let table = Table::load(pool, &self.shared_upstream).await?;
        self.table.store(Arc::new(table));
        self.loaded.send_modify(|n| *n = (*n).max(number));
        Ok(())
    }

    /// Writes the calls counted since the last flush, and the tokens' last use.
    pub async fn flush(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        for id in self.table().take_used() {
            self.meter.note_token(id);
        }
        self.meter.flush(pool).await
    }

    /// The number of the latest load completed; changes after every reload.
    pub fn loads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.loaded.subscribe()
    }

    /// How many loads have begun. A load numbered (in [`Routing::loads`])
    /// above this value began after it was read, so it saw every change
    /// committed before that (a load already under way when a change
    /// commits may have read the table without it).
    pub fn begun(&self) -> u64 {
        self.begun.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The channel the database's triggers notify when tenants, tiers, overrides
/// or tokens change.
const CHANNEL: &str = "bulkhead_routing";

/// Keeps `routing` in step with the database, and flushes its counters every
/// `flush_every`, until the process ends.
pub fn spawn(routing: Arc<Routing>, pool: PgPool, flush_every: Duration) {
    let (r, p) = (routing.clone(), pool.clone());
    let listen_pool = crate::server::db::side_pool(&pool, 1);
    tokio::spawn(async move { follow(r, p, listen_pool).await });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = routing.flush(&pool).await {
                tracing::warn!(error = %err, "API calls could not be written; kept for the next flush");
            }
            routing.rates.tidy();
        }
    });
}

/// Listens for changes and reloads the table after each burst of them; after a
/// lost connection, reconnects and reloads in full (a change may have been missed).
async fn follow(routing: Arc<Routing>, pool: PgPool, listen_pool: PgPool) {
    loop {
        let result = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&listen_pool).await?;
            listener.listen(CHANNEL).await?;
            routing.reload(&pool).await?;
            loop {
                listener.recv().await?;
                // Several statements notify once each: take the burst together.
                while let Ok(next) = tokio::time::timeout(Duration::from_millis(20), listener.recv()).await {
                    next?;
                }
                routing.reload(&pool).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "the routing table lost the database; reloading when it is back");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
