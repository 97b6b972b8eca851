create type booking_status as enum ('pending', 'confirmed', 'completed', 'cancelled', 'expired');

create table bookings (
    booking_id          uuid primary key default gen_random_uuid(),
    property_id         uuid not null references properties (property_id),
    guest_id            uuid not null references users (user_id),
    check_in            date not null,
    check_out           date not null,
    guests              integer not null,
    nights              integer generated always as (check_out - check_in) stored,
    -- Price breakdown, computed by the server at booking time, in minor units.
    nightly_price       bigint not null,
    nightly_subtotal    bigint not null,
    cleaning_fee        bigint not null,
    service_fee         bigint not null,
    total_price         bigint not null,
    currency            char(3) not null,
    status              booking_status not null default 'pending',
    -- Snapshot of the property's policy when the booking was made.
    cancellation_policy cancellation_policy not null,
    -- Unpaid hold expiry; null once the booking leaves `pending`.
    expires_at          timestamptz,
    cancelled_at        timestamptz,
    cancelled_by        uuid references users (user_id),
    -- Refund the cancellation policy grants, recorded at cancellation.
    refund_amount       bigint,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint bookings_dates_order check (check_out > check_in),
    constraint bookings_guests_positive check (guests >= 1),
    constraint bookings_nightly_price_positive check (nightly_price > 0),
    constraint bookings_subtotal_matches check (nightly_subtotal = nightly_price * (check_out - check_in)),
    constraint bookings_fees_nonnegative check (cleaning_fee >= 0 and service_fee >= 0),
    constraint bookings_total_matches check (total_price = nightly_subtotal + cleaning_fee + service_fee),
    constraint bookings_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint bookings_refund_range check (refund_amount between 0 and total_price),
    constraint bookings_cancellation_recorded check ((status = 'cancelled') = (cancelled_at is not null)),
    -- Lets reviews prove, by foreign key, that their author stayed at their property.
    constraint bookings_stay_key unique (booking_id, guest_id, property_id),
    -- The double-booking guard: two holding bookings of one property never share a night.
    constraint bookings_no_overlap exclude using gist (
        property_id with =,
        daterange(check_in, check_out, '[)') with &&
    ) where (status in ('pending', 'confirmed'))
);

create index bookings_guest_idx on bookings (guest_id, created_at desc, booking_id desc);
create index bookings_property_idx on bookings (property_id, created_at desc, booking_id desc);
create index bookings_pending_expiry_idx on bookings (expires_at) where status = 'pending';
create index bookings_confirmed_checkout_idx on bookings (check_out) where status = 'confirmed';

-- A booking may not hold more guests than its property takes; the limit lives on
-- another table, so a check constraint cannot say it.
create or replace function bookings_check_guests() returns trigger
language plpgsql as $$
declare
    limit_guests integer;
begin
    select max_guests into limit_guests from properties where property_id = new.property_id;
    if new.guests > limit_guests then
        raise exception 'booking for % guests exceeds the property maximum of %', new.guests, limit_guests
            using errcode = 'check_violation', constraint = 'bookings_guests_within_max',
                  table = 'bookings';
    end if;
    return new;
end;
$$;

create trigger bookings_guests_within_max before insert or update of guests, property_id on bookings
    for each row execute function bookings_check_guests();

-- Bookings move forward only: pending -> confirmed | cancelled | expired,
-- confirmed -> completed | cancelled. Ended bookings never change state again.
create or replace function bookings_check_status() returns trigger
language plpgsql as $$
begin
    if new.status <> old.status and not (
        (old.status = 'pending' and new.status in ('confirmed', 'cancelled', 'expired'))
        or (old.status = 'confirmed' and new.status in ('completed', 'cancelled'))
    ) then
        raise exception 'booking status cannot change from % to %', old.status, new.status
            using errcode = 'check_violation', constraint = 'bookings_status_transition',
                  table = 'bookings';
    end if;
    return new;
end;
$$;

create trigger bookings_status_transition before update of status on bookings
    for each row execute function bookings_check_status();

create trigger bookings_set_updated_at before update on bookings
    for each row execute function set_updated_at();
