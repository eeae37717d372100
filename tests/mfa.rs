//! The second factor's database side: the accepted step moves forward once
//! per code, even under a race, and the sign-in role can move nothing else.

mod common;

use bulkhead::auth::totp;
use bulkhead::server::db::{self, Scope};
use sqlx::PgPool;
use uuid::Uuid;

async fn user(owner: &PgPool) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO users (email, password_hash, role) VALUES ('mfa@example.com', 'x', 'platform_admin') RETURNING id",
    )
    .fetch_one(owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn of_twenty_requests_racing_with_one_code_exactly_one_wins() {
    let url = common::fresh_database().await;
    let (pool, owner) = (db::connect(&url, 10).unwrap(), PgPool::connect(&url).await.unwrap());
    let id = user(&owner).await;
    let step = totp::step_of(1_795_000_000);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db::begin(&pool, Scope::Auth).await.unwrap();
            let won = totp::claim_step(&mut tx, id, step).await.unwrap();
            tx.commit().await.unwrap();
            won
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += t.await.unwrap() as i32;
    }
    assert_eq!(winners, 1);

    // The same step again, or an earlier one, never; a later one, once.
    let mut tx = db::begin(&pool, Scope::Auth).await.unwrap();
    assert!(!totp::claim_step(&mut tx, id, step).await.unwrap());
    assert!(!totp::claim_step(&mut tx, id, step - 1).await.unwrap());
    assert!(totp::claim_step(&mut tx, id, step + 1).await.unwrap());
    assert!(!totp::claim_step(&mut tx, id, step + 1).await.unwrap());
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_counter_deleted_while_another_attempt_waits_for_it_is_made_again() {
    // A right code deletes its sign-in's counter; an attempt racing with it
    // waits for the counter's lock and must then find a counter, not an error
    // (which answered the sign-in form with the redirect of success).
    use bulkhead::auth::throttle::load_counter;
    let url = common::fresh_database().await;
    let pool = db::connect(&url, 10).unwrap();
    let mut first = db::begin(&pool, Scope::Auth).await.unwrap();
    load_counter(&mut first, "mfa:race").await.unwrap();
    first.commit().await.unwrap();

    let mut winner = db::begin(&pool, Scope::Auth).await.unwrap();
    load_counter(&mut winner, "mfa:race").await.unwrap();
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = db::begin(&pool, Scope::Auth).await.unwrap();
            let loaded = load_counter(&mut tx, "mfa:race").await.map(|(c, _)| c.failures);
            tx.commit().await.unwrap();
            loaded
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the second attempt waits for the first's lock");
    sqlx::query("DELETE FROM login_throttle WHERE key = 'mfa:race'").execute(&mut *winner).await.unwrap();
    winner.commit().await.unwrap();
    assert_eq!(waiting.await.unwrap().expect("a counter, made again"), 0);
}

#[tokio::test]
async fn the_sign_in_role_cannot_change_a_role_an_address_or_a_tenant() {
    let url = common::fresh_database().await;
    let (pool, owner) = (db::connect(&url, 2).unwrap(), PgPool::connect(&url).await.unwrap());
    let id = user(&owner).await;
    for sql in [
        "UPDATE users SET email = 'other@example.com' WHERE id = $1",
        "UPDATE users SET role = 'platform_admin' WHERE id = $1",
        "UPDATE users SET tenant_id = NULL WHERE id = $1",
        "UPDATE recovery_codes SET code_hash = '\\x00' WHERE user_id = $1",
    ] {
        let mut tx = db::begin(&pool, Scope::Auth).await.unwrap();
        let err = sqlx::query(sql).bind(id).execute(&mut *tx).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{sql}: {err}");
    }
    // A tenant's scope reaches neither users nor recovery codes.
    let mut tx = db::begin(&pool, Scope::Tenant(Uuid::new_v4())).await.unwrap();
    let err = sqlx::query("SELECT count(*) FROM recovery_codes").execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

mod flow {
    use super::common::{location, spawn_app, spawn_app_with, TestApp, TEST_PASSWORD};
    use bulkhead::auth::mfa::Enrolment;
    use bulkhead::auth::{totp, Role};

    fn secret_bytes(text: &str) -> Vec<u8> {
        totp_rs::Secret::Encoded(text.to_string()).to_bytes().unwrap()
    }

    /// The code `offset` steps from now.
    fn code(secret: &[u8], offset: i64) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        totp::code_at(secret, totp::step_of(now) + offset)
    }

    async fn post(app: &TestApp, client: &reqwest::Client, function: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client.post(app.url(&format!("/api/{function}"))).header("accept", "text/html").form(form).send().await.unwrap()
    }

    /// Enrols; answers the secret, the TOTP step the enrolment's code used, and the recovery codes.
    async fn enrol(app: &TestApp, client: &reqwest::Client) -> (Vec<u8>, i64, Vec<String>) {
        let mut first: Enrolment = post(app, client, "mfa_enrolment", &[]).await.json().await.unwrap();
        if first.needs_password {
            // Signed in without a factor: the password again before a secret is shown.
            assert!(first.secret.is_empty());
            let to = post(app, client, "begin_enrolment", &[("password", TEST_PASSWORD)]).await;
            assert_eq!(location(&to), "/login/enrol");
            first = post(app, client, "mfa_enrolment", &[]).await.json().await.unwrap();
        }
        assert!(!first.enrolled);
        assert!(first.uri.starts_with("otpauth://totp/Bulkhead:"), "{}", first.uri);
        assert!(!first.qr_png.is_empty());
        let again: Enrolment = post(app, client, "mfa_enrolment", &[]).await.json().await.unwrap();
        assert_eq!(again.secret, first.secret, "the secret holds until enrolment completes");
        let secret = secret_bytes(&first.secret);

        let wrong = post(app, client, "confirm_enrolment", &[("code", &code(b"some other secret!!!", 0))]).await;
        app.refusal(client, &location(&wrong), "/login/enrol", "code").await;
        // The step is kept: a 30-second boundary may pass before the test replays the code.
        let step = totp::step_of(time::OffsetDateTime::now_utc().unix_timestamp() as u64);
        let ok = post(app, client, "confirm_enrolment", &[("code", &totp::code_at(&secret, step))]).await;
        assert_eq!(location(&ok), "/login/recovery-codes");
        let codes: Vec<String> = post(app, client, "recovery_codes", &[]).await.json().await.unwrap();
        assert_eq!(codes.len(), 10);
        let none: Vec<String> = post(app, client, "recovery_codes", &[]).await.json().await.unwrap();
        assert!(none.is_empty(), "shown once");
        (secret, step, codes)
    }

    #[tokio::test]
    async fn enrol_then_sign_in_with_a_code_and_with_a_recovery_code() {
        let app = spawn_app().await;
        let email = "staff@example.com";
        let client = app.signed_in(Role::PlatformAdmin, email).await;
        let (secret, step, codes) = enrol(&app, &client).await;

        // At rest: the secret is sealed, the recovery codes are hashes.
        let (stored, text_len): (Vec<u8>, i64) =
            sqlx::query_as("SELECT totp_secret, (SELECT count(*) FROM recovery_codes WHERE length(code_hash) = 32) FROM users WHERE email = $1")
                .bind(email)
                .fetch_one(&app.owner)
                .await
                .unwrap();
        assert!(!stored.windows(secret.len()).any(|w| w == secret.as_slice()));
        let base32 = totp::secret_text(&secret);
        assert!(!stored.windows(base32.len()).any(|w| w == base32.as_bytes()));
        assert_eq!(text_len, 10);
        let hashes: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT code_hash FROM recovery_codes").fetch_all(&app.owner).await.unwrap();
        for c in &codes {
            assert!(!hashes.contains(&c.as_bytes().to_vec()));
            assert!(hashes.contains(&totp::recovery_code_hash(c)));
        }

        // The password alone reaches only the code form.
        let browser = app.client();
        assert_eq!(app.login(&browser, email, TEST_PASSWORD).await, "/login/code");
        let home = browser.get(app.url("/")).send().await.unwrap();
        assert!(location(&home).starts_with("/login"), "{}", location(&home));
        assert_eq!(browser.post(app.url("/api/audit_events")).send().await.unwrap().status(), 401);

        // The enrolment's own code counts as used; the next step's code signs in, once.
        let used = post(&app, &browser, "verify_code", &[("code", &totp::code_at(&secret, step))]).await;
        assert_eq!(location(&used), "/login/code?error=replayed");
        let next = totp::code_at(&secret, step + 1);
        let ok = post(&app, &browser, "verify_code", &[("code", &next), ("next", "/audit")]).await;
        assert_eq!(location(&ok), "/audit");
        assert_eq!(browser.get(app.url("/audit")).send().await.unwrap().status(), 200);

        let other = app.client();
        assert_eq!(app.login(&other, email, TEST_PASSWORD).await, "/login/code");
        let replay = post(&app, &other, "verify_code", &[("code", &next)]).await;
        assert_eq!(location(&replay), "/login/code?error=replayed");

        // A recovery code works once, however it is typed.
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert_eq!(location(&post(&app, &other, "verify_code", &[("code", &typed)]).await), "/");
        let third = app.client();
        app.login(&third, email, TEST_PASSWORD).await;
        assert_eq!(
            location(&post(&app, &third, "verify_code", &[("code", &codes[3])]).await),
            "/login/code?error=recovery"
        );
        assert_eq!(app.count_events("auth.mfa.enrolled").await, 1);
        assert!(app.count_events("auth.mfa.failed").await >= 3);
    }

    #[tokio::test]
    async fn of_six_sign_ins_sending_one_code_at_once_one_wins_and_the_others_are_told_so() {
        // Only the race is under test here, not the lock after five wrong codes.
        let config = bulkhead::server::config::Config {
            mfa_code_limit: 1000,
            secret_checks_burst: 10_000,
            ..Default::default()
        };
        let app = spawn_app_with(config).await;
        let email = "racer@example.com";
        let client = app.signed_in(Role::PlatformAdmin, email).await;
        let (secret, step, recovery) = enrol(&app, &client).await;
        // The next TOTP step once (a later one is not valid yet), then recovery codes.
        let rounds = [(totp::code_at(&secret, step + 1), "replayed")]
            .into_iter()
            .chain(recovery.iter().map(|c| (c.clone(), "recovery")));
        for (round, (code, refusal)) in rounds.enumerate() {
            let clients: Vec<_> = (0..6).map(|_| app.client()).collect();
            for c in &clients {
                assert_eq!(app.login(c, email, TEST_PASSWORD).await, "/login/code");
            }
            let failed_before = app.count_events("auth.mfa.failed").await;
            let answers = futures_util::future::join_all(
                clients
                    .iter()
                    .map(|c| async { location(&post(&app, c, "verify_code", &[("code", code.as_str())]).await) }),
            )
            .await;
            let mut sorted = answers.clone();
            sorted.sort();
            let refused = format!("/login/code?error={refusal}");
            let expected: Vec<&str> = std::iter::once("/").chain([refused.as_str(); 5]).collect();
            assert_eq!(sorted, expected, "round {round}");
            assert_eq!(app.count_events("auth.mfa.failed").await - failed_before, 5, "each refusal audited");
            for (c, to) in clients.iter().zip(&answers) {
                let home = c.get(app.url("/")).send().await.unwrap();
                assert_eq!(home.status().is_success(), to == "/", "only the winner holds a session");
            }
        }
    }

    #[tokio::test]
    async fn five_wrong_codes_lock_the_second_step() {
        let app = spawn_app().await;
        let email = "locked@example.com";
        let client = app.signed_in(Role::PlatformAuditor, email).await;
        let (secret, _, _) = enrol(&app, &client).await;
        let browser = app.client();
        app.login(&browser, email, TEST_PASSWORD).await;
        let wrong = code(b"not the right secret at all", 0);
        let mut last = String::new();
        for _ in 0..5 {
            last = location(&post(&app, &browser, "verify_code", &[("code", &wrong)]).await);
        }
        assert_eq!(last, "/login/code?error=locked");
        // Even the right code waits now.
        let right = post(&app, &browser, "verify_code", &[("code", &code(&secret, 1))]).await;
        assert_eq!(location(&right), "/login/code?error=locked");
        assert_eq!(app.count_events("auth.mfa.locked").await, 1);
        assert_eq!(app.count_events("auth.mfa.throttled").await, 0, "counted, written when the wait is over");
        let refused: i32 = sqlx::query_scalar("SELECT refused FROM login_throttle WHERE key LIKE 'mfa:%'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
        assert_eq!(refused, 1);
    }

    #[tokio::test]
    async fn when_staff_must_have_a_second_factor_the_first_sign_in_enrols() {
        let config = bulkhead::server::config::Config { require_staff_mfa: true, ..Default::default() };
        let app = spawn_app_with(config).await;
        let email = "new@example.com";
        app.create_admin(email, TEST_PASSWORD).await;
        let browser = app.client();
        assert_eq!(app.login(&browser, email, TEST_PASSWORD).await, "/login/enrol");
        assert!(location(&browser.get(app.url("/tenants")).send().await.unwrap()).starts_with("/login"));
        // Enrolling completes the sign-in.
        let (_, _, codes) = enrol(&app, &browser).await;
        assert_eq!(codes.len(), 10);
        assert_eq!(browser.get(app.url("/tenants")).send().await.unwrap().status(), 200);
    }
}
