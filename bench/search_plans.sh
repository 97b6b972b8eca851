#!/usr/bin/env bash
# Seeds a scratch database with listings and bookings at scale and prints the
# query plans of the main searches (the SQL that shared::properties::search
# builds), with timings. Usage: bench/search_plans.sh [properties] [bookings_per_property]
# Writes nothing but the scratch database airbnb_plans, dropped at the end.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
ensure_postgres
PROPERTIES="${1:-100000}"
PER_PROPERTY="${2:-10}"
DB=airbnb_plans
PSQL=(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q)

"${PSQL[@]}" -d postgres -c "drop database if exists $DB" -c "create database $DB"
trap '"${PSQL[@]}" -d postgres -c "drop database if exists $DB"' EXIT
cargo build -q --locked -p api
DATABASE_URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB" "$CARGO_TARGET_DIR/debug/api" migrate >/dev/null

say "seeding $PROPERTIES properties and $((PROPERTIES * PER_PROPERTY)) bookings"
time "${PSQL[@]}" -d "$DB" <<SQL
insert into users (user_id, email, first_name, last_name, role)
select gen_random_uuid(), 'user' || g || '@example.com', 'User', 'Number' || g,
       case when g % 10 = 0 then 'host'::user_role else 'guest' end
from generate_series(1, greatest($PROPERTIES / 5, 100)) g;

create temp table hosts as select user_id, row_number() over () as n from users where role = 'host';
create temp table guests as select user_id, row_number() over () as n from users where role = 'guest';

insert into properties (host_id, name, description, address, city, country, price_per_night, cleaning_fee,
                        currency, max_guests, bedrooms, bathrooms, amenities, created_at)
select h.user_id,
       'Listing ' || g,
       (array['Cosy flat near the beach', 'Quiet cabin in the woods', 'Loft in the old town',
              'Family house with garden', 'Studio close to the station'])[1 + g % 5] || ' number ' || g,
       g || ' Main Street',
       'City' || (g % 200), 'Country' || (g % 20),
       2000 + (g * 7919) % 48000, (g * 31) % 5000, 'USD', 1 + g % 8, g % 5, 1 + g % 3,
       string_to_array((array['kitchen,wifi', 'pool,wifi', 'parking', 'kitchen,washer,wifi',
                              'gym,pool,wifi'])[1 + g % 5], ','),
       now() - make_interval(mins => g)
from generate_series(1, $PROPERTIES) g
join hosts h on h.n = 1 + g % (select count(*) from hosts);

-- Non-overlapping stays per property, spread over the coming year; a tenth cancelled.
insert into bookings (property_id, guest_id, check_in, check_out, guests, nightly_price, nightly_subtotal,
                      cleaning_fee, service_fee, total_price, currency, status, cancellation_policy, expires_at,
                      cancelled_at)
select p.property_id, gu.user_id, d.check_in, d.check_in + 3, 1,
       p.price_per_night, p.price_per_night * 3, p.cleaning_fee, (p.price_per_night * 3 * 14 + 50) / 100,
       p.price_per_night * 3 + p.cleaning_fee + (p.price_per_night * 3 * 14 + 50) / 100, 'USD',
       case when k % 10 = 0 then 'cancelled'::booking_status else 'confirmed' end, 'moderate', null,
       case when k % 10 = 0 then now() end
from (select property_id, price_per_night, cleaning_fee, row_number() over () as n from properties) p
cross join generate_series(0, $PER_PROPERTY - 1) k
cross join lateral (select current_date + (k * 30 + (p.n % 25))::int as check_in) d
join guests gu on gu.n = 1 + (p.n * 13 + k) % (select count(*) from guests);
analyze;
SQL

explain() {
  printf '\n### %s\n\n```\n' "$1"
  "${PSQL[@]}" -d "$DB" -c "explain (analyze, buffers, costs off, summary on) $2" | sed -e '/^$/d'
  printf '```\n'
}

COLUMNS="p.property_id, p.price_per_night, p.name"
AVAILABLE="not exists (select 1 from bookings b where b.property_id = p.property_id
             and b.status in ('pending', 'confirmed') and not (b.status = 'pending' and b.expires_at <= now())
             and daterange(b.check_in, b.check_out, '[)') && daterange(current_date + 40, current_date + 44, '[)'))"

explain "City, price range, guests and availability, cheapest first" \
  "select $COLUMNS from properties p where p.deleted_at is null and lower(p.city) = lower('City42')
     and p.price_per_night >= 5000 and p.price_per_night <= 30000 and p.max_guests >= 2 and $AVAILABLE
   order by p.price_per_night asc, p.property_id asc limit 21"
explain "Availability only, newest first" \
  "select $COLUMNS from properties p where p.deleted_at is null and $AVAILABLE
   order by p.created_at desc, p.property_id desc limit 21"
explain "Free text, best rated first" \
  "select $COLUMNS from properties p where p.deleted_at is null
     and p.search_document @@ websearch_to_tsquery('english', 'beach flat')
   order by coalesce(p.rating_average, 0) desc, p.property_id desc limit 21"
explain "Amenities and country, most expensive first" \
  "select $COLUMNS from properties p where p.deleted_at is null and p.amenities @> array['wifi','pool']
     and lower(p.country) = lower('Country6') order by p.price_per_night desc, p.property_id desc limit 21"
explain "Second page by price (keyset)" \
  "select $COLUMNS from properties p where p.deleted_at is null
     and (p.price_per_night, p.property_id) > (20000, '00000000-0000-0000-0000-000000000000')
   order by p.price_per_night asc, p.property_id asc limit 21"
explain "A guest's bookings, newest first" \
  "select b.booking_id from bookings b join properties p using (property_id)
   where b.guest_id = (select guest_id from bookings limit 1) order by b.created_at desc, b.booking_id desc limit 21"
