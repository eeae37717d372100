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
async fn the_sign_in_role_cannot_change_a_password_or_a_secret() {
    let url = common::fresh_database().await;
    let (pool, owner) = (db::connect(&url, 2).unwrap(), PgPool::connect(&url).await.unwrap());
    let id = user(&owner).await;
    for sql in [
        "UPDATE users SET password_hash = 'y' WHERE id = $1",
        "UPDATE users SET totp_secret = '\\x00' WHERE id = $1",
        "UPDATE users SET role = 'platform_admin' WHERE id = $1",
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
