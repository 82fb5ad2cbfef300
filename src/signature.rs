//! Signatures both ways.
//!
//! Inbound: Meta signs the exact body bytes with the app secret
//! (`X-Hub-Signature-256: sha256=<hex>`). Verification works on raw bytes only, never on
//! re-serialized JSON, and compares in constant time against every active secret.
//!
//! Outbound: deliveries are signed as the Standard Webhooks spec says, so any of its
//! verifier libraries works on the tenant's side.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// The header Meta signs with.
pub const META_SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a request's signature was not accepted; the first maps to 401, the others to 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header at all.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    /// Well-formed, but no active secret produces it (or the tenant has no secret).
    #[error("signature does not match")]
    Mismatch,
}

/// HMAC-SHA256 of `body` with `secret`; also used by tests and `simulate` to sign bodies.
pub fn hmac_sha256(secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value Meta would send for `body` signed with `secret`.
pub fn meta_signature_header(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

/// Parses `sha256=<64 hex>` (prefix case-insensitive, surrounding space ignored).
pub fn parse_meta_signature(header: &str) -> Result<[u8; 32], SignatureError> {
    let header = header.trim();
    let hex_part = header
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .and_then(|_| header.get(7..))
        .ok_or(SignatureError::Malformed)?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut digest).map_err(|_| SignatureError::Malformed)?;
    Ok(digest)
}

/// Checks `header` against `body` with each secret. Every secret is tried (no early exit),
/// so timing does not reveal which one matched or how many there are.
pub fn verify_meta_signature<S: AsRef<[u8]>>(
    header: Option<&str>,
    body: &[u8],
    secrets: &[S],
) -> Result<(), SignatureError> {
    let expected = parse_meta_signature(header.ok_or(SignatureError::Missing)?)?;
    let matched = secrets.iter().fold(Choice::from(0), |acc, secret| {
        acc | hmac_sha256(secret.as_ref(), body).ct_eq(&expected)
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Prefix of endpoint signing secrets (Standard Webhooks convention).
pub const ENDPOINT_SECRET_PREFIX: &str = "whsec_";

/// The key bytes of a `whsec_<base64>` secret; `None` if it is not one.
fn endpoint_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let encoded = secret.strip_prefix(ENDPOINT_SECRET_PREFIX)?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// True for a well-formed `whsec_<base64>` secret, so tools can refuse a wrong value at
/// start rather than fail every verification.
pub fn is_endpoint_secret(secret: &str) -> bool {
    endpoint_key(secret).is_some_and(|key| !key.is_empty())
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` for one secret.
pub fn standard_webhooks_signature(
    secret: &str,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    use base64::Engine;
    let key = endpoint_key(secret)?;
    let mut signed = Vec::with_capacity(webhook_id.len() + body.len() + 24);
    signed.extend_from_slice(webhook_id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let mac = hmac_sha256(&key, &signed);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    ))
}

/// The `webhook-signature` header value: one signature per valid secret, space-separated
/// (two while a rotated secret is in its grace period).
pub fn standard_webhooks_header<S: AsRef<str>>(
    secrets: &[S],
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .filter_map(|s| standard_webhooks_signature(s.as_ref(), webhook_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a `webhook-signature` header against one secret (for `switchboard listen`).
pub fn verify_standard_webhooks(
    secret: &str,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let Some(expected) = standard_webhooks_signature(secret, webhook_id, timestamp, body) else {
        return false;
    };
    header
        .split_whitespace()
        .fold(Choice::from(0), |acc, candidate| {
            acc | candidate.as_bytes().ct_eq(expected.as_bytes())
        })
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"object":"page","entry":[]}"#;

    #[test]
    fn accepts_the_right_secret_among_several() {
        let header = meta_signature_header(b"new", BODY);
        assert_eq!(
            verify_meta_signature(Some(&header), BODY, &["old", "new"]),
            Ok(())
        );
    }

    #[test]
    fn rejects_wrong_secret_missing_and_malformed_headers() {
        let header = meta_signature_header(b"secret", BODY);
        assert_eq!(
            verify_meta_signature(Some(&header), BODY, &["other"]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_meta_signature::<&str>(Some(&header), BODY, &[]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_meta_signature(None, BODY, &["secret"]),
            Err(SignatureError::Missing)
        );
        for bad in [
            "",
            "sha256=",
            "sha1=abcd",
            "sha256=zz",
            &header[..40],
            "sha256=é",
        ] {
            assert_eq!(
                verify_meta_signature(Some(bad), BODY, &["secret"]),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prefix_is_case_insensitive_and_body_must_be_exact() {
        let header = meta_signature_header(b"s", BODY).replace("sha256=", "SHA256=");
        assert_eq!(verify_meta_signature(Some(&header), BODY, &["s"]), Ok(()));
        let reserialized = br#"{"object": "page", "entry": []}"#;
        assert_eq!(
            verify_meta_signature(Some(&header), reserialized, &["s"]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn standard_webhooks_signatures_round_trip_and_reject_tampering() {
        let secret = crate::tokens::new_endpoint_secret();
        let header = standard_webhooks_header(&[&secret], "evt_1", 1_700_000_000, b"{}");
        assert!(header.starts_with("v1,"));
        assert!(verify_standard_webhooks(
            &secret,
            "evt_1",
            1_700_000_000,
            b"{}",
            &header
        ));
        assert!(!verify_standard_webhooks(
            &secret,
            "evt_1",
            1_700_000_001,
            b"{}",
            &header
        ));
        assert!(!verify_standard_webhooks(
            &secret,
            "evt_1",
            1_700_000_000,
            b"{ }",
            &header
        ));
        assert_eq!(
            standard_webhooks_signature("not-a-secret", "i", 1, b""),
            None
        );
    }
}
