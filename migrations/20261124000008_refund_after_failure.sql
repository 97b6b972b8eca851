-- A payment marked failed because Stripe could not be reached may turn out
-- to have been charged (Stripe's webhook says so later): the money goes
-- back, so failed -> refunded becomes a legal move. Nothing else changes.
create or replace function payments_check_status() returns trigger
language plpgsql as $$
begin
    if new.status <> old.status and not (
        (old.status = 'pending' and new.status in ('processing', 'succeeded', 'failed'))
        or (old.status = 'processing' and new.status in ('succeeded', 'failed'))
        or (old.status = 'succeeded' and new.status in ('partially_refunded', 'refunded'))
        or (old.status = 'partially_refunded' and new.status = 'refunded')
        or (old.status = 'failed' and new.status = 'refunded')
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
