-- Fewer checks and index entries per webhook (issue 8). Every webhook writes a receipt, an
-- event and a delivery; each foreign key costs a lookup and a row lock per row, each index
-- an entry on insert and on every non-HOT update.

-- deliveries.tenant_id needs no foreign key of its own: its endpoint and its event both
-- cascade from the tenant, so a delivery cannot outlive it.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_tenant_id_fkey;

-- One index for both uniqueness and the lookups by event (cascades, media release),
-- instead of a unique (endpoint_id, event_id) beside a plain (event_id).
ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_endpoint_key UNIQUE (event_id, endpoint_id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_event_id_key;
DROP INDEX deliveries_event;

-- An event's receipt is written in the same transaction, so the key was only ever checked
-- against a row just inserted. Retention, which purges receipts before their events,
-- clears the reference itself (store::receipts::purge_receipts_before).
ALTER TABLE events DROP CONSTRAINT events_receipt_id_fkey;
