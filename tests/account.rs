//! The account page: a new password ends the other sessions; new recovery
//! codes and a new enrolment need the password and a current code.

mod common;

use bulkhead::auth::{totp, Role};
use common::{location, spawn_app, TEST_PASSWORD};

fn code(secret: &[u8], offset: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    totp::code_at(secret, totp::step_of(now) + offset)
}

#[tokio::test]
async fn a_new_password_ends_the_other_sessions_only() {
    let app = spawn_app().await;
    let email = "me@example.com";
    let here = app.signed_in(Role::PlatformAdmin, email).await;
    let elsewhere = app.client();
    assert_eq!(app.login(&elsewhere, email, TEST_PASSWORD).await, "/");

    let wrong = app
        .submit(
            &here,
            "change_password",
            &[("current", "not it at all"), ("new", "a fresh long phrase"), ("confirm", "a fresh long phrase")],
        )
        .await;
    app.refusal(&here, &wrong, "/account", "current").await;
    let weak = app
        .submit(
            &here,
            "change_password",
            &[("current", TEST_PASSWORD), ("new", "password12345"), ("confirm", "password12345")],
        )
        .await;
    app.refusal(&here, &weak, "/account", "new").await;
    let ok = app
        .submit(
            &here,
            "change_password",
            &[("current", TEST_PASSWORD), ("new", "a fresh long phrase"), ("confirm", "a fresh long phrase")],
        )
        .await;
    assert_eq!(ok, "/account?done=password");

    assert_eq!(here.get(app.url("/account")).send().await.unwrap().status(), 200, "this session goes on");
    assert!(location(&elsewhere.get(app.url("/")).send().await.unwrap()).starts_with("/login"), "the other one ended");
    assert_eq!(app.login(&app.client(), email, TEST_PASSWORD).await, "/login?error=invalid");
    assert_eq!(app.login(&app.client(), email, "a fresh long phrase").await, "/");
    assert_eq!(app.count_events("user.password_changed").await, 1);
    assert_eq!(app.count_events("user.reauthentication_failed").await, 1);
}

#[tokio::test]
async fn the_account_pages_password_checks_share_the_sign_in_counter() {
    let app = spawn_app().await;
    let email = "guessed@example.com";
    let stolen = app.signed_in(Role::PlatformAuditor, email).await;
    let attempt = |current: &'static str| {
        let (app, stolen) = (&app, &stolen);
        async move {
            let to = app
                .submit(
                    stolen,
                    "change_password",
                    &[("current", current), ("new", "a fresh long phrase"), ("confirm", "a fresh long phrase")],
                )
                .await;
            if to == "/account?done=password" {
                None
            } else {
                Some(app.refusal(stolen, &to, "/account", "current").await)
            }
        }
    };
    // A stolen session guesses the password: the fifth wrong guess starts the wait...
    for _ in 0..5 {
        assert_eq!(attempt("a wrong guess!").await.as_deref(), Some("That is not your current password."));
    }
    // ...which holds even for the right password, here and at the sign-in page.
    assert!(attempt(TEST_PASSWORD).await.unwrap().starts_with("Too many wrong attempts"));
    assert_eq!(app.login(&app.client(), email, TEST_PASSWORD).await, "/login?error=locked");
}

#[tokio::test]
async fn new_recovery_codes_need_the_password_and_a_current_code() {
    let app = spawn_app().await;
    let client = app.signed_in(Role::PlatformAuditor, "me@example.com").await;
    let secret = app.enrol_totp(&client).await;
    let first: Vec<String> = client.post(app.url("/api/recovery_codes")).send().await.unwrap().json().await.unwrap();

    // The enrolment's own code (its step read back: a 30-second boundary may have passed) is spent.
    let spent: i64 = sqlx::query_scalar("SELECT totp_last_step FROM users WHERE email = 'me@example.com'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let bad = app
        .submit(
            &client,
            "regenerate_recovery_codes",
            &[("password", TEST_PASSWORD), ("code", &totp::code_at(&secret, spent))],
        )
        .await;
    app.refusal(&client, &bad, "/account", "codes_code").await;
    let bad = app
        .submit(&client, "regenerate_recovery_codes", &[("password", "wrong password!"), ("code", &code(&secret, 1))])
        .await;
    app.refusal(&client, &bad, "/account", "codes_password").await;
    let ok = app
        .submit(&client, "regenerate_recovery_codes", &[("password", TEST_PASSWORD), ("code", &code(&secret, 1))])
        .await;
    assert_eq!(ok, "/login/recovery-codes");
    let second: Vec<String> = client.post(app.url("/api/recovery_codes")).send().await.unwrap().json().await.unwrap();
    assert_eq!(second.len(), 10);
    let hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT code_hash FROM recovery_codes").fetch_all(&app.owner).await.unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(first.iter().all(|c| !hashes.contains(&totp::recovery_code_hash(c))), "the old codes are gone");
    assert!(second.iter().all(|c| hashes.contains(&totp::recovery_code_hash(c))));
}

#[tokio::test]
async fn setting_up_again_needs_the_password_and_a_current_code() {
    let app = spawn_app().await;
    let client = app.signed_in(Role::PlatformAdmin, "me@example.com").await;
    let old = app.enrol_totp(&client).await;
    let stored = || async {
        sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT totp_secret FROM users").fetch_one(&app.owner).await.unwrap()
    };
    let before = stored().await;
    let ok = app.submit(&client, "restart_enrolment", &[("password", TEST_PASSWORD), ("code", &code(&old, 1))]).await;
    assert_eq!(ok, "/login/enrol");
    // Until the new secret is confirmed, the old one stays and works.
    assert_eq!(stored().await, before, "the old secret is kept until the new one is confirmed");
    // (As if the next periods had come: every code up to now + 1 is spent.)
    sqlx::query("UPDATE users SET totp_last_step = totp_last_step - 2").execute(&app.owner).await.unwrap();
    let elsewhere = app.client();
    assert_eq!(app.login(&elsewhere, "me@example.com", TEST_PASSWORD).await, "/login/code");
    let res = elsewhere
        .post(app.url("/api/verify_code"))
        .header("accept", "text/html")
        .form(&[("code", code(&old, 1))])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/", "the old factor still signs in");

    let new = app.enrol_totp(&client).await;
    assert_ne!(new, old, "a new secret");
    assert_ne!(stored().await, before, "replaced once confirmed");
    assert_eq!(app.count_events("auth.mfa.enrolled").await, 2);
    assert_eq!(app.count_events("auth.mfa.replacement_started").await, 1);
}

#[tokio::test]
async fn a_session_without_a_factor_enters_the_password_before_setting_one_up() {
    let app = spawn_app().await;
    let client = app.signed_in(Role::PlatformAdmin, "me@example.com").await;
    let e: bulkhead::auth::mfa::Enrolment =
        client.post(app.url("/api/mfa_enrolment")).send().await.unwrap().json().await.unwrap();
    assert!(e.needs_password && e.secret.is_empty(), "no secret shown to a session alone");
    let to = app.submit(&client, "confirm_enrolment", &[("code", "123456")]).await;
    assert!(app.refusal(&client, &to, "/login/enrol", "code").await.contains("password"));
    let to = app.submit(&client, "begin_enrolment", &[("password", "not the password at all")]).await;
    app.refusal(&client, &to, "/login/enrol", "password").await;
    assert_eq!(app.count_events("user.reauthentication_failed").await, 1, "a failed check is audited");
    app.enrol_totp(&client).await;
    let enrolled: bool =
        sqlx::query_scalar("SELECT totp_enrolled_at IS NOT NULL FROM users").fetch_one(&app.owner).await.unwrap();
    assert!(enrolled);
}
