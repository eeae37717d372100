//! E-mail through a real SMTP server (aiosmtpd, from PyPI, in target/venv):
//! an invitation arrives with its link, and a server that is down when the
//! invitation is made still gets it once it is up; a second-factor reset link
//! reaches its owner and no one else.

mod common;

use bulkhead::app::background;
use bulkhead::auth::Role;
use bulkhead::server::config::Config;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn aiosmtpd() -> PathBuf {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/aiosmtpd");
    assert!(tool.exists(), "{} is missing: scripts/test installs it", tool.display());
    tool
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The messages the server has delivered to `dir` (a Maildir), as text.
fn delivered(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("new")) else { return Vec::new() };
    entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect()
}

/// An SMTP server on `port` delivering into the Maildir `dir` (which it makes).
fn start_server(port: u16, dir: &Path) -> Server {
    Server(
        std::process::Command::new(aiosmtpd())
            .args(["-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The first message delivered to `dir`, waiting up to 30 s.
async fn wait_for_mail(dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(m) = delivered(dir).pop() {
            return m;
        }
        assert!(Instant::now() < deadline, "no message arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The path of the link under `prefix` in a message (whose body may be quoted-printable).
fn link_path(mail: &str, prefix: &str) -> String {
    let mail = mail.replace("=\r\n", "").replace("=\n", "");
    let link = mail.split_whitespace().find(|w| w.contains(prefix)).expect("a link").to_string();
    link[link.find(prefix).unwrap()..].to_string()
}

fn mail_config(port: u16) -> Config {
    Config {
        mail: Some(bulkhead::mail::MailConfig {
            smtp_url: format!("smtp://127.0.0.1:{port}"),
            from: "Bulkhead <bulkhead@example.com>".into(),
            retry_base: Duration::from_millis(200),
        }),
        ..Config::default()
    }
}

/// The SMTP server, stopped however the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_invitation_arrives_by_mail_even_when_the_server_was_down_at_first() {
    let port = free_port();
    let app = common::spawn_app_with(mail_config(port)).await;
    background::spawn_mail(&app.state);
    sqlx::query("INSERT INTO tenants (slug, name, tier_id, isolation_level, status) VALUES ('acme', 'Acme', 'free', 1, 'active')")
        .execute(&app.owner)
        .await
        .unwrap();
    let staff = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let to = app.submit(&staff, "invite_tenant_admin", &[("slug", "acme"), ("email", "new@acme.example")]).await;
    assert_eq!(to, "/tenants/acme?done=invited_by_mail#admins");
    let page = staff.get(app.url("/tenants/acme")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("/invite/"), "the link goes to the invitee alone");

    // Nobody listens yet: the message waits in the outbox and is tried again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM outbox_mail").fetch_one(&app.owner).await.unwrap();
        if attempts >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no attempt was made");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The server comes up; the next attempt delivers.
    // A Maildir the server makes itself (it refuses one that exists half-made).
    let dir = std::env::temp_dir().join(format!("bulkhead-mail-{}", uuid::Uuid::new_v4()));
    let server = start_server(port, &dir);
    let mail = wait_for_mail(&dir).await;
    drop(server);
    assert!(mail.contains("To: new@acme.example") && mail.contains("Subject: Your invitation"), "{mail}");
    let path = link_path(&mail, "/invite/");
    let path = path.as_str();
    let invitation = app.client().get(app.url(path)).send().await.unwrap().text().await.unwrap();
    assert!(invitation.contains("You are invited to administer Acme"), "the link works: {path}");
    let sent: bool =
        sqlx::query_scalar("SELECT sent_at IS NOT NULL FROM outbox_mail").fetch_one(&app.owner).await.unwrap();
    assert!(sent);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_second_factor_reset_link_goes_to_its_owner_alone() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("bulkhead-mail-{}", uuid::Uuid::new_v4()));
    let _server = start_server(port, &dir);
    let app = common::spawn_app_with(mail_config(port)).await;
    background::spawn_mail(&app.state);
    let tenant: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, tier_id, isolation_level, status) VALUES ('acme', 'Acme', 'free', 1, 'active') RETURNING id",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    app.tenant_admin(tenant, "jane@acme.example").await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'jane@acme.example'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let staff = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let to = app
        .submit(
            &staff,
            "manage_tenant_admin",
            &[("slug", "acme"), ("user_id", &id.to_string()), ("action", "reset_mfa"), ("confirm", "on")],
        )
        .await;
    assert_eq!(to, "/tenants/acme?done=mfa_reset_mailed#admins");
    let page = staff.get(app.url("/tenants/acme")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("/mfa-reset/"), "the link goes to its owner alone");
    let mail = wait_for_mail(&dir).await;
    assert!(mail.contains("To: jane@acme.example") && mail.contains("Subject: Set up two-factor"), "{mail}");
    let path = link_path(&mail, "/mfa-reset/");
    let reset = app.client().get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    assert!(reset.contains("jane@acme.example") && reset.contains("Enter your password"), "the link works: {path}");
    let _ = std::fs::remove_dir_all(dir);
}
