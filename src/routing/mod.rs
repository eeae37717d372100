//! The routing check: reverse proxies (nginx `auth_request`, Caddy and
//! Traefik forward auth) ask `GET /route/check` which tenant a request is for
//! and whether it may pass. Answered from memory: the routing table (tenants,
//! tiers, overrides, tokens) follows the database through `LISTEN/NOTIFY`, and
//! API calls are counted in memory and added to PostgreSQL every second.

pub mod check;
pub mod key_meter;
pub mod meter;
pub mod rate;
pub mod shared_rate;
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
    /// Calls counted per tenant key, for keys with a monthly cap.
    pub key_meter: key_meter::KeyMeter,
    /// The keys' own buckets, for keys with a rate of their own.
    pub key_rates: rate::Rates,
    /// Calls without a key, for tenants that let them pass: per client address.
    pub anonymous: rate::AddressRates,
    /// Proxies whose `X-Forwarded-For` names the client (`BULKHEAD_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Per-second buckets shared with the other consoles through Redis.
    pub shared_rates: Option<shared_rate::SharedRates>,
    /// When the table was last loaded in full (`None`: never yet).
    loaded_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// The table is kept up to date by this process (`spawn`): `/readyz`
    /// then waits for its first load and watches its age.
    following: std::sync::atomic::AtomicBool,
    /// The connection that hears the database's notices is up.
    listening: std::sync::atomic::AtomicBool,
}

/// How the routing table follows the database: a full reload at least every
/// `reload_every` (whatever the notices say), the listening connection
/// probed every `probe_every` (a query that must answer within `probe_timeout`),
/// and past `max_age` without a load the console is not ready.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    pub reload_every: Duration,
    pub probe_every: Duration,
    pub probe_timeout: Duration,
    pub max_age: Duration,
}

impl Default for Freshness {
    fn default() -> Freshness {
        Freshness {
            reload_every: Duration::from_secs(30),
            probe_every: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(5),
            max_age: Duration::from_secs(120),
        }
    }
}

/// The routing check's answers counted by outcome, one atomic each.
#[derive(Debug, Default)]
pub struct Decisions([std::sync::atomic::AtomicU64; 8]);

impl Decisions {
    const NAMES: [&'static str; 8] = [
        "allowed",
        "bad_request",
        "unauthorized",
        "forbidden",
        "unknown_tenant",
        "throttled",
        "misdirected",
        "unavailable",
    ];

    /// Counts one answer.
    pub fn note(&self, outcome: &check::Outcome) {
        let i = match outcome {
            check::Outcome::Allowed(..) => 0,
            check::Outcome::Refused { status, .. } => match status.as_u16() {
                400 => 1,
                401 => 2,
                403 => 3,
                404 => 4,
                421 => 6,
                503 => 7,
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
            key_meter: Default::default(),
            key_rates: rate::Rates::default(),
            anonymous: rate::AddressRates::new(5, 20),
            trusted_proxies: Vec::new(),
            shared_rates: None,
            loaded_at: Default::default(),
            following: Default::default(),
            listening: Default::default(),
        }
    }

    /// Calls without a key (for tenants that let them pass) limited to `rate`
    /// a second and `burst` per client address, whose address the
    /// `trusted` proxies vouch for.
    pub fn with_edge(mut self, trusted: Vec<ipnet::IpNet>, rate: u32, burst: u32) -> Routing {
        self.trusted_proxies = trusted;
        self.anonymous = rate::AddressRates::new(rate, burst);
        self
    }

    /// Per-second buckets shared through the Redis at `url` (`None`: this
    /// console's own; so too, said in the log, for a URL that does not parse).
    pub fn with_shared_rates(mut self, url: Option<&str>) -> Routing {
        self.shared_rates = match url.map(shared_rate::SharedRates::new) {
            Some(Ok(shared)) => Some(shared),
            Some(Err(err)) => {
                tracing::error!(error = %err, "BULKHEAD_REDIS_URL is not a Redis address: per-second limits are per console");
                None
            }
            None => None,
        };
        self
    }

    /// The table as it stands, as a reference that may be held across an `.await`.
    pub fn table_arc(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// How long ago the table was loaded in full; `None` before the first load.
    pub fn age(&self) -> Option<Duration> {
        self.loaded_at.lock().unwrap_or_else(|e| e.into_inner()).map(|at| at.elapsed())
    }

    /// Whether this process keeps the table up to date (see [`spawn`]).
    pub fn following(&self) -> bool {
        self.following.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the connection that hears the database's notices is up.
    pub fn listening(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::Relaxed)
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
        *self.loaded_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        self.loaded.send_modify(|n| *n = (*n).max(number));
        Ok(())
    }

    /// Writes the calls counted since the last flush, and the tokens' last use.
    pub async fn flush(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let table = self.table();
        for id in table.take_used() {
            self.meter.note_token(id);
        }
        let keys_used = table.take_used_keys();
        drop(table);
        self.meter.flush(pool).await?;
        self.key_meter.flush(pool).await?;
        if !keys_used.is_empty() {
            let mut tx = crate::server::db::begin(pool, crate::server::db::Scope::Platform).await?;
            sqlx::query!("UPDATE tenant_api_keys SET last_used_at = now() WHERE id = ANY($1)", &keys_used)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
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
    let listen_pool = crate::server::db::side_pool(&pool, 1);
    spawn_with(routing, pool, listen_pool, flush_every, Freshness::default());
}

/// [`spawn`], listening through `listen_pool` and keeping to `freshness`.
pub fn spawn_with(
    routing: Arc<Routing>,
    pool: PgPool,
    listen_pool: PgPool,
    flush_every: Duration,
    freshness: Freshness,
) {
    routing.following.store(true, std::sync::atomic::Ordering::Relaxed);
    let (r, p) = (routing.clone(), pool.clone());
    tokio::spawn(async move { follow(r, p, listen_pool, freshness).await });
    let (r, p) = (routing.clone(), pool.clone());
    tokio::spawn(async move { reload_regularly(r, p, freshness.reload_every).await });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = routing.flush(&pool).await {
                tracing::warn!(error = %err, "API calls could not be written; kept for the next flush");
            }
            routing.rates.tidy();
            routing.key_rates.tidy();
            routing.anonymous.tidy();
        }
    });
}

/// Reloads the table in full whenever it is `every` old, whatever the
/// notices said: a notice lost with a connection dropped without a word
/// (a NAT, a failover) delays a change by `every` at most.
async fn reload_regularly(routing: Arc<Routing>, pool: PgPool, every: Duration) {
    loop {
        let wait = match routing.age() {
            Some(age) if age < every => every - age,
            Some(_) => Duration::ZERO,
            None => every,
        };
        tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
        if routing.age().is_none_or(|age| age >= every) {
            if let Err(err) = routing.reload(&pool).await {
                tracing::warn!(error = %err, "the routing table could not be reloaded; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Listens for changes and reloads the table after each burst of them; after a
/// lost connection, reconnects and reloads in full (a change may have been
/// missed). The connection is probed with a query every `probe_every`: one
/// that does not answer within `probe_timeout` (packets dropped, a peer
/// gone without a word) is given up and replaced.
async fn follow(routing: Arc<Routing>, pool: PgPool, listen_pool: PgPool, freshness: Freshness) {
    use std::sync::atomic::Ordering;
    loop {
        let result = async {
            let mut listener = tokio::time::timeout(
                freshness.probe_timeout,
                sqlx::postgres::PgListener::connect_with(&listen_pool),
            )
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
            tokio::time::timeout(freshness.probe_timeout, listener.listen(CHANNEL))
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
            routing.listening.store(true, Ordering::Relaxed);
            routing.reload(&pool).await?;
            let mut probe = tokio::time::interval(freshness.probe_every);
            probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            probe.tick().await;
            loop {
                tokio::select! {
                    notice = listener.try_recv() => {
                        // `None`: the connection was lost (sqlx would reconnect
                        // silently; here a new one is made and the table reloaded).
                        if notice?.is_none() {
                            return Err(sqlx::Error::PoolClosed);
                        }
                        // Several statements notify once each: take the burst together.
                        while let Ok(next) = tokio::time::timeout(Duration::from_millis(20), listener.try_recv()).await {
                            if next?.is_none() {
                                return Err(sqlx::Error::PoolClosed);
                            }
                        }
                        routing.reload(&pool).await?;
                    }
                    _ = probe.tick() => {
                        let answered = tokio::time::timeout(
                            freshness.probe_timeout,
                            sqlx::query("SELECT 1").execute(&mut listener),
                        )
                        .await;
                        match answered {
                            Ok(Ok(_)) => {}
                            Ok(Err(err)) => return Err(err),
                            Err(_) => return Err(sqlx::Error::PoolTimedOut),
                        }
                    }
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        }
        .await;
        routing.listening.store(false, Ordering::Relaxed);
        if let Err(err) = result {
            tracing::warn!(error = %err, "the routing table lost its listening connection; reconnecting and reloading");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Handlers take this capability's state as `State<Arc<Routing>>` (axum's
/// `FromRef`); the composition root puts it in the state's parts.
impl axum::extract::FromRef<crate::server::state::AppState> for std::sync::Arc<Routing> {
    fn from_ref(state: &crate::server::state::AppState) -> Self {
        state.part::<std::sync::Arc<Routing>>().clone()
    }
}
