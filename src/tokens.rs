//! Random credentials and their hashes. API keys are high-entropy random strings, so a
//! plain SHA-256 is enough to store them safely and look them up by hash in one query.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of tenant API keys, so a leaked key is recognisable in logs and secret scanners.
pub const API_KEY_PREFIX: &str = "sbk_";

/// `n` random bytes from the OS-seeded CSPRNG, URL-safe base64 without padding.
pub fn random_urlsafe(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new tenant API key (32 random bytes).
pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_urlsafe(32))
}

/// A new endpoint signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks).
pub fn new_endpoint_secret() -> String {
    use base64::engine::general_purpose::STANDARD;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{}{}",
        crate::signature::ENDPOINT_SECRET_PREFIX,
        STANDARD.encode(bytes)
    )
}

/// The stored form of an API key.
pub fn hash_api_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The first characters of a key, stored so operators can tell keys apart without the secret.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_unique_prefixed_and_hash_stably() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 43);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        assert_eq!(key_prefix(&a).len(), 10);
    }
}
