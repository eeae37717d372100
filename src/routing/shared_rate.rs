//! Per-second buckets shared by every console through Redis, when
//! `BULKHEAD_REDIS_URL` is set: the same GCRA as the local buckets
//! (governor's), run as one Lua script against Redis' own clock, so that N
//! consoles behind one proxy admit a tenant's rate once, not N times.
//!
//! One round trip per call (the key's bucket and the tenant's in the same
//! script, both taken or neither). Chosen over local buckets synchronised
//! at an interval (Kong's `sync_rate`): those overshoot by what every
//! console admits between two synchronisations, which for a tenant at its
//! rate is the whole difference this exists to remove. When Redis does not
//! answer within [`TIMEOUT`], the call falls back to this console's own
//! buckets (limited, never unlimited) and the connection is made again.

use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// How long a call waits for Redis before it uses this console's buckets.
pub const TIMEOUT: Duration = Duration::from_millis(50);

/// GCRA over one or two buckets. KEYS: the tenant's bucket, then the key's
/// (optional). ARGV: rate and burst of each. Answers 0 when the call is
/// taken from both, else the microseconds until it would fit.
const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local wait = 0
for i = 1, #KEYS do
  local interval = 1000000 / tonumber(ARGV[2 * i - 1])
  local limit = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > limit then
    wait = math.max(wait, new_tat - now - limit)
  end
  tats[i] = new_tat
end
if wait > 0 then return math.ceil(wait) end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
return 0
"#;

pub struct SharedRates {
    client: redis::Client,
    connection: ArcSwapOption<MultiplexedConnection>,
    /// When a connection was last tried (ms since `started`), so a Redis
    /// that is down is tried again at most once a second, not per call.
    tried_at: AtomicU64,
    started: std::time::Instant,
    script: redis::Script,
}

impl std::fmt::Debug for SharedRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedRates")
    }
}

impl SharedRates {
    /// Buckets in the Redis at `url`; connects on first use.
    pub fn new(url: &str) -> Result<SharedRates, redis::RedisError> {
        Ok(SharedRates {
            client: redis::Client::open(url)?,
            connection: ArcSwapOption::empty(),
            tried_at: AtomicU64::new(u64::MAX),
            started: std::time::Instant::now(),
            script: redis::Script::new(SCRIPT),
        })
    }

    async fn connection(&self) -> Option<MultiplexedConnection> {
        if let Some(c) = self.connection.load_full() {
            return Some((*c).clone());
        }
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.tried_at.load(Ordering::Relaxed);
        if last != u64::MAX && now.saturating_sub(last) < 1000 {
            return None;
        }
        if self.tried_at.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return None;
        }
        match tokio::time::timeout(Duration::from_secs(1), self.client.get_multiplexed_async_connection()).await {
            Ok(Ok(c)) => {
                self.connection.store(Some(std::sync::Arc::new(c.clone())));
                Some(c)
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "Redis is unreachable: per-second limits are this console's own");
                None
            }
            Err(_) => {
                tracing::warn!("Redis did not answer: per-second limits are this console's own");
                None
            }
        }
    }

    /// Takes one call from the tenant's bucket `(id, rate, burst)` and the
    /// key's, if it has one; `Some(Err(wait))` when it does not fit, `None`
    /// when Redis could not be asked in time.
    pub async fn take(&self, tenant: (Uuid, u32, u32), key: Option<(Uuid, u32, u32)>) -> Option<Result<(), Duration>> {
        let mut conn = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        invocation.key(format!("bulkhead:rate:tenant:{}", tenant.0)).arg(tenant.1.max(1)).arg(tenant.2.max(1));
        if let Some((id, rate, burst)) = key {
            invocation.key(format!("bulkhead:rate:key:{id}")).arg(rate.max(1)).arg(burst.max(1));
        }
        match tokio::time::timeout(TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(0)) => Some(Ok(())),
            Ok(Ok(micros)) => Some(Err(Duration::from_micros(micros.max(1) as u64))),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "Redis refused the rate script; this call used this console's buckets");
                self.connection.store(None);
                None
            }
            Err(_) => {
                self.connection.store(None);
                None
            }
        }
    }
}
