-- Transactional outbox: a job is written in the same transaction as the business
-- change that causes it; a relay moves rows onto their Redis queue and deletes them.
-- Rows survive a Redis outage or a crash between commit and push.
create table outbox (
    outbox_id    uuid primary key default gen_random_uuid(),
    queue        text not null,
    payload      jsonb not null,
    -- Request that caused the job, carried into the job's span.
    request_id   text,
    attempts     integer not null default 0,
    last_error   text,
    available_at timestamptz not null default now(),
    created_at   timestamptz not null default now(),
    constraint outbox_queue_name check (queue ~ '^[a-z_]+$')
);

create index outbox_available_idx on outbox (available_at, created_at);

-- Replay store for client retries of writes (Idempotency-Key header).
create table idempotency_keys (
    user_id          uuid not null references users (user_id),
    idempotency_key  text not null,
    -- Hash of method, path and body: the same key with another request is refused.
    request_hash     text not null,
    response_status  smallint,
    response_body    bytea,
    created_at       timestamptz not null default now(),
    primary key (user_id, idempotency_key),
    constraint idempotency_keys_key_length check (char_length(idempotency_key) between 1 and 255)
);

create index idempotency_keys_created_at_idx on idempotency_keys (created_at);

-- Stripe webhook events applied, by event id: a redelivered event is acknowledged
-- and ignored.
create table processed_webhook_events (
    event_id    text primary key,
    event_type  text not null,
    received_at timestamptz not null default now()
);

-- Emails handed to the SMTP server, by the event they announce, so that a job that
-- runs twice does not mail twice.
create table sent_emails (
    dedup_key  text primary key,
    recipient  text not null,
    template   text not null,
    sent_at    timestamptz not null default now()
);
