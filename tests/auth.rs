//! Signing in and out over HTTP, against the whole server and a real database.

mod common;

use bulkhead::server::config::{Config, Profile};
use common::{location, set_cookie, spawn_app, spawn_app_with, TestApp};
use std::time::Duration;

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn signing_in_shows_the_dashboard_and_is_audited() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    let client = app.client();

    let res = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login");

    let page = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in to Bulkhead"));
    assert!(page.contains(r#"name="password""#));

    assert_eq!(app.login(&client, EMAIL, PASSWORD).await, "/");
    let res = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains(EMAIL), "the header names the signed-in user");
    assert!(html.contains("Platform admin"));
    assert!(html.contains("auth.login.succeeded"), "the dashboard lists the sign-in event");
    assert_eq!(app.count_events("auth.login.succeeded").await, 1);

    // Signed in, the login page sends you home.
    let res = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn a_page_asked_for_before_signing_in_is_shown_after() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    let client = app.client();
    let res = client.get(app.url("/nowhere?tab=2")).send().await.unwrap();
    assert_eq!(location(&res), "/login?next=/nowhere%3Ftab%3D2");
    let res = client
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .form(&[("email", EMAIL), ("password", PASSWORD), ("next", "/nowhere?tab=2")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/nowhere?tab=2");
    // Never off-site.
    let res = client
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .form(&[("email", EMAIL), ("password", PASSWORD), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    let client = app.client();
    let wrong = app.login(&client, EMAIL, "not the password").await;
    let unknown = app.login(&client, "nobody@example.com", PASSWORD).await;
    assert_eq!(wrong, "/login?error=invalid");
    assert_eq!(unknown, wrong);
    assert_eq!(app.count_events("auth.login.failed").await, 2);
    assert_eq!(app.login(&client, "not-an-address", PASSWORD).await, "/login?error=email");
    assert_eq!(app.count_events("auth.login.failed").await, 3, "a malformed address is a failed sign-in too");
    let res = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 303, "still not signed in");
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in_and_dies_at_sign_out() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = |cookie: Option<String>| {
        let mut req = bare
            .post(app.url("/api/login"))
            .header("origin", &app.base)
            .header("accept", "text/html")
            .form(&[("email", EMAIL), ("password", PASSWORD)]);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let first = login(None).await.unwrap();
    let cookie_a = set_cookie(&first, "bulkhead_session").expect("a session cookie");
    assert!(cookie_a.contains("HttpOnly"), "{cookie_a}");
    assert!(cookie_a.contains("SameSite=Strict"), "{cookie_a}");
    let a = cookie_a.split(';').next().unwrap().to_string();

    let second = login(Some(a.clone())).await.unwrap();
    let b =
        set_cookie(&second, "bulkhead_session").expect("a new session cookie").split(';').next().unwrap().to_string();
    assert_ne!(a, b, "signing in again gives a new session id");

    let get = |cookie: String| bare.get(app.url("/")).header("cookie", cookie).send();
    assert_eq!(get(a.clone()).await.unwrap().status(), 303, "the old id no longer works");
    assert_eq!(get(b.clone()).await.unwrap().status(), 200);

    let res = bare
        .post(app.url("/api/logout"))
        .header("origin", &app.base)
        .header("accept", "text/html")
        .header("cookie", b.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?signed_out=1");
    let res = get(b).await.unwrap();
    assert_eq!(res.status(), 303, "a signed-out session is dead on the server");
    assert_eq!(app.count_events("auth.logout").await, 1);
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_sessions WHERE revoked_at IS NULL")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(live, 1, "only the first sign-in's record is still open (its cookie was replaced)");
}

#[tokio::test]
async fn idle_sessions_expire() {
    let config = Config { session_idle_timeout: Duration::from_secs(1), ..Config::default() };
    let app = spawn_app_with(config).await;
    app.create_admin(EMAIL, PASSWORD).await;
    let client = app.client();
    app.login(&client, EMAIL, PASSWORD).await;
    assert_eq!(client.get(app.url("/")).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let res = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(location(&res), "/login?expired=1");
}

#[tokio::test]
async fn sessions_end_after_the_absolute_timeout_despite_activity() {
    let config = Config {
        session_idle_timeout: Duration::from_secs(60),
        session_absolute_timeout: Duration::from_secs(3),
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    app.create_admin(EMAIL, PASSWORD).await;
    let client = app.client();
    app.login(&client, EMAIL, PASSWORD).await;
    let signed_in = std::time::Instant::now();
    assert_eq!(client.get(app.url("/")).send().await.unwrap().status(), 200);
    // Active every 300 ms: the session still ends 3 s after sign-in.
    let mut last = 200;
    while signed_in.elapsed() < Duration::from_millis(4000) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        last = client.get(app.url("/healthz")).send().await.unwrap().status().as_u16();
        last = client.get(app.url("/")).send().await.map(|r| r.status().as_u16()).unwrap_or(last);
    }
    assert_eq!(last, 303);
}

#[tokio::test]
async fn disabling_a_user_ends_all_their_sessions() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    let (one, two) = (app.client(), app.client());
    app.login(&one, EMAIL, PASSWORD).await;
    app.login(&two, EMAIL, PASSWORD).await;
    let ended = bulkhead::auth::users::disable_user(&app.pool, &bulkhead::audit::Actor::cli(), EMAIL).await.unwrap();
    assert_eq!(ended, 2);
    for c in [&one, &two] {
        assert_eq!(c.get(app.url("/")).send().await.unwrap().status(), 303);
    }
    assert_eq!(app.login(&one, EMAIL, PASSWORD).await, "/login?error=invalid");
    assert_eq!(app.count_events("user.disabled").await, 1);
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    let client = app.client();
    for _ in 0..4 {
        assert_eq!(app.login(&client, EMAIL, "wrong password!").await, "/login?error=invalid");
    }
    assert_eq!(app.login(&client, EMAIL, "wrong password!").await, "/login?error=locked");
    assert_eq!(app.login(&client, EMAIL, PASSWORD).await, "/login?error=locked");
    assert_eq!(app.count_events("auth.lockout").await, 1);
    // Attempts during the wait are counted, not written one row each...
    for _ in 0..9 {
        assert_eq!(app.login(&client, EMAIL, PASSWORD).await, "/login?error=locked");
    }
    assert_eq!(app.count_events("auth.login.throttled").await, 0);
    // ...and once the wait is over, they are one event with their number.
    sqlx::query("UPDATE login_throttle SET locked_until = now() - interval '1 second' WHERE key = $1")
        .bind(format!("account:{EMAIL}"))
        .execute(&app.owner)
        .await
        .unwrap();
    assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/");
    let refused: Vec<i64> = sqlx::query_scalar(
        "SELECT (after ->> 'refused')::bigint FROM audit_events WHERE action = 'auth.login.throttled'",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(refused, [10]);
    // An unknown address locks the same way: the answer does not tell them apart.
    for _ in 0..4 {
        app.login(&client, "ghost@example.com", "whatever").await;
    }
    assert_eq!(app.login(&client, "ghost@example.com", "whatever").await, "/login?error=locked");
}

#[tokio::test]
async fn twenty_parallel_attempts_cannot_slip_past_the_limit() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client();
        let url = app.url("/api/login");
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .header("accept", "text/html")
                .form(&[("email", EMAIL), ("password", "wrong password!")])
                .send()
                .await
                .unwrap();
            location(&res)
        }));
    }
    let mut invalid = 0;
    let mut locked = 0;
    for t in tasks {
        match t.await.unwrap().as_str() {
            "/login?error=invalid" => invalid += 1,
            "/login?error=locked" => locked += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    // Exactly five passwords were checked: four said "invalid", the fifth started the lock.
    assert_eq!((invalid, locked), (4, 16));
    let failures: i32 = sqlx::query_scalar("SELECT failures FROM login_throttle WHERE key = $1")
        .bind(format!("account:{EMAIL}"))
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(failures, 5);
    assert_eq!(app.count_events("auth.login.failed").await, 5);
    assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/login?error=locked");
}

#[tokio::test]
async fn one_address_is_limited_across_accounts() {
    let config = Config { login_ip_limit: 3, ..Config::default() };
    let app = spawn_app_with(config).await;
    app.create_admin(EMAIL, PASSWORD).await;
    let client = app.client();
    for i in 0..2 {
        assert_eq!(app.login(&client, &format!("user{i}@example.com"), "nope nope nope").await, "/login?error=invalid");
    }
    assert_eq!(app.login(&client, "user2@example.com", "nope nope nope").await, "/login?error=invalid");
    assert_eq!(app.login(&client, EMAIL, PASSWORD).await, "/login?error=locked");
}

/// A sign-in sent through a proxy at this test's own address, which appends
/// the address it saw to whatever `X-Forwarded-For` the client wrote.
async fn login_via_proxy(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> String {
    let res = app
        .client()
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("password", password), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    location(&res)
}

#[tokio::test]
async fn a_forged_forwarded_for_changes_nothing() {
    let trusted_proxies = bulkhead::server::client_address::parse_networks("127.0.0.1").unwrap();
    let app = spawn_app_with(Config { login_ip_limit: 3, trusted_proxies, ..Config::default() }).await;
    app.create_admin(EMAIL, PASSWORD).await;
    // The client writes a new first hop every time; the proxy's own hop, the
    // right-most, names the same client.
    for i in 0..3 {
        let hops = format!("10.9.9.{i}, 203.0.113.7");
        assert_eq!(
            login_via_proxy(&app, &hops, &format!("u{i}@example.com"), "nope nope").await,
            "/login?error=invalid"
        );
    }
    assert_eq!(login_via_proxy(&app, "10.9.9.99, 203.0.113.7", EMAIL, PASSWORD).await, "/login?error=locked");
    // Another client through the same proxy is not held back by the first.
    assert_eq!(login_via_proxy(&app, "198.51.100.4", EMAIL, PASSWORD).await, "/");
    // An IPv6 client counts by its /64: a new address in it is the same client.
    for i in 1..=3 {
        let hop = format!("2001:db8:7:7::{i}");
        assert_eq!(
            login_via_proxy(&app, &hop, &format!("v{i}@example.com"), "nope nope").await,
            "/login?error=invalid"
        );
    }
    assert_eq!(login_via_proxy(&app, "2001:db8:7:7:abcd::1", EMAIL, PASSWORD).await, "/login?error=locked");
    assert_eq!(login_via_proxy(&app, "2001:db8:7:8::1", EMAIL, PASSWORD).await, "/", "the next /64 is someone else");
}

#[tokio::test]
async fn a_success_neither_counts_nor_forgives_the_addresss_failures() {
    let app = spawn_app_with(Config { login_ip_limit: 3, ..Config::default() }).await;
    app.create_admin(EMAIL, PASSWORD).await;
    let failures = || async {
        sqlx::query_scalar::<_, i32>("SELECT failures FROM login_throttle WHERE key = 'ip:127.0.0.1'")
            .fetch_one(&app.owner)
            .await
            .unwrap()
    };
    let client = app.client();
    for i in 0..2 {
        assert_eq!(app.login(&client, &format!("guess{i}@example.com"), "nope nope").await, "/login?error=invalid");
    }
    // Successes between the guesses, more of them than the limit: none counts, none forgives.
    for _ in 0..4 {
        assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/");
        assert_eq!(failures().await, 2);
    }
    // The third guess reaches the limit; from then on the address waits, even for the right password.
    assert_eq!(app.login(&client, "guess2@example.com", "nope nope").await, "/login?error=invalid");
    assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/login?error=locked");
}

#[tokio::test]
async fn a_flood_of_bad_sign_ins_is_refused_before_the_database_and_the_pages_still_answer() {
    let config = Config { secret_checks_per_second: 5, secret_checks_burst: 20, ..Config::default() };
    let app = spawn_app_with(config).await;
    let client = app.client();
    let started = std::time::Instant::now();
    let flood = futures_util::future::join_all((0..1000).map(|i| {
        let (client, url) = (client.clone(), app.url("/api/login"));
        async move {
            let res = client
                .post(url)
                .header("accept", "text/html")
                .form(&[("email", format!("victim{i}@example.com")), ("password", "guess guess".into())])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.headers().contains_key("retry-after"))
        }
    }));
    let page = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.client().get(app.url("/login")).send().await.unwrap().status().as_u16()
    };
    let (answers, page) = tokio::join!(flood, page);
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(page, 200, "the sign-in page answers during the flood");
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    assert!(answers.iter().filter(|(s, _)| *s == 429).all(|(_, retry)| *retry), "every 429 says when to retry");
    let admitted = answers.len() - refused;
    assert!(answers.iter().all(|(s, _)| *s == 429 || *s == 302), "only refusals and answers of the form");
    let bound = 20 + (5.0 * elapsed).ceil() as usize + 1;
    assert!(admitted <= bound, "{admitted} admitted in {elapsed:.1} s, at most {bound}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action LIKE 'auth.login.%'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert!(rows as usize <= admitted, "{rows} audit rows for {admitted} admitted attempts");
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let config = Config { hashing_slots: Some(1), hashing_queue: 1, ..Config::default() };
    let app = spawn_app_with(config).await;
    let client = app.client();
    let answers = futures_util::future::join_all((0..20).map(|i| {
        let (client, url) = (client.clone(), app.url("/api/login"));
        async move {
            let res = client
                .post(url)
                .header("accept", "text/html")
                .form(&[("email", format!("user{i}@example.com")), ("password", "guess guess".into())])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.headers().get("retry-after").is_some())
        }
    }))
    .await;
    let busy = answers.iter().filter(|(s, _)| *s == 503).count();
    assert!(busy > 0, "{answers:?}");
    assert!(answers.iter().filter(|(s, _)| *s == 503).all(|(_, retry)| *retry));
    assert!(answers.iter().any(|(s, _)| *s == 302), "the slot and the queue still serve");
}

#[tokio::test]
async fn a_malformed_sign_in_email_is_kept_as_its_length_never_as_typed() {
    let app = spawn_app().await;
    // A password typed into the e-mail field by mistake.
    assert_eq!(app.login(&app.client(), "Tr0ub4dor&3-secret", "whatever").await, "/login?error=email");
    let after: serde_json::Value =
        sqlx::query_scalar("SELECT after FROM audit_events WHERE action = 'auth.login.failed'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert!(!after.to_string().contains("Tr0ub4dor"), "{after}");
    assert_eq!(after["email_length"], 18);
}

#[tokio::test]
async fn production_cookies_are_secure_and_host_prefixed() {
    let config = Config {
        profile: Profile::Production,
        public_origin: Some("https://console.example.com".into()),
        secret_key: Some("k".repeat(40)),
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    app.create_admin(EMAIL, PASSWORD).await;
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/api/login"))
        .header("origin", "https://console.example.com")
        .header("accept", "text/html")
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&res, "__Host-bulkhead_session").expect("a __Host- cookie");
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    let hsts = res.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(hsts.as_deref(), Some("max-age=31536000; includeSubDomains"));
    let dev = spawn_app().await;
    let res = dev.client().get(dev.url("/login")).send().await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none(), "not over plain HTTP in development");
}

#[tokio::test]
async fn many_wrong_passwords_in_a_row_lock_the_account_until_an_admin_unlocks_it() {
    let config = Config {
        account_lock_after: 3,
        login_account_limit: 100,
        login_ip_limit: 100,
        mail: Some(bulkhead::mail::MailConfig {
            smtp_url: "smtp://127.0.0.1:1".into(),
            from: "Bulkhead <bulkhead@example.com>".into(),
            retry_base: Duration::from_secs(60),
        }),
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    app.create_admin(EMAIL, PASSWORD).await;
    // A success in between starts the count again.
    for _ in 0..2 {
        assert_eq!(app.login(&app.client(), EMAIL, "wrong password!").await, "/login?error=invalid");
    }
    assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/");
    for _ in 0..2 {
        assert_eq!(app.login(&app.client(), EMAIL, "wrong password!").await, "/login?error=invalid");
    }
    assert_eq!(app.count_events("auth.account_locked").await, 0);
    // The third in a row locks it, for the right password too, with no time limit.
    assert_eq!(app.login(&app.client(), EMAIL, "wrong password!").await, "/login?error=invalid");
    assert_eq!(app.count_events("auth.account_locked").await, 1);
    assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/login?error=locked");
    sqlx::query("DELETE FROM login_throttle").execute(&app.owner).await.unwrap();
    assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/login?error=locked", "not a timed wait");
    // The owner is told by e-mail.
    let notices: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_mail WHERE to_addr = $1 AND subject LIKE '%locked%'")
            .bind(EMAIL)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(notices, 1);
    // A platform admin unlocks it (audited); the password works again.
    bulkhead::auth::users::unlock_user(&app.pool, &bulkhead::audit::Actor::cli(), EMAIL).await.unwrap();
    assert_eq!(app.count_events("user.unlocked").await, 1);
    assert_eq!(app.login(&app.client(), EMAIL, PASSWORD).await, "/");
}

#[tokio::test]
async fn a_sign_in_whose_database_connection_dies_mid_check_is_unavailable_not_signed_in() {
    let app = spawn_app().await;
    app.create_admin(EMAIL, PASSWORD).await;
    // The connection that opens the session is terminated as it writes it
    // (SQLSTATE 57P01, as when an operator or a failover ends it).
    sqlx::query(
        "CREATE FUNCTION end_my_connection() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS
         $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER end_my_connection BEFORE INSERT ON auth_sessions FOR EACH ROW EXECUTE FUNCTION end_my_connection()",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    let client = app.client();
    let to = app.login(&client, EMAIL, PASSWORD).await;
    assert_eq!(to, "/login?error=unavailable", "never the signed-in redirect");
    let page = client.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("cannot reach its database"), "the sign-in page says why");
    assert_eq!(client.get(app.url("/")).send().await.unwrap().status(), 303, "not signed in");
}
