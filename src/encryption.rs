//! Encryption of secrets at rest: Meta app secrets and endpoint signing secrets.
//!
//! With an operator key (`SWITCHBOARD_ENCRYPTION_KEY`) the store writes every such secret as
//! `enc:v1:<key-id>:<base64(nonce ‖ ciphertext)>`, sealed with XChaCha20-Poly1305 (random
//! 192-bit nonces are safe at any volume) and bound to the owning tenant's id as associated
//! data, so a value copied into another tenant's row does not decrypt. The key id says which
//! key to use, so old keys can still be read during a rotation. Values without the prefix are
//! plaintext rows from before encryption was enabled and are read as they are.
//! The store applies this, so no caller can forget it.

use std::ffi::OsStr;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Marks a stored value as encrypted, and the format version.
pub const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;

/// Why a stored secret could not be read; the value itself is never part of the message.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// Sealed with a key that is neither the current one nor an old one.
    #[error("secret is encrypted with key {0}, which is not configured (SWITCHBOARD_ENCRYPTION_KEY / SWITCHBOARD_ENCRYPTION_OLD_KEYS)")]
    UnknownKey(String),
    /// Damaged, truncated, or moved to another tenant's row.
    #[error("encrypted secret is corrupt or does not belong to this tenant")]
    Corrupt,
    /// The AEAD refused to seal (only possible for absurdly long input).
    #[error("secret could not be encrypted")]
    Seal,
}

/// One 256-bit key. Its id is derived from the key, so operators never have to name keys,
/// and `Debug` shows only that id.
#[derive(Clone)]
pub struct EncryptionKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl EncryptionKey {
    /// Parses base64 of exactly 32 bytes (e.g. the output of `openssl rand -base64 32`).
    pub fn from_base64(text: &str) -> Result<Self, &'static str> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| "the encryption key must be base64")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the encryption key must be base64 of exactly 32 bytes")?;
        let digest = Sha256::digest([b"switchboard-key-id:".as_slice(), &key].concat());
        Ok(EncryptionKey {
            id: hex::encode(&digest[..4]),
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// The short public id written into every value this key seals.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", self.id)
    }
}

/// clap parser for key flags whose errors never echo the value given (it is a secret).
#[derive(Debug, Clone, Copy)]
pub struct KeyParser;

impl clap::builder::TypedValueParser for KeyParser {
    type Value = EncryptionKey;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<EncryptionKey, clap::Error> {
        let name = arg.map_or_else(|| "key".to_owned(), ToString::to_string);
        value
            .to_str()
            .ok_or("the encryption key must be base64")
            .and_then(EncryptionKey::from_base64)
            .map_err(|why| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("invalid {name}: {why}\n"),
                )
            })
    }
}

/// The current key, which seals and opens, and old keys, which only open. Without a
/// current key secrets are written in clear (and a warning is logged at startup).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    current: Option<EncryptionKey>,
    old: Vec<EncryptionKey>,
}

impl Keyring {
    /// A keyring from the configured keys.
    pub fn new(current: Option<EncryptionKey>, old: Vec<EncryptionKey>) -> Self {
        Keyring { current, old }
    }

    /// The key new values are sealed with, if any.
    pub fn current(&self) -> Option<&EncryptionKey> {
        self.current.as_ref()
    }

    /// The stored form of `secret`, owned by `tenant_id`: sealed with the current key, or
    /// the secret itself without one.
    pub fn seal(&self, tenant_id: Uuid, secret: &str) -> Result<String, EncryptionError> {
        let Some(key) = &self.current else {
            return Ok(secret.to_owned());
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: tenant_id.as_bytes(),
        };
        let sealed = key
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| EncryptionError::Seal)?;
        let data = STANDARD.encode([&nonce[..], &sealed].concat());
        Ok(format!("{PREFIX}{}:{data}", key.id))
    }

    /// The secret in a stored value owned by `tenant_id`; plaintext values pass through.
    pub fn open(&self, tenant_id: Uuid, stored: &str) -> Result<String, EncryptionError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (key_id, data) = rest.split_once(':').ok_or(EncryptionError::Corrupt)?;
        let key = self
            .current
            .iter()
            .chain(&self.old)
            .find(|k| k.id == key_id)
            .ok_or_else(|| EncryptionError::UnknownKey(key_id.to_owned()))?;
        let data = STANDARD
            .decode(data)
            .map_err(|_| EncryptionError::Corrupt)?;
        if data.len() < NONCE_LEN {
            return Err(EncryptionError::Corrupt);
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let payload = Payload {
            msg: sealed,
            aad: tenant_id.as_bytes(),
        };
        let plain = key
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| EncryptionError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| EncryptionError::Corrupt)
    }

    /// A stored value sealed again with the current key (for `switchboard reencrypt`).
    pub fn reseal(&self, tenant_id: Uuid, stored: &str) -> Result<String, EncryptionError> {
        self.seal(tenant_id, &self.open(tenant_id, stored)?)
    }

    /// True when a stored value is not sealed with the current key (plaintext, or an old
    /// key), so `switchboard reencrypt` should rewrite it.
    pub fn is_stale(&self, stored: &str) -> bool {
        match &self.current {
            Some(key) => !stored.starts_with(&format!("{PREFIX}{}:", key.id)),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_base64(&STANDARD.encode([byte; 32])).expect("valid key")
    }

    #[test]
    fn sealed_values_name_their_key_and_open_again() {
        let keys = Keyring::new(Some(key(1)), vec![]);
        let tenant = Uuid::now_v7();
        let sealed = keys.seal(tenant, "app-secret").expect("sealed");
        assert!(sealed.starts_with(&format!("{PREFIX}{}:", key(1).id())));
        assert!(!sealed.contains("app-secret"));
        let again = keys.seal(tenant, "app-secret").expect("sealed");
        assert_ne!(sealed, again, "fresh nonce each time");
        assert_eq!(keys.open(tenant, &sealed).expect("opens"), "app-secret");
        assert!(!keys.is_stale(&sealed));
    }

    #[test]
    fn another_tenant_or_a_damaged_value_does_not_open() {
        let keys = Keyring::new(Some(key(1)), vec![]);
        let sealed = keys.seal(Uuid::now_v7(), "s").expect("sealed");
        assert!(matches!(
            keys.open(Uuid::now_v7(), &sealed),
            Err(EncryptionError::Corrupt)
        ));
        let damaged = format!("{}A", &sealed[..sealed.len() - 1]);
        assert!(keys.open(Uuid::nil(), &damaged).is_err());
        assert!(keys.open(Uuid::nil(), "enc:v1:nokeyid").is_err());
    }

    #[test]
    fn old_keys_open_and_plaintext_passes_through() {
        let tenant = Uuid::now_v7();
        let before = Keyring::new(Some(key(1)), vec![])
            .seal(tenant, "s")
            .expect("sealed");
        let rotated = Keyring::new(Some(key(2)), vec![key(1)]);
        assert_eq!(rotated.open(tenant, &before).expect("old key"), "s");
        assert!(rotated.is_stale(&before));
        let resealed = rotated.reseal(tenant, &before).expect("resealed");
        assert!(!rotated.is_stale(&resealed));
        assert_eq!(rotated.open(tenant, &resealed).expect("opens"), "s");
        assert!(rotated.is_stale("legacy"));
        assert_eq!(rotated.open(tenant, "legacy").expect("plaintext"), "legacy");
        let forgotten = Keyring::new(Some(key(2)), vec![]);
        assert!(matches!(
            forgotten.open(tenant, &before),
            Err(EncryptionError::UnknownKey(id)) if id == key(1).id()
        ));
        assert_eq!(Keyring::default().seal(tenant, "s").expect("clear"), "s");
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64_and_never_print() {
        assert!(EncryptionKey::from_base64("not base64!").is_err());
        assert!(EncryptionKey::from_base64(&STANDARD.encode([0u8; 16])).is_err());
        let text = STANDARD.encode([7u8; 32]);
        let parsed = EncryptionKey::from_base64(&format!(" {text}\n")).expect("trimmed");
        assert!(!format!("{parsed:?}").contains(&text));
        assert_eq!(parsed.id().len(), 8);
    }
}
