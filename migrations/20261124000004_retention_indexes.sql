-- Retention purges old rows by age in small batches; these indexes keep each batch an
-- index range scan instead of a sequential scan of the whole table.
CREATE INDEX receipts_received ON receipts (received_at);
CREATE INDEX events_created ON events (created_at);
-- attempts (started_at) is indexed by 20261124000003_stats_indexes.sql.
-- Deleting a receipt sets events.receipt_id to NULL: without this index every deleted
-- receipt would scan all events.
CREATE INDEX events_receipt ON events (receipt_id);
