-- Statistics over a time window read attempts by start time; without this index every
-- stats request would scan the whole attempt log.
CREATE INDEX attempts_started ON attempts (started_at);
