//! The connection pool and scoped transactions.
//!
//! Every pooled connection is demoted to `bulkhead_app` as it connects, even
//! when `DATABASE_URL` names a superuser. `bulkhead_app` can reach nothing but
//! the session store; each transaction then takes one scoped role:
//! `bulkhead_auth` (sign-in), `bulkhead_platform` (platform admins),
//! `bulkhead_auditor` (platform auditors, read-only) or
//! `bulkhead_tenant` with `app.tenant_id` set for that transaction only.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Who a transaction acts for, and so what the database lets it see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Sign-in and session checks: reads users, writes sessions, counters and audit events.
    Auth,
    /// Platform admins: every tenant.
    Platform,
    /// Platform auditors: reads what platform admins read but the secrets; writes audit events only.
    Auditor,
    /// One tenant: Row-Level Security shows that tenant's rows and nothing else.
    Tenant(Uuid),
}

/// The role every pooled connection runs as between transactions.
pub const APP_ROLE: &str = "bulkhead_app";

/// Opens the runtime pool. Connections are made lazily, so the server starts
/// (and `/readyz` reports) while the database is down, and recovers when it returns.
pub fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    Ok(connect_counting(database_url, max_connections)?.0)
}

/// [`connect`], with a count of the times a connection was taken from the
/// pool (one per transaction or statement run on it). Counted as it is
/// taken, inside `acquire`, so the count is complete when the request that
/// took it has its answer (a connection goes back to the pool later, from a
/// task of its own).
pub fn connect_counting(database_url: &str, max_connections: u32) -> Result<(PgPool, Arc<AtomicU64>), sqlx::Error> {
    let options = PgConnectOptions::from_str(database_url)?.application_name("bulkhead");
    let taken = Arc::new(AtomicU64::new(0));
    let (on_open, on_reuse) = (taken.clone(), taken.clone());
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        // sqlx already tests a connection as it goes back to the pool (a
        // round trip that also flushes a queued rollback); testing it again
        // as it is taken cost each page view one more round trip. A
        // connection that broke while idle fails its first statement instead.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            on_open.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                conn.execute("SET ROLE bulkhead_app").await?;
                Ok(())
            })
        })
        .before_acquire(move |_conn, _meta| {
            on_reuse.fetch_add(1, Ordering::Relaxed);
            Box::pin(async { Ok(true) })
        })
        .connect_lazy_with(options);
    Ok((pool, taken))
}

/// A small pool beside `pool`, to the same database, for heavy reads (audit
/// export and chain verification): each statement ends after
/// `statement_timeout`, and the console's own pool is never taken by them.
pub fn heavy_pool(pool: &PgPool, max_connections: u32, statement_timeout: Duration) -> PgPool {
    let options = (*pool.connect_options()).clone().application_name("bulkhead heavy");
    let millis = statement_timeout.as_millis().max(1);
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(3))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute("SET ROLE bulkhead_app").await?;
                conn.execute(format!("SET statement_timeout = {millis}").as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

/// A pool beside `pool`, to the same database, for connections held for good
/// (a `LISTEN`ing connection): the console's own pool never lends one of its
/// connections forever, so a pool of one still serves every page.
pub fn side_pool(pool: &PgPool, max_connections: u32) -> PgPool {
    let options = (*pool.connect_options()).clone().application_name("bulkhead listener");
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(3))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET ROLE bulkhead_app").await?;
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

/// Opens a connection as the `DATABASE_URL` user itself, for migrations only.
pub async fn connect_owner(database_url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect(database_url).await
}

/// Applies the migrations in `migrations/`.
pub async fn migrate(database_url: &str) -> Result<(), sqlx::Error> {
    let owner = connect_owner(database_url).await?;
    sqlx::migrate!("./migrations").run(&owner).await?;
    owner.close().await;
    Ok(())
}

/// What makes the pool's login role unfit to serve outside development: a
/// superuser, or the owner of Bulkhead's tables (either could step out of
/// the scoped roles and past Row-Level Security). `None` when it is fit.
pub async fn login_role_problem(pool: &PgPool) -> Result<Option<String>, sqlx::Error> {
    // The pool's connections have switched to `bulkhead_app`; `session_user`
    // is still the role that logged in.
    let row = sqlx::query!(
        r#"SELECT session_user AS "login!", r.rolsuper AS "superuser!",
                  (SELECT count(*) FROM pg_tables t
                   WHERE t.schemaname = current_schema() AND t.tableowner = session_user) AS "owned!"
           FROM pg_roles r WHERE r.rolname = session_user"#
    )
    .fetch_one(pool)
    .await?;
    Ok(if row.superuser {
        Some(format!("the database login role {:?} is a superuser", row.login))
    } else if row.owned > 0 {
        Some(format!("the database login role {:?} owns {} of Bulkhead's tables", row.login, row.owned))
    } else {
        None
    })
}

/// Begins a transaction in the given scope: `BEGIN` and the scope's role
/// (and tenant) in one round trip.
pub async fn begin(pool: &PgPool, scope: Scope) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(format!("BEGIN; {}", scope_sql(scope))).await
}

/// The statements that put a transaction in `scope`: `SET LOCAL` only, so
/// they end with it. A tenant's id is a `Uuid`, written in its own canonical
/// form (hexadecimal digits and hyphens), never text from a request.
fn scope_sql(scope: Scope) -> String {
    match scope {
        Scope::Auth => "SET LOCAL ROLE bulkhead_auth".into(),
        Scope::Platform => "SET LOCAL ROLE bulkhead_platform".into(),
        Scope::Auditor => "SET LOCAL ROLE bulkhead_auditor".into(),
        Scope::Tenant(tenant_id) => {
            format!("SET LOCAL ROLE bulkhead_tenant; SET LOCAL app.tenant_id = '{}'", tenant_id.hyphenated())
        }
    }
}

/// Takes `scope`'s role (and tenant) for the rest of the transaction.
async fn enter(tx: &mut Transaction<'static, Postgres>, scope: Scope) -> Result<(), sqlx::Error> {
    tx.execute(scope_sql(scope).as_str()).await?;
    Ok(())
}

/// The reads of one page. Every resource of a server-rendered page reads
/// through one read-only transaction in the reader's scope, begun by the
/// first of them and ended once the page is rendered: a page view costs
/// one transaction and one pooled connection, however many resources it has.
#[derive(Clone, Default)]
pub struct PageReads(Arc<tokio::sync::Mutex<PageTx>>);

#[derive(Default)]
enum PageTx {
    #[default]
    NotBegun,
    Open(Scope, Transaction<'static, Postgres>),
    Finished,
}

impl PageReads {
    /// Ends the page's transaction, if any reader began one; readers that
    /// come later read in a transaction of their own.
    pub async fn finish(&self) {
        let mut page = self.0.lock().await;
        if let PageTx::Open(_, tx) = std::mem::replace(&mut *page, PageTx::Finished) {
            end_read(tx);
        }
    }
}

/// A read-only transaction: the page's (see [`PageReads`]) when the request
/// renders a page and reads in the same scope, else its own.
pub struct Reads(ReadsTx);

enum ReadsTx {
    Own(Transaction<'static, Postgres>),
    Page(tokio::sync::OwnedMutexGuard<PageTx>),
}

impl std::ops::Deref for Reads {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match &self.0 {
            ReadsTx::Own(tx) => tx,
            ReadsTx::Page(page) => match &**page {
                PageTx::Open(_, tx) => tx,
                _ => unreachable!("a page's reads hold an open transaction"),
            },
        }
    }
}

impl std::ops::DerefMut for Reads {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match &mut self.0 {
            ReadsTx::Own(tx) => tx,
            ReadsTx::Page(page) => match &mut **page {
                PageTx::Open(_, tx) => tx,
                _ => unreachable!("a page's reads hold an open transaction"),
            },
        }
    }
}

impl Reads {
    /// Ends the reads: ends a transaction of its own, leaves the page's
    /// open for the page's next resource.
    pub async fn done(self) -> Result<(), sqlx::Error> {
        if let ReadsTx::Own(tx) = self.0 {
            end_read(tx);
        }
        Ok(())
    }
}

/// Ends a read-only transaction without waiting for the database: it wrote
/// nothing, so a rollback ends it as a commit would. The rollback is queued
/// on the connection and leaves with the test sqlx runs as the connection
/// goes back to the pool: one round trip, after the answer, where a commit
/// took one before it and the test another.
fn end_read(tx: Transaction<'static, Postgres>) {
    drop(tx);
}

async fn begin_read(pool: &PgPool, scope: Scope) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(format!("BEGIN READ ONLY; {}", scope_sql(scope))).await
}

/// Reads in `scope`, through the page's transaction when this runs while a
/// page renders (a server function called by a resource on the server); the
/// transaction takes each reader's scope in turn (`SET LOCAL ROLE`, and the
/// tenant), so Row-Level Security judges every read as before.
///
/// A reader must not ask for another `read` while it holds one: the page's
/// transaction is lent to one reader at a time.
pub async fn read(pool: &PgPool, scope: Scope) -> Result<Reads, sqlx::Error> {
    let page = leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<PageReads>().cloned());
    if let Some(page) = page {
        let mut held = page.0.lock_owned().await;
        match &mut *held {
            PageTx::NotBegun => {
                *held = PageTx::Open(scope, begin_read(pool, scope).await?);
                return Ok(Reads(ReadsTx::Page(held)));
            }
            PageTx::Open(open, tx) => {
                // Another reader's scope: the same transaction takes this one's
                // role (and tenant) until the next reader.
                if *open != scope {
                    enter(tx, scope).await?;
                    *open = scope;
                }
                return Ok(Reads(ReadsTx::Page(held)));
            }
            PageTx::Finished => {}
        }
    }
    Ok(Reads(ReadsTx::Own(begin_read(pool, scope).await?)))
}
