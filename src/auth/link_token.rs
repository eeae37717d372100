//! One-time link tokens (invitations, second-factor resets): 32 random
//! bytes in hex in the link, their SHA-256 alone in the database.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a one-time link's token is stored as.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// A new one-time link token (32 random bytes, hex) and its stored hash.
pub fn new_link_token() -> (String, Vec<u8>) {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let hash = token_hash(&token);
    (token, hash)
}
