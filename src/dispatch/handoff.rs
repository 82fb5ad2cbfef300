//! Hand-off from ingest to the local dispatcher. A delivery queued by this instance while
//! its dispatcher has a free slot is written already leased to it, and handed over in
//! memory after the commit: it skips the NOTIFY, the claim query and its UPDATE, which were
//! a third of the database's work per webhook and most of the forwarding latency. The row
//! is still the outbox: if this process dies, the lease runs out and any instance takes it.
//!
//! Hand-offs stop as soon as one delivery could not get a slot and resume only once a claim
//! has emptied the queue, so new events never overtake a backlog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::slots::{lock, Slot, Slots};
use crate::config::DispatchArgs;
use crate::store::deliveries::Claimed;

/// A delivery leased to this worker, with the slot it holds.
pub struct Leased {
    pub delivery: Claimed,
    pub slot: Slot,
}

/// Shared by the persister (which reserves and hands over) and the dispatcher (which runs
/// what it is handed); inert until a dispatcher attaches.
pub struct Handoff {
    slots: Slots,
    lease: Duration,
    sender: Mutex<Option<mpsc::UnboundedSender<Leased>>>,
    /// Due deliveries wait in the table: new ones must queue behind them.
    backlog: AtomicBool,
}

impl Handoff {
    /// Slots and lease as the dispatcher settings say.
    pub fn new(settings: &DispatchArgs) -> Self {
        Handoff {
            slots: Slots::new(settings.max_in_flight, settings.max_in_flight_per_endpoint),
            lease: settings.lease,
            sender: Mutex::new(None),
            backlog: AtomicBool::new(false),
        }
    }

    /// The slots, shared with the dispatcher's claims.
    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    /// How long a handed-off delivery is leased for.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// A slot for a delivery about to be queued to `endpoint_id`, if a dispatcher runs here,
    /// nothing older is waiting and the endpoint has room. A refusal marks a backlog.
    pub fn reserve(&self, endpoint_id: Uuid) -> Option<Slot> {
        if self.backlog.load(Ordering::Relaxed) || lock(&self.sender).is_none() {
            return None;
        }
        let slot = self.slots.take(endpoint_id);
        if slot.is_none() {
            self.backlog.store(true, Ordering::Relaxed);
        }
        slot
    }

    /// Passes committed, leased deliveries to the dispatcher. Returns those it could not
    /// take (it stopped meanwhile), whose leases the caller must give back.
    pub fn hand_over(&self, leased: Vec<Leased>) -> Vec<Leased> {
        let sender = lock(&self.sender);
        let Some(sender) = sender.as_ref() else {
            return leased;
        };
        let mut refused = Vec::new();
        for item in leased {
            if let Err(mpsc::error::SendError(item)) = sender.send(item) {
                refused.push(item);
            }
        }
        refused
    }

    /// True while due deliveries wait in the table (a reservation was refused, or the last
    /// claim filled every free slot).
    pub fn backlog(&self) -> bool {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Records whether the last claim found the queue empty (fewer due than it asked for).
    pub fn set_backlog(&self, backlog: bool) {
        self.backlog.store(backlog, Ordering::Relaxed);
    }

    /// Starts accepting hand-offs; the receiver is the dispatcher's. The queue needs no
    /// bound of its own: every item in it holds one of the dispatcher's slots.
    pub fn attach(&self) -> mpsc::UnboundedReceiver<Leased> {
        let (sender, receiver) = mpsc::unbounded_channel();
        *lock(&self.sender) = Some(sender);
        receiver
    }

    /// Stops accepting hand-offs (the dispatcher is stopping).
    pub fn detach(&self) {
        *lock(&self.sender) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(slots: usize) -> DispatchArgs {
        DispatchArgs {
            max_in_flight: slots,
            max_in_flight_per_endpoint: slots,
            ..DispatchArgs::default()
        }
    }

    fn leased(handoff: &Handoff, endpoint_id: Uuid) -> Leased {
        Leased {
            delivery: Claimed {
                id: Uuid::now_v7(),
                tenant_id: Uuid::now_v7(),
                endpoint_id,
                event_id: Uuid::now_v7(),
                attempt_count: 0,
                lease_token: Uuid::now_v7(),
                endpoint_failures: 0,
                url: "http://127.0.0.1:9/".to_owned(),
                secret: "whsec_x".to_owned(),
                previous_secret: None,
                payload: "{}".to_owned(),
            },
            slot: handoff.reserve(endpoint_id).expect("slot"),
        }
    }

    #[test]
    fn nothing_is_reserved_without_a_dispatcher() {
        let handoff = Handoff::new(&settings(4));
        assert!(handoff.reserve(Uuid::now_v7()).is_none());
    }

    #[test]
    fn once_a_delivery_waits_in_the_table_new_ones_queue_behind_it() {
        let handoff = Handoff::new(&settings(1));
        let _receiver = handoff.attach();
        let (busy, idle) = (Uuid::now_v7(), Uuid::now_v7());
        let first = handoff.reserve(busy).expect("free slot");
        assert!(handoff.reserve(busy).is_none(), "no slot left");
        drop(first);
        assert!(
            handoff.reserve(idle).is_none(),
            "a slot is free, but the refused delivery came first"
        );
        handoff.set_backlog(false);
        assert!(handoff.reserve(idle).is_some(), "the claim caught up");
    }

    #[test]
    fn what_a_stopped_dispatcher_cannot_take_comes_back() {
        let handoff = Handoff::new(&settings(2));
        let mut receiver = handoff.attach();
        let taken = leased(&handoff, Uuid::now_v7());
        assert!(handoff.hand_over(vec![taken]).is_empty());
        assert!(receiver.try_recv().is_ok());
        let late = leased(&handoff, Uuid::now_v7());
        handoff.detach();
        assert_eq!(handoff.hand_over(vec![late]).len(), 1);
        assert!(handoff.reserve(Uuid::now_v7()).is_none());
    }
}
