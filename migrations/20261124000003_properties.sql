create type cancellation_policy as enum ('flexible', 'moderate', 'strict');

create table properties (
    property_id         uuid primary key default gen_random_uuid(),
    host_id             uuid not null references users (user_id),
    name                text not null,
    description         text not null default '',
    address             text not null,
    city                text not null,
    country             text not null,
    latitude            double precision,
    longitude           double precision,
    -- Money in minor units of `currency`.
    price_per_night     bigint not null,
    cleaning_fee        bigint not null default 0,
    currency            char(3) not null,
    max_guests          integer not null,
    bedrooms            integer not null default 0,
    bathrooms           integer not null default 0,
    amenities           text[] not null default '{}',
    photos              text[] not null default '{}',
    cancellation_policy cancellation_policy not null default 'moderate',
    -- Review aggregate kept by the review writes, so lists never aggregate.
    rating_sum          bigint not null default 0,
    review_count        integer not null default 0,
    rating_average      numeric(3, 2) generated always as (
        case when review_count > 0 then round(rating_sum::numeric / review_count, 2) end
    ) stored,
    search_document     tsvector generated always as (
        to_tsvector('english', name || ' ' || description)
    ) stored,
    -- A deactivated listing keeps its history readable but leaves search.
    deleted_at          timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint properties_name_length check (char_length(name) between 1 and 200),
    constraint properties_description_length check (char_length(description) <= 10000),
    constraint properties_address_length check (char_length(address) between 1 and 500),
    constraint properties_city_length check (char_length(city) between 1 and 100),
    constraint properties_country_length check (char_length(country) between 2 and 100),
    constraint properties_latitude_range check (latitude between -90 and 90),
    constraint properties_longitude_range check (longitude between -180 and 180),
    constraint properties_price_per_night_positive check (price_per_night > 0),
    constraint properties_cleaning_fee_nonnegative check (cleaning_fee >= 0),
    constraint properties_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint properties_max_guests_range check (max_guests between 1 and 100),
    constraint properties_bedrooms_range check (bedrooms between 0 and 100),
    constraint properties_bathrooms_range check (bathrooms between 0 and 100),
    constraint properties_review_count_nonnegative check (review_count >= 0),
    constraint properties_rating_sum_range check (rating_sum between review_count and 5 * review_count)
);

create index properties_host_idx on properties (host_id, created_at desc, property_id desc);
create index properties_city_price_idx on properties (lower(city), price_per_night, property_id)
    where deleted_at is null;
create index properties_country_price_idx on properties (lower(country), price_per_night, property_id)
    where deleted_at is null;
create index properties_price_idx on properties (price_per_night, property_id)
    where deleted_at is null;
create index properties_newest_idx on properties (created_at desc, property_id desc)
    where deleted_at is null;
create index properties_rating_idx on properties (rating_average desc nulls last, property_id)
    where deleted_at is null;
create index properties_amenities_idx on properties using gin (amenities)
    where deleted_at is null;
create index properties_search_idx on properties using gin (search_document)
    where deleted_at is null;

create trigger properties_set_updated_at before update on properties
    for each row execute function set_updated_at();
