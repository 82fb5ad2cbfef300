//! Expiring links to captured files: `/v1/media/{id}?token={expires}.{mac}`, where `mac`
//! is an HMAC-SHA256 of the id and expiry under a random key kept only in the file's
//! database row. Links can be handed to any HTTP client (no API key), stop working at
//! `expires`, and one file's link says nothing about another's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

fn mac(key: &[u8], id: Uuid, expires: i64) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    mac.update(&expires.to_be_bytes());
    Some(mac)
}

/// The token of a link to `id` that works until `expires` (Unix seconds).
pub fn sign(key: &[u8], id: Uuid, expires: i64) -> String {
    let tag = mac(key, id, expires)
        .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("{expires}.{tag}")
}

/// True if `token` was made by [`sign`] for this file and key and has not expired at `now`.
/// The comparison is constant-time.
pub fn verify(key: &[u8], id: Uuid, token: &str, now: i64) -> bool {
    let Some((expires, tag)) = token.split_once('.') else {
        return false;
    };
    let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(tag)) else {
        return false;
    };
    now <= expires && mac(key, id, expires).is_some_and(|m| m.verify_slice(&tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_until_it_expires_and_only_for_its_file() {
        let key = [7_u8; 32];
        let id = Uuid::now_v7();
        let token = sign(&key, id, 1_000);
        assert!(verify(&key, id, &token, 999));
        assert!(verify(&key, id, &token, 1_000));
        assert!(!verify(&key, id, &token, 1_001), "expired");
        assert!(!verify(&key, Uuid::now_v7(), &token, 999), "other file");
        assert!(!verify(&[8_u8; 32], id, &token, 999), "other key");
    }

    #[test]
    fn a_tampered_expiry_or_garbage_is_refused() {
        let key = [7_u8; 32];
        let id = Uuid::now_v7();
        let token = sign(&key, id, 1_000);
        let (_, tag) = token.split_once('.').unwrap_or_default();
        assert!(!verify(&key, id, &format!("9999999999.{tag}"), 999));
        for junk in ["", ".", "abc", "1000.", "1000.!!!", "x.y.z"] {
            assert!(!verify(&key, id, junk, 0), "{junk:?}");
        }
    }
}
