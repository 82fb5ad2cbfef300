//! Where captured files are kept: a local directory, one file per capture under
//! `{root}/{tenant}/{capture id}`. Writes go to a temporary name, are synced, then renamed,
//! so a crash never leaves a half file under the final name.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// A directory of captured files.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store under `root`; directories are created on first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    /// The key of a tenant's capture: made only from ids, so it can never leave the root.
    pub fn key_for(tenant_id: Uuid, capture_id: Uuid) -> String {
        format!("{tenant_id}/{capture_id}")
    }

    fn path_of(&self, key: &str) -> io::Result<PathBuf> {
        let safe = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '/')
            && !key.starts_with('/');
        if safe {
            Ok(self.root.join(key))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad storage key",
            ))
        }
    }

    /// Stores `bytes` under `key` durably, replacing any earlier file.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path_of(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let temporary = path.with_extension(format!("part-{}", Uuid::now_v7()));
        let written = write_synced(&temporary, bytes).await;
        if let Err(err) = written {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(err);
        }
        tokio::fs::rename(&temporary, &path).await
    }

    /// Opens a stored file for reading.
    pub async fn open(&self, key: &str) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path_of(key)?).await
    }
}

async fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = tokio::fs::File::create(path).await?;
    file.write_all(bytes).await?;
    file.sync_all().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stored_file_reads_back_and_keys_cannot_escape_the_root() {
        let root = std::env::temp_dir().join(format!("switchboard-store-{}", Uuid::now_v7()));
        let store = LocalStore::new(&root);
        let key = LocalStore::key_for(Uuid::now_v7(), Uuid::now_v7());
        store.put(&key, b"hello").await.expect("put");
        let mut read = Vec::new();
        let mut file = store.open(&key).await.expect("open");
        tokio::io::AsyncReadExt::read_to_end(&mut file, &mut read)
            .await
            .expect("read");
        assert_eq!(read, b"hello");
        for bad in ["../etc/passwd", "/etc/passwd", "", "a/../../b"] {
            assert!(store.open(bad).await.is_err(), "{bad}");
        }
        let _ = tokio::fs::remove_dir_all(&root).await;
    }
}
