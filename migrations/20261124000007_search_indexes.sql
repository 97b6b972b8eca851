-- Keyset sort by rating: unrated listings sort as 0, ties broken by id, in
-- one direction so that a row comparison can seek the index.
create index properties_rating_keyset_idx on properties ((coalesce(rating_average, 0)) desc, property_id desc)
    where deleted_at is null;
drop index properties_rating_idx;

-- Descending price sort seeks the ascending index backwards; newest and
-- cheapest within a city or country have their own.
create index properties_city_newest_idx on properties (lower(city), created_at desc, property_id desc)
    where deleted_at is null;

-- Bookings of a guest or property filtered by status.
create index bookings_guest_status_idx on bookings (guest_id, status, created_at desc, booking_id desc);
