-- The outbox is a queue: every row is deleted within moments of its
-- insert. With the default thresholds (20% of the table) autovacuum would
-- leave tens of thousands of dead rows at the low end of
-- outbox_available_idx, which every relay pass walks before reaching the
-- due rows. Vacuum it after every 1,000 deleted rows instead, without the
-- cost-based pauses.
alter table outbox set (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 1000
);
