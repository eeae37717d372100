//! Tenant admins: invited from the tenant's page, accepting the link with a
//! password, enrolling TOTP, and then seeing their own tenant only.

mod common;

use bulkhead::auth::Role;
use bulkhead::team::{AdminsOverview, InvitationView};
use common::{location, spawn_app, TestApp};

async fn tenant(app: &TestApp, slug: &str) -> uuid::Uuid {
    sqlx::query_scalar("INSERT INTO tenants (slug, name, tier_id, isolation_level, status) VALUES ($1, 'Acme Corp', 'standard', 1, 'active') RETURNING id")
        .bind(slug)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

async fn overview(app: &TestApp, client: &reqwest::Client, slug: &str) -> AdminsOverview {
    client.post(app.url("/api/tenant_admins")).form(&[("slug", slug)]).send().await.unwrap().json().await.unwrap()
}

/// Invites `email` to `slug` and returns the link's path.
async fn invite(app: &TestApp, admin: &reqwest::Client, slug: &str, email: &str) -> String {
    let to = app.submit(admin, "invite_tenant_admin", &[("slug", slug), ("email", email)]).await;
    assert_eq!(to, format!("/tenants/{slug}?done=invited#admins"));
    let link = overview(app, admin, slug).await.fresh_link.expect("the link is shown on the next view");
    // (A second request within seconds, as rendering and hydration make, sees it too; later ones do not:
    // tested by `the_link_is_shown_once`.)
    let path = link.split_once("/invite/").map(|(_, t)| format!("/invite/{t}")).unwrap();
    assert_eq!(path.len(), "/invite/".len() + 64);
    path
}

async fn view(app: &TestApp, path: &str) -> InvitationView {
    let token = path.trim_start_matches("/invite/");
    app.client().post(app.url("/api/invitation")).form(&[("token", token)]).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn an_invited_admin_chooses_a_password_enrols_and_sees_only_their_tenant() {
    let app = spawn_app().await;
    let acme = tenant(&app, "acme").await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let path = invite(&app, &admin, "acme", "Jane@Acme.example").await;
    let token = path.trim_start_matches("/invite/").to_string();

    // Stored hashed only.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM invitations").fetch_one(&app.owner).await.unwrap();
    assert_ne!(stored, token.as_bytes());
    assert_eq!(stored.len(), 32);

    let v = view(&app, &path).await;
    assert_eq!(
        (v.email.as_deref(), v.tenant_name.as_deref(), v.problem),
        (Some("jane@acme.example"), Some("Acme Corp"), None)
    );
    let page = app.client().get(app.url(&path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "the link's page needs no sign-in");
    assert!(page.text().await.unwrap().contains("You are invited to administer Acme Corp"));

    // Weak, personal and mismatched passwords are refused next to their field; nothing is created.
    let browser = app.client();
    for (password, confirm, field) in [
        ("short", "short", "password"),
        ("Password1234!", "Password1234!", "password"),
        ("jane-acme-2026-rocks", "jane-acme-2026-rocks", "password"),
        ("a long unusual phrase", "a long unusual phrase!", "confirm"),
    ] {
        let to = app
            .submit(&browser, "accept_invitation", &[("token", &token), ("password", password), ("confirm", confirm)])
            .await;
        app.refusal(&browser, &to, &path, field).await;
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'tenant_admin'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(users, 0);

    // A good password leads to enrolment, which signs in.
    let to = app
        .submit(
            &browser,
            "accept_invitation",
            &[("token", &token), ("password", "a long unusual phrase"), ("confirm", "a long unusual phrase")],
        )
        .await;
    assert_eq!(to, "/login/enrol");
    assert!(
        location(&browser.get(app.url("/")).send().await.unwrap()).starts_with("/login"),
        "not signed in before enrolment"
    );
    app.enrol_totp(&browser).await;
    let (role, tenant_id, enrolled): (String, uuid::Uuid, bool) = sqlx::query_as(
        "SELECT role, tenant_id, totp_enrolled_at IS NOT NULL FROM users WHERE email = 'jane@acme.example'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!((role.as_str(), tenant_id, enrolled), ("tenant_admin", acme, true));

    // Their trail is their tenant's: the invitation, their joining, their enrolment and sign-in.
    let page: bulkhead::audit::EventPage =
        browser.post(app.url("/api/audit_events")).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> = page.events.iter().map(|e| e.action.as_str()).collect();
    for a in ["tenant.admin_invited", "tenant.admin_joined", "auth.mfa.enrolled", "auth.login.succeeded"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    // Platform pages' data is refused.
    assert_eq!(browser.post(app.url("/api/tenants")).send().await.unwrap().status(), 403);

    // Their home is their tenant; another tenant does not exist for them (the database finds nothing).
    tenant(&app, "globex").await;
    let mine: bulkhead::tenants::TenantDetail =
        browser.post(app.url("/api/my_tenant")).send().await.unwrap().json().await.unwrap();
    assert_eq!((mine.tenant.slug.as_str(), mine.can_edit, mine.viewer_is_staff), ("acme", false, false));
    let home = browser.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Effective quotas") && home.contains("My tenant"), "the portal's home");
    let other = browser.post(app.url("/api/tenant")).form(&[("slug", "globex")]).send().await.unwrap();
    assert_eq!(other.status(), 404);
    assert_eq!(browser.get(app.url("/tenants/globex/export?format=json")).send().await.unwrap().status(), 404);
    assert_eq!(browser.get(app.url("/tenants/acme/export?format=json")).send().await.unwrap().status(), 200);
    let platform_page = browser.get(app.url("/tenants/globex")).send().await.unwrap().text().await.unwrap();
    assert!(platform_page.contains("Not found."), "another tenant's page finds nothing");
    assert!(!platform_page.contains("Effective quotas"));

    // The link is spent, and says only that: not whom it invited, nor where.
    let spent = view(&app, &path).await;
    assert_eq!(spent.problem.as_deref(), Some("used"));
    assert_eq!((spent.email, spent.tenant_name), (None, None));
    let page = app.client().get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("jane@acme.example") && !page.contains("Acme Corp"), "{page}");
    let other = app.client();
    let again = app
        .submit(
            &other,
            "accept_invitation",
            &[("token", &token), ("password", "another long phrase"), ("confirm", "another long phrase")],
        )
        .await;
    app.refusal(&other, &again, &path, "_form").await;
    // Refusals from one address are rolled up: one event per window, the rest counted.
    assert!(app.count_events("tenant.invitation_refused").await >= 1);

    // The tenant's page lists the admin with their second factor.
    let o = overview(&app, &admin, "acme").await;
    assert_eq!(o.admins.len(), 1);
    assert!(o.admins[0].mfa);
    assert_eq!(o.invitations[0].state, "used");
}

#[tokio::test]
async fn expired_revoked_and_unknown_links_say_so() {
    let app = spawn_app().await;
    tenant(&app, "acme").await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;

    let expired = invite(&app, &admin, "acme", "late@acme.example").await;
    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 minute'").execute(&app.owner).await.unwrap();
    assert_eq!(view(&app, &expired).await.problem.as_deref(), Some("expired"));

    let revoked = invite(&app, &admin, "acme", "gone@acme.example").await;
    let o = overview(&app, &admin, "acme").await;
    let pending = o.invitations.iter().find(|i| i.state == "pending").unwrap();
    let to = app.submit(&admin, "revoke_invitation", &[("slug", "acme"), ("id", &pending.id.to_string())]).await;
    assert_eq!(to, "/tenants/acme?done=invitation_revoked#admins");
    assert_eq!(view(&app, &revoked).await.problem.as_deref(), Some("revoked"));
    let token = revoked.trim_start_matches("/invite/");
    let stranger = app.client();
    let to = app
        .submit(
            &stranger,
            "accept_invitation",
            &[("token", token), ("password", "a long unusual phrase"), ("confirm", "a long unusual phrase")],
        )
        .await;
    app.refusal(&stranger, &to, &revoked, "_form").await;

    assert_eq!(view(&app, "/invite/not-a-token").await.problem.as_deref(), Some("unknown"));
    assert_eq!(app.count_events("tenant.invitation_revoked").await, 1);

    // Auditors read, and cannot invite.
    let auditor = app.signed_in(Role::PlatformAuditor, "audit@example.com").await;
    assert_eq!(overview(&app, &auditor, "acme").await.invitations.len(), 2);
    let refused = app.submit(&auditor, "invite_tenant_admin", &[("slug", "acme"), ("email", "x@acme.example")]).await;
    app.refusal(&auditor, &refused, "/tenants/acme", "_form").await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM invitations").fetch_one(&app.owner).await.unwrap();
    assert_eq!(count, 2);
}

/// A tenant admin of `slug` who accepted an invitation and enrolled: their signed-in client.
async fn joined(app: &TestApp, admin: &reqwest::Client, slug: &str, email: &str) -> reqwest::Client {
    joined_with_secret(app, admin, slug, email).await.0
}

/// As `joined`, with the TOTP secret their app holds.
async fn joined_with_secret(
    app: &TestApp,
    admin: &reqwest::Client,
    slug: &str,
    email: &str,
) -> (reqwest::Client, Vec<u8>) {
    let path = invite(app, admin, slug, email).await;
    let token = path.trim_start_matches("/invite/");
    let browser = app.client();
    let phrase = "a long unusual phrase";
    let to =
        app.submit(&browser, "accept_invitation", &[("token", token), ("password", phrase), ("confirm", phrase)]).await;
    assert_eq!(to, "/login/enrol");
    let secret = app.enrol_totp(&browser).await;
    (browser, secret)
}

/// Signs `email` in with the password and a TOTP code of `secret`; where the second step sends the browser.
async fn sign_in_with(app: &TestApp, email: &str, secret: &[u8]) -> String {
    let browser = app.client();
    assert_eq!(app.login(&browser, email, "a long unusual phrase").await, "/login/code");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let code = bulkhead::auth::totp::code_at(secret, bulkhead::auth::totp::step_of(now) + 1);
    let res = browser
        .post(app.url("/api/verify_code"))
        .header("accept", "text/html")
        .form(&[("code", code)])
        .send()
        .await
        .unwrap();
    location(&res)
}

#[tokio::test]
async fn a_platform_admin_resets_a_tenant_admins_second_factor_or_disables_them_ending_their_sessions() {
    let app = spawn_app().await;
    tenant(&app, "acme").await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let (jane, old) = joined_with_secret(&app, &admin, "acme", "jane@acme.example").await;
    assert_eq!(jane.get(app.url("/")).send().await.unwrap().status(), 200);
    let id = overview(&app, &admin, "acme").await.admins[0].id.to_string();

    // Unconfirmed: nothing happens.
    let to =
        app.submit(&admin, "manage_tenant_admin", &[("slug", "acme"), ("user_id", &id), ("action", "reset_mfa")]).await;
    app.refusal(&admin, &to, "/tenants/acme", "_form").await;
    assert!(overview(&app, &admin, "acme").await.admins[0].mfa);

    let to = app
        .submit(
            &admin,
            "manage_tenant_admin",
            &[("slug", "acme"), ("user_id", &id), ("action", "reset_mfa"), ("confirm", "on")],
        )
        .await;
    assert_eq!(to, "/tenants/acme?done=mfa_reset#admins");
    let link = overview(&app, &admin, "acme").await.fresh_link.expect("the reset link is shown once");
    let token = link.split_once("/mfa-reset/").map(|(_, t)| t.to_string()).expect("a reset link");
    assert!(location(&jane.get(app.url("/")).send().await.unwrap()).starts_with("/login"), "her session ended");
    // Until the link is used, the old factor stays: nothing was removed.
    assert!(overview(&app, &admin, "acme").await.admins[0].mfa);
    let codes: i64 = sqlx::query_scalar("SELECT count(*) FROM recovery_codes").fetch_one(&app.owner).await.unwrap();
    assert_eq!(codes, 10);
    assert_eq!(sign_in_with(&app, "jane@acme.example", &old).await, "/", "the old app still signs in");
    // A password alone no longer lets anyone set up a factor of their own.
    let again = app.client();
    assert_eq!(app.login(&again, "jane@acme.example", "a long unusual phrase").await, "/login/code");

    // The link: the password first (a wrong one refused and audited), then a new secret, confirmed.
    let holder = app.client();
    let page = holder.get(app.url(&format!("/mfa-reset/{token}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("jane@acme.example"), "the link names the account it resets");
    let to = app.submit(&holder, "open_mfa_reset", &[("token", &token), ("password", "a wrong guess here")]).await;
    app.refusal(&holder, &to, &format!("/mfa-reset/{token}"), "password").await;
    let to = app.submit(&holder, "open_mfa_reset", &[("token", &token), ("password", "a long unusual phrase")]).await;
    assert_eq!(to, "/login/enrol");
    let e: bulkhead::auth::mfa::Enrolment =
        holder.post(app.url("/api/mfa_enrolment")).send().await.unwrap().json().await.unwrap();
    assert!(e.replacing && !e.secret.is_empty());
    let new = app.enrol_totp(&holder).await;
    assert_ne!(new, old);
    assert_eq!(
        holder.get(app.url("/")).send().await.unwrap().status(),
        200,
        "signed in by the link, the password and the new app"
    );
    assert_eq!(
        sign_in_with(&app, "jane@acme.example", &old).await,
        "/login/code?error=wrong",
        "the old app is retired"
    );
    assert_eq!(sign_in_with(&app, "jane@acme.example", &new).await, "/");
    assert_eq!(app.count_events("auth.mfa.reset_completed").await, 1);
    assert_eq!(app.count_events("user.reauthentication_failed").await, 1);

    // Spent: the link says so and nothing more.
    let page = app.client().get(app.url(&format!("/mfa-reset/{token}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("already used") && !page.contains("jane@acme.example"), "{page}");
    let late = app.client();
    let to = app.submit(&late, "open_mfa_reset", &[("token", &token), ("password", "a long unusual phrase")]).await;
    assert!(app.refusal(&late, &to, &format!("/mfa-reset/{token}"), "_form").await.contains("already used"));

    let to = app
        .submit(
            &admin,
            "manage_tenant_admin",
            &[("slug", "acme"), ("user_id", &id), ("action", "disable"), ("confirm", "on")],
        )
        .await;
    assert_eq!(to, "/tenants/acme?done=admin_disabled#admins");
    let refused = app.client();
    assert_eq!(app.login(&refused, "jane@acme.example", "a long unusual phrase").await, "/login?error=invalid");
    assert_eq!(app.count_events("user.mfa_reset").await, 1);
    assert_eq!(app.count_events("user.disabled").await, 1);

    // A user of another tenant is not reachable through this tenant's page.
    tenant(&app, "globex").await;
    let to = app
        .submit(
            &admin,
            "manage_tenant_admin",
            &[("slug", "globex"), ("user_id", &id), ("action", "disable"), ("confirm", "on")],
        )
        .await;
    app.refusal(&admin, &to, "/tenants/globex", "_form").await;
}

#[tokio::test]
async fn a_tenant_admin_manages_their_own_team_and_no_other() {
    let app = spawn_app().await;
    let acme = tenant(&app, "acme").await;
    tenant(&app, "globex").await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let jane = joined(&app, &admin, "acme", "jane@acme.example").await;
    joined(&app, &admin, "globex", "bob@globex.example").await;

    let to = app.submit(&jane, "invite_tenant_admin", &[("slug", "acme"), ("email", "sam@acme.example")]).await;
    assert_eq!(to, "/team?done=invited#admins");
    let team = overview(&app, &jane, "acme").await;
    assert!(team.fresh_link.is_some());
    assert_eq!(team.admins.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(), ["jane@acme.example"]);
    assert_eq!(team.invitations.iter().filter(|i| i.state == "pending").count(), 1);
    let html = jane.get(app.url("/team")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("sam@acme.example"));

    // Another tenant's team does not exist for her; resetting and disabling are the platform's.
    assert_eq!(
        jane.post(app.url("/api/tenant_admins")).form(&[("slug", "globex")]).send().await.unwrap().status(),
        404
    );
    let to = app.submit(&jane, "invite_tenant_admin", &[("slug", "globex"), ("email", "eve@globex.example")]).await;
    assert_eq!(app.refusal(&jane, &to, "/team", "_form").await, "Not found.");
    let jane_id = team.admins[0].id.to_string();
    let to = app
        .submit(
            &jane,
            "manage_tenant_admin",
            &[("slug", "acme"), ("user_id", &jane_id), ("action", "disable"), ("confirm", "on")],
        )
        .await;
    app.refusal(&jane, &to, "/team", "_form").await;

    // In the database: her scope reads her tenant's admins, and never a password hash or a secret.
    let pool = bulkhead::server::db::connect(&app.database_url, 1).unwrap();
    let mut tx = bulkhead::server::db::begin(&pool, bulkhead::server::db::Scope::Tenant(acme)).await.unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(emails, ["jane@acme.example"]);
    for column in ["password_hash", "totp_secret"] {
        let err = sqlx::query(&format!("SELECT {column} FROM users")).execute(&mut *tx).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{column}: {err}");
        tx.rollback().await.unwrap();
        tx = bulkhead::server::db::begin(&pool, bulkhead::server::db::Scope::Tenant(acme)).await.unwrap();
    }
}

#[tokio::test]
async fn the_link_is_shown_once() {
    let app = spawn_app().await;
    tenant(&app, "acme").await;
    tenant(&app, "globex").await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    app.submit(&admin, "invite_tenant_admin", &[("slug", "acme"), ("email", "jane@acme.example")]).await;
    assert!(overview(&app, &admin, "globex").await.fresh_link.is_none(), "not on another tenant's page");
    let first = overview(&app, &admin, "acme").await.fresh_link.expect("on the next view");
    // The same view's second request (hydration) still sees it...
    assert_eq!(overview(&app, &admin, "acme").await.fresh_link.as_deref(), Some(first.as_str()));
    // ...a later view does not.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    assert!(overview(&app, &admin, "acme").await.fresh_link.is_none());
    assert!(overview(&app, &admin, "acme").await.fresh_link.is_none());
}

#[tokio::test]
async fn five_hundred_guessed_invitation_links_from_one_address_write_a_handful_of_audit_rows() {
    let config = bulkhead::server::config::Config {
        secret_checks_burst: 1000,
        secret_checks_per_second: 1000,
        ..Default::default()
    };
    let app = common::spawn_app_with(config).await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&app.owner).await.unwrap();
    let client = app.client();
    let mut refused = 0;
    for i in 0..500 {
        let token = format!("{:064x}", i * 7919 + 13);
        let res = client
            .post(app.url("/api/accept_invitation"))
            .header("accept", "text/html")
            .form(&[
                ("token", token.as_str()),
                ("password", "a long enough phrase"),
                ("confirm", "a long enough phrase"),
            ])
            .send()
            .await
            .unwrap();
        if res.status() == 302 {
            refused += 1;
        }
    }
    assert_eq!(refused, 500, "every guess reached the check and was refused");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&app.owner).await.unwrap();
    assert!(after - before <= 3, "{} audit rows for 500 guesses", after - before);
    let counted: i32 =
        sqlx::query_scalar("SELECT suppressed FROM audit_rollups WHERE key LIKE 'tenant.invitation_refused:%'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(counted, 499, "the rest counted, for the next event to report");
}
