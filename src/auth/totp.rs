//! The second factor: TOTP codes (RFC 6238 with SHA-1, 6 digits, 30-second
//! steps), recovery codes, and the encryption of TOTP secrets at rest.
//!
//! What is pure lives here: computing and checking codes, making and hashing
//! recovery codes, sealing and opening secrets. Remembering which step was
//! last accepted is the database's job (`claim_step`), so that two requests
//! racing with one code cannot both win.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps of clock drift accepted either way.
pub const DRIFT_STEPS: i64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes issued at once.
pub const RECOVERY_CODES: usize = 10;

/// The step a unix time falls in.
pub fn step_of(unix_secs: u64) -> i64 {
    (unix_secs / STEP_SECS) as i64
}

fn totp(secret: &[u8]) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec(), None, String::new())
}

/// The code for `secret` at `step`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    totp(secret).generate(step.max(0) as u64 * STEP_SECS)
}

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut secret);
    secret
}

/// The secret as people type it into an authenticator (base32, no padding).
pub fn secret_text(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` address an authenticator app reads from the QR code.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| crate::ui::url_encode(s).replace('/', "%2F");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        secret_text(secret),
        enc(issuer)
    )
}

/// The QR code of the enrolment address, as a base64 PNG.
pub fn qr_png_base64(secret: &[u8], issuer: &str, account: &str) -> Result<String, String> {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.to_string()),
        account.to_string(),
    )
    .get_qr_base64()
}

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code matches this step, later than the last one accepted: claim it.
    Matches { step: i64 },
    /// The code matches a step already used (or an earlier one): a replay.
    Replayed,
    /// The code matches no step within the drift window.
    Wrong,
}

/// Compares in time that does not depend on where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `code` (spaces ignored) against `secret` at `now_unix`: one step of
/// drift either way, and only a step later than `last_step`.
pub fn check(secret: &[u8], code: &str, now_unix: u64, last_step: Option<i64>) -> CodeCheck {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return CodeCheck::Wrong;
    }
    let now = step_of(now_unix);
    // Every candidate is computed, so the time taken does not say which one matched.
    let mut matched = None;
    for step in (now - DRIFT_STEPS..=now + DRIFT_STEPS).rev() {
        if same(&code_at(secret, step), &code) && matched.is_none() {
            matched = Some(step);
        }
    }
    match matched {
        None => CodeCheck::Wrong,
        Some(step) if last_step.is_some_and(|last| step <= last) => CodeCheck::Replayed,
        Some(step) => CodeCheck::Matches { step },
    }
}

/// Records `step` as the user's last accepted one, only if it is later than
/// the one recorded: one statement, so of two requests racing with the same
/// code exactly one gets `true`.
pub async fn claim_step(conn: &mut PgConnection, user_id: Uuid, step: i64) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query!(
        "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        user_id,
        step
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten new recovery codes, `xxxx-xxxx-xxxx-xxxx` (about 79 bits each, so a
/// plain SHA-256 of them cannot be searched).
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..16)
                .map(|_| RECOVERY_ALPHABET[(rng.next_u32() as usize) % RECOVERY_ALPHABET.len()] as char)
                .collect();
            chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// The stored form of a recovery code: SHA-256 of the code as typed, with
/// case, spaces and hyphens ignored.
pub fn recovery_code_hash(code: &str) -> Vec<u8> {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

pub use crate::server::secret_box::{SealError, SecretBox};

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238, appendix B: the SHA-1 secret "12345678901234567890".
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // The RFC lists 8-digit codes; a 6-digit code is their last six digits.
        for (time, eight) in
            [(59u64, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (2000000000, "69279037")]
        {
            assert_eq!(code_at(RFC_SECRET, step_of(time)), eight[2..], "at {time}");
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let now = 1_795_000_000;
        let step = step_of(now);
        for drift in [-1, 0, 1] {
            let code = code_at(RFC_SECRET, step + drift);
            assert_eq!(check(RFC_SECRET, &code, now, None), CodeCheck::Matches { step: step + drift }, "drift {drift}");
        }
        for drift in [-2, 2] {
            let code = code_at(RFC_SECRET, step + drift);
            assert_eq!(check(RFC_SECRET, &code, now, None), CodeCheck::Wrong, "drift {drift}");
        }
    }

    #[test]
    fn a_used_step_or_an_earlier_one_is_a_replay() {
        let now = 1_795_000_000;
        let step = step_of(now);
        let code = code_at(RFC_SECRET, step);
        assert_eq!(check(RFC_SECRET, &code, now, Some(step)), CodeCheck::Replayed);
        assert_eq!(check(RFC_SECRET, &code, now, Some(step + 1)), CodeCheck::Replayed);
        assert_eq!(check(RFC_SECRET, &code, now, Some(step - 1)), CodeCheck::Matches { step });
    }

    #[test]
    fn malformed_codes_and_other_secrets_are_wrong() {
        let now = 1_795_000_000;
        let code = code_at(RFC_SECRET, step_of(now));
        assert_eq!(
            check(RFC_SECRET, &format!("{} {}", &code[..3], &code[3..]), now, None),
            CodeCheck::Matches { step: step_of(now) }
        );
        assert_eq!(check(b"another secret entirely", &code, now, None), CodeCheck::Wrong);
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(check(RFC_SECRET, bad, now, None), CodeCheck::Wrong, "{bad:?}");
        }
    }

    #[test]
    fn the_enrolment_text_and_address_carry_the_secret() {
        assert_eq!(secret_text(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = otpauth_uri(RFC_SECRET, "Bulkhead", "ops@acme.example");
        assert_eq!(
            uri,
            "otpauth://totp/Bulkhead:ops%40acme.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bulkhead&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(new_secret().len(), SECRET_BYTES);
        assert_ne!(new_secret(), new_secret());
    }

    #[test]
    fn recovery_codes_are_long_distinct_and_hashed_as_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 19, "{c}");
            assert_eq!(c.matches('-').count(), 3);
        }
        let c = &codes[0];
        assert_eq!(recovery_code_hash(c), recovery_code_hash(&format!(" {} ", c.to_uppercase().replace('-', " "))));
        assert_ne!(recovery_code_hash(c), recovery_code_hash(&codes[1]));
        assert_ne!(recovery_code_hash(c), c.as_bytes(), "stored hashed");
    }
}
