-- The relay claims due rows queue by queue, each as many as its queue in
-- Redis has room for: a queue whose workers are behind keeps its backlog
-- here, and the other queues' rows are found without reading past it.
create index outbox_queue_due_idx on outbox (queue, available_at, created_at);
drop index outbox_available_idx;

-- Rows of a queue the relay does not claim from would wait for ever:
-- only the queues that exist are accepted (see shared::jobs::QUEUES).
alter table outbox
    drop constraint outbox_queue_name,
    add constraint outbox_queue_name check (queue in ('emails', 'payments', 'bookings'));
