create type user_role as enum ('guest', 'host', 'admin');

create table users (
    user_id       uuid primary key default gen_random_uuid(),
    email         text not null,
    -- Argon2id PHC string; null once the account is deleted (nobody can sign in).
    password_hash text,
    first_name    text not null,
    last_name     text not null,
    phone_number  text,
    role          user_role not null default 'guest',
    -- Set when the account is deleted: personal data is overwritten, the row stays
    -- because bookings, payments and reviews of other people point at it.
    deleted_at    timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint users_email_length check (char_length(email) between 3 and 254),
    constraint users_first_name_length check (char_length(first_name) between 1 and 100),
    constraint users_last_name_length check (char_length(last_name) between 1 and 100),
    constraint users_phone_number_length check (char_length(phone_number) between 4 and 32),
    constraint users_deleted_has_no_password check (deleted_at is null or password_hash is null)
);

-- One account per address whatever its case.
create unique index users_email_key on users (lower(email));
-- Keyset pagination of the admin's user list (newest first).
create index users_created_at_idx on users (created_at desc, user_id desc);

create trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();
