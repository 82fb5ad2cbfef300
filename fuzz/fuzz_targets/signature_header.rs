//! The `X-Hub-Signature-256` header arrives before anything is authenticated: parsing and
//! verifying any header value must never panic, verification must refuse exactly what
//! parsing refuses (for the same reason), and the header we compute for a body verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::signature::{
    meta_signature_header, parse_meta_signature, verify_meta_signature, SignatureError,
};

const SECRET: &[u8] = b"app-secret-1";

fuzz_target!(|header: &str| {
    let body = header.as_bytes();
    let verified = verify_meta_signature(Some(header), body, &[SECRET]);
    match parse_meta_signature(header) {
        Err(e) => assert_eq!(verified, Err(e)),
        Ok(_) => {
            assert!(matches!(verified, Ok(()) | Err(SignatureError::Mismatch)));
            let no_secret = verify_meta_signature::<&[u8]>(Some(header), body, &[]);
            assert_eq!(no_secret, Err(SignatureError::Mismatch));
        }
    }
    let ours = meta_signature_header(SECRET, body);
    assert_eq!(verify_meta_signature(Some(&ours), body, &[SECRET]), Ok(()));
});
