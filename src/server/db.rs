//! The connection pool and scoped transactions.
//!
//! Every pooled connection is demoted to `bulkhead_app` as it connects, even
//! when `DATABASE_URL` names a superuser. `bulkhead_app` can reach nothing but
//! the session store; each transaction then takes one scoped role:
//! `bulkhead_auth` (sign-in), `bulkhead_platform` (platform admins),
//! `bulkhead_auditor` (platform auditors, read-only) or
//! `bulkhead_tenant` with `app.tenant_id` set for that transaction only.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres, Transaction};
use std::str::FromStr;
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
    let options = PgConnectOptions::from_str(database_url)?.application_name("bulkhead");
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET ROLE bulkhead_app").await?;
                Ok(())
            })
        })
        .connect_lazy_with(options))
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

/// Begins a transaction in the given scope.
pub async fn begin(pool: &PgPool, scope: Scope) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    match scope {
        Scope::Auth => {
            tx.execute("SET LOCAL ROLE bulkhead_auth").await?;
        }
        Scope::Platform => {
            tx.execute("SET LOCAL ROLE bulkhead_platform").await?;
        }
        Scope::Auditor => {
            tx.execute("SET LOCAL ROLE bulkhead_auditor").await?;
        }
        Scope::Tenant(tenant_id) => {
            tx.execute("SET LOCAL ROLE bulkhead_tenant").await?;
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(tenant_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(tx)
}
