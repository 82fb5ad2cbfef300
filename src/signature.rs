//! Inbound signature check: Meta signs the exact body bytes with the app secret
//! (`X-Hub-Signature-256: sha256=<hex>`). Verification works on raw bytes only, never on
//! re-serialized JSON, and compares in constant time against every active secret.

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
}
