//! A dedicated tenant's Redis queue: the stream `queue_tenant_<slug>` with a
//! consumer group, and an ACL user that may run the stream commands on that
//! stream alone. The proof runs as that user against the live Redis: its own
//! queue works, another tenant's queue and every other command answer NOPERM.

use redis::{AsyncCommands, IntoConnectionInfo, RedisResult};
use serde_json::{json, Value};

/// The consumer group the tenant's workers read through.
pub const GROUP: &str = "workers";

/// The commands a tenant's user may run, on its own stream only.
pub const COMMANDS: [&str; 10] =
    ["xadd", "xreadgroup", "xack", "xlen", "xpending", "xclaim", "xautoclaim", "xrange", "xinfo|stream", "ping"];

pub fn user_name(slug: &str) -> String {
    format!("tenant_{slug}")
}

fn noperm<T>(result: RedisResult<T>) -> Result<(), String> {
    match result {
        Err(e) if e.code() == Some("NOPERM") => Ok(()),
        Err(e) => Err(format!("was allowed (it answered {e} instead of NOPERM)")),
        Ok(_) => Err("was allowed".into()),
    }
}

async fn connect(info: redis::ConnectionInfo) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(info).map_err(|e| format!("Redis: {e}"))?;
    tokio::time::timeout(std::time::Duration::from_secs(10), client.get_multiplexed_async_connection())
        .await
        .map_err(|_| "Redis did not answer in time.".to_string())?
        .map_err(|e| format!("Redis: {e}"))
}

/// With `provision`, creates (or keeps) the stream, its group and the user
/// with `password`; then proves what the user can and cannot do (without
/// `provision`, as it stands: a user widened since is caught). The
/// evidence, or the reason.
pub async fn provision_and_prove(
    admin_url: &str,
    slug: &str,
    password: &str,
    provision: bool,
) -> Result<Value, String> {
    let admin_info = admin_url.into_connection_info().map_err(|e| format!("BULKHEAD_REDIS_URL: {e}"))?;
    let mut admin = connect(admin_info.clone()).await?;
    let stream = super::render::queue_name(slug);
    let user = user_name(slug);
    if provision {
        set_up(&mut admin, &stream, &user, password).await?;
    }
    prove(admin_info, &mut admin, &stream, &user, password).await
}

async fn set_up(
    admin: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    user: &str,
    password: &str,
) -> Result<(), String> {
    let made: RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut *admin)
        .await;
    match made {
        Ok(()) => {}
        Err(e) if e.code() == Some("BUSYGROUP") => {}
        Err(e) => return Err(format!("Redis: the stream {stream} could not be created: {e}")),
    }
    let mut acl = redis::cmd("ACL");
    acl.arg("SETUSER").arg(user).arg("reset").arg("on").arg(format!(">{password}")).arg(format!("~{stream}"));
    acl.arg("resetchannels").arg("-@all");
    for c in COMMANDS {
        acl.arg(format!("+{c}"));
    }
    acl.query_async::<()>(&mut *admin)
        .await
        .map_err(|e| format!("Redis: the ACL user {user} could not be set: {e}"))?;
    Ok(())
}

async fn prove(
    admin_info: redis::ConnectionInfo,
    admin: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    user: &str,
    password: &str,
) -> Result<Value, String> {
    let settings = admin_info.redis_settings().clone().set_username(user).set_password(password);
    let mut tenant = connect(admin_info.clone().set_redis_settings(settings)).await?;
    let fail = |what: &str, why: String| format!("Redis: {user} {what}: {why}.");
    let id: String = tenant
        .xadd(stream, "*", &[("probe", "isolation")])
        .await
        .map_err(|e| fail("cannot add to its own queue", e.to_string()))?;
    let read: redis::streams::StreamReadReply = tenant
        .xread_options(
            &[stream],
            &[">"],
            &redis::streams::StreamReadOptions::default().group(GROUP, "bulkhead-probe").count(100),
        )
        .await
        .map_err(|e| fail("cannot read its own queue through its group", e.to_string()))?;
    let got = read.keys.iter().flat_map(|k| k.ids.iter()).any(|m| m.id == id);
    if !got {
        return Err(fail("did not receive its own message", "the group delivered something else".into()));
    }
    let _: i64 = tenant.xack(stream, GROUP, &[&id]).await.map_err(|e| fail("cannot acknowledge", e.to_string()))?;
    // The probe's message leaves no trace in the tenant's queue.
    let _: i64 = admin.xdel(stream, &[&id]).await.map_err(|e| format!("Redis: {e}"))?;

    let other = super::render::queue_name("bulkhead-isolation-probe");
    noperm(tenant.xadd::<_, _, _, _, String>(&other, "*", &[("probe", "isolation")]).await)
        .map_err(|why| fail(&format!("writing another tenant's queue {other}"), why))?;
    noperm(redis::cmd("XLEN").arg(&other).query_async::<i64>(&mut tenant).await)
        .map_err(|why| fail(&format!("reading another tenant's queue {other}"), why))?;
    let mut refused = serde_json::Map::new();
    for (name, mut cmd) in [
        ("GET", {
            let mut c = redis::cmd("GET");
            c.arg(stream);
            c
        }),
        ("SET", {
            let mut c = redis::cmd("SET");
            c.arg(stream).arg("x");
            c
        }),
        ("KEYS", {
            let mut c = redis::cmd("KEYS");
            c.arg("*");
            c
        }),
        ("FLUSHALL", redis::cmd("FLUSHALL")),
        ("CONFIG", {
            let mut c = redis::cmd("CONFIG");
            c.arg("GET").arg("*");
            c
        }),
        ("XGROUP", {
            let mut c = redis::cmd("XGROUP");
            c.arg("DESTROY").arg(stream).arg(GROUP);
            c
        }),
    ] {
        noperm(cmd.query_async::<redis::Value>(&mut tenant).await)
            .map_err(|why| fail(&format!("running {name}"), why))?;
        refused.insert(name.into(), json!("NOPERM"));
        let _ = &mut cmd;
    }
    Ok(json!({
        "stream": stream,
        "group": GROUP,
        "user": user,
        "own_queue": { "xadd": id, "xreadgroup": "delivered", "xack": 1 },
        "other_queue": { "queue": other, "xadd": "NOPERM", "xlen": "NOPERM" },
        "other_commands": refused,
    }))
}
