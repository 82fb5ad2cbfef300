//! Concurrency slots of one dispatcher: a global cap and a cap per endpoint. Claims and
//! hand-offs both take a slot before a delivery is leased to this worker, so one slow
//! receiver cannot take the slots of the others, and nothing leased waits for a slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::store::deliveries::InFlight;

/// The slots of one dispatcher; cheap to share behind an `Arc`.
pub struct Slots {
    global: Arc<Semaphore>,
    per_endpoint: Arc<Mutex<HashMap<Uuid, usize>>>,
    per_endpoint_cap: usize,
}

/// A leased delivery's hold on one global slot and one slot of its endpoint, given back
/// when dropped.
pub struct Slot {
    endpoint_id: Uuid,
    per_endpoint: Arc<Mutex<HashMap<Uuid, usize>>>,
    _global: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = lock(&self.per_endpoint);
        if let Some(count) = counts.get_mut(&self.endpoint_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.endpoint_id);
            }
        }
    }
}

impl Slots {
    /// `global` slots in all, at most `per_endpoint` of them for any one endpoint.
    pub fn new(global: usize, per_endpoint: usize) -> Self {
        Slots {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_endpoint: Arc::default(),
            per_endpoint_cap: per_endpoint.max(1),
        }
    }

    /// Global slots free now.
    pub fn available(&self) -> usize {
        self.global.available_permits()
    }

    /// Takes a global slot and a slot of the endpoint, or `None` if either is full.
    pub fn take(&self, endpoint_id: Uuid) -> Option<Slot> {
        let global = Arc::clone(&self.global).try_acquire_owned().ok()?;
        let mut counts = lock(&self.per_endpoint);
        let count = counts.entry(endpoint_id).or_default();
        if *count >= self.per_endpoint_cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            endpoint_id,
            per_endpoint: Arc::clone(&self.per_endpoint),
            _global: global,
        })
    }

    /// What is in flight per endpoint, so a claim takes no more than the free slots.
    pub fn in_flight(&self) -> InFlight {
        let counts = lock(&self.per_endpoint);
        InFlight {
            endpoint_ids: counts.keys().copied().collect(),
            counts: counts
                .values()
                .map(|n| i32::try_from(*n).unwrap_or(i32::MAX))
                .collect(),
            cap: i32::try_from(self.per_endpoint_cap).unwrap_or(i32::MAX),
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_at_its_cap_gets_no_slot_but_others_do() {
        let slots = Slots::new(3, 2);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = slots.take(a).expect("slot");
        let _second = slots.take(a).expect("slot");
        assert!(slots.take(a).is_none(), "endpoint cap");
        let _third = slots.take(b).expect("slot");
        assert!(slots.take(b).is_none(), "global cap");
        drop(first);
        assert!(slots.take(a).is_some(), "freed on drop");
    }
}
