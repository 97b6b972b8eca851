create type payment_status as enum (
    'pending', 'processing', 'succeeded', 'failed', 'partially_refunded', 'refunded'
);

create table payments (
    payment_id         uuid primary key default gen_random_uuid(),
    booking_id         uuid not null references bookings (booking_id),
    amount             bigint not null,
    currency           char(3) not null,
    status             payment_status not null default 'pending',
    refunded_amount    bigint not null default 0,
    payment_method     text,
    -- Stripe PaymentIntent id once one exists.
    provider_reference text,
    failure_reason     text,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint payments_amount_positive check (amount > 0),
    constraint payments_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint payments_refunded_range check (refunded_amount between 0 and amount),
    constraint payments_failure_reason_length check (char_length(failure_reason) <= 1000)
);

-- At most one payment in flight or done per booking; a failed one may be retried.
create unique index payments_one_live_per_booking on payments (booking_id) where status <> 'failed';
create unique index payments_provider_reference_key on payments (provider_reference);
create index payments_booking_idx on payments (booking_id, created_at desc);

-- A payment's state moves forward only, and payments are never deleted.
create or replace function payments_check_status() returns trigger
language plpgsql as $$
begin
    if new.status <> old.status and not (
        (old.status = 'pending' and new.status in ('processing', 'succeeded', 'failed'))
        or (old.status = 'processing' and new.status in ('succeeded', 'failed'))
        or (old.status = 'succeeded' and new.status in ('partially_refunded', 'refunded'))
        or (old.status = 'partially_refunded' and new.status = 'refunded')
    ) then
        raise exception 'payment status cannot change from % to %', old.status, new.status
            using errcode = 'check_violation', constraint = 'payments_status_transition',
                  table = 'payments';
    end if;
    if new.amount <> old.amount or new.currency <> old.currency or new.booking_id <> old.booking_id then
        raise exception 'a payment''s booking, amount and currency are fixed'
            using errcode = 'check_violation', constraint = 'payments_immutable_terms',
                  table = 'payments';
    end if;
    return new;
end;
$$;

create trigger payments_status_transition before update on payments
    for each row execute function payments_check_status();

create or replace function payments_refuse_delete() returns trigger
language plpgsql as $$
begin
    raise exception 'payments are never deleted'
        using errcode = 'restrict_violation', constraint = 'payments_never_deleted',
              table = 'payments';
end;
$$;

create trigger payments_never_deleted before delete on payments
    for each row execute function payments_refuse_delete();

create trigger payments_set_updated_at before update on payments
    for each row execute function set_updated_at();

create table reviews (
    review_id   uuid primary key default gen_random_uuid(),
    property_id uuid not null references properties (property_id),
    booking_id  uuid not null,
    author_id   uuid not null references users (user_id),
    rating      smallint not null,
    comment     text not null default '',
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint reviews_rating_range check (rating between 1 and 5),
    constraint reviews_comment_length check (char_length(comment) <= 5000),
    constraint reviews_one_per_booking unique (booking_id),
    -- The author is the booking's guest, and the property is the booking's property.
    constraint reviews_booking_stay_fkey foreign key (booking_id, author_id, property_id)
        references bookings (booking_id, guest_id, property_id)
);

create index reviews_property_idx on reviews (property_id, created_at desc, review_id desc);
create index reviews_author_idx on reviews (author_id, created_at desc, review_id desc);

create trigger reviews_set_updated_at before update on reviews
    for each row execute function set_updated_at();
