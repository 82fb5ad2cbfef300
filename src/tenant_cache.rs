//! Tenant credentials cached in memory for a short time, so ingest does not query the
//! database for every webhook. Entries live at most `ttl` (one second by default): a changed
//! verify token or app secret takes effect within that time on every instance, with no
//! cross-instance invalidation needed. The map is bounded; random tenant ids cannot grow it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::encryption::Keyring;
use crate::error::Result;
use crate::store::tenants::{self, TenantCredentials};

/// Most tenants kept; the cache is cleared when it would grow past this.
const MAX_ENTRIES: usize = 10_000;

/// A cached lookup: when it was made and what it found (`None` = no such tenant).
type Entry = (Instant, Option<Arc<TenantCredentials>>);

/// A short-lived cache of `credentials_of_tenant`, unknown tenants included.
pub struct TenantCache {
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl TenantCache {
    /// A cache whose entries expire after `ttl` (zero disables caching).
    pub fn new(ttl: Duration) -> Self {
        TenantCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's credentials, from memory when fresh enough, else from the database.
    pub async fn credentials(
        &self,
        pool: &PgPool,
        keys: &Keyring,
        tenant_id: Uuid,
    ) -> Result<Option<Arc<TenantCredentials>>> {
        if let Some(found) = self.fresh(tenant_id) {
            return Ok(found);
        }
        let loaded = tenants::credentials_of_tenant(pool, keys, tenant_id)
            .await?
            .map(Arc::new);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(tenant_id, (Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Drops a tenant's entry after a change made through this instance, so the change
    /// applies here at once (other instances follow within the TTL).
    pub fn forget(&self, tenant_id: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&tenant_id);
    }

    fn fresh(&self, tenant_id: Uuid) -> Option<Option<Arc<TenantCredentials>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (at, credentials) = entries.get(&tenant_id)?;
        (at.elapsed() < self.ttl).then(|| credentials.clone())
    }
}
