#!/usr/bin/env bash
# Benchmarks the API and the worker on a seeded database and prints one
# table (markdown): req/s, p50, p99, errors and the ratio to the ceiling
# per scenario, the API's peak RSS per scenario, payments and no-op jobs
# through one worker, and search cost as data grows.
#
#   bench/run.sh              100k users and listings, 1M bookings, 500k reviews
#   bench/run.sh --quick      a tenth of that (a few minutes in all)
#   options: --no-growth (skip the second, small seed), --keep (keep the
#            databases airbnb_bench and airbnb_bench_small afterwards),
#            --reuse (use airbnb_bench as it is if it exists: no seeding)
#   environment: USERS PROPERTIES BOOKINGS REVIEWS SEED (scale of the main
#            seed), SMALL_PROPERTIES (growth comparison, default 10000),
#            DURATION (per scenario, default 20s), CONNECTIONS (32),
#            THREADS (2), JOBS (no-op jobs, default 20000)
#
# Everything runs on loopback from release builds, with rate limits off;
# PostgreSQL and Redis are found or started as by scripts/run.sh. Not part
# of CI. Logs and wrk output stay in the work directory it prints.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"

QUICK=0 GROWTH=1 KEEP=0 REUSE=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-growth) GROWTH=0 ;;
    --keep) KEEP=1 ;;
    --reuse) REUSE=1; KEEP=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown option $arg (see bench/run.sh --help)" ;;
  esac
done
if [ "$QUICK" = 1 ]; then
  : "${USERS:=10000}" "${PROPERTIES:=10000}" "${BOOKINGS:=100000}" "${REVIEWS:=50000}" "${DURATION:=10s}" "${JOBS:=5000}"
fi
USERS="${USERS:-100000}" PROPERTIES="${PROPERTIES:-100000}" BOOKINGS="${BOOKINGS:-1000000}" REVIEWS="${REVIEWS:-500000}"
SEED="${SEED:-1}" DURATION="${DURATION:-20s}" CONNECTIONS="${CONNECTIONS:-32}" THREADS="${THREADS:-2}" JOBS="${JOBS:-20000}"
if [ -z "${SMALL_PROPERTIES:-}" ]; then
  SMALL_PROPERTIES=10000
  [ "$PROPERTIES" -le 10000 ] && SMALL_PROPERTIES=$((PROPERTIES / 10))
fi
PASSWORD=bench-password
TOKENS=200
DB=airbnb_bench SMALL_DB=airbnb_bench_small
NS="bench-$$"

ensure_postgres
ensure_redis
ensure_aiosmtpd
if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >/dev/null ||
    die "wrk is needed: apt-get install wrk"
fi
command -v psql >/dev/null || die "psql is needed (Debian: apt-get install postgresql-client)"
command -v curl >/dev/null || die "curl is needed (Debian: apt-get install curl)"

say "building release binaries"
cargo build --release --locked -q -p api -p worker -p stripe-standin -p seed
BIN="$CARGO_TARGET_DIR/release"

WORK="$(mktemp -d /tmp/airbnb-bench.XXXXXX)"
RESULTS="$WORK/results"
: >"$RESULTS"
say "work directory: $WORK"

psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAq -v ON_ERROR_STOP=1 "$@"; }
q() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d "$CURRENT_DB" -tAq -v ON_ERROR_STOP=1 -c "$1"; }
db_url() { echo "postgres://postgres@$PG_HOST:$PG_PORT/$1?sslmode=disable"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis() { redis-cli -p "$REDIS_PORT" "$@"; }

pids=()
AUX_PIDS=""
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  redis --scan --pattern "$NS*" | xargs -r -n 500 redis-cli -p "$REDIS_PORT" del >/dev/null 2>&1 || true
  redis zrange core:apalis:queues:list 0 -1 | grep "^$NS" | xargs -r redis-cli -p "$REDIS_PORT" zrem core:apalis:queues:list >/dev/null 2>&1 || true
  if [ "$KEEP" = 0 ]; then
    psql_admin -c "drop database if exists $DB with (force)" -c "drop database if exists $SMALL_DB with (force)" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# seed DB PROPERTIES USERS BOOKINGS REVIEWS: a fresh database, seeded; prints the seed's summary.
seed_db() {
  local db=$1
  if [ "$REUSE" = 1 ] && [ "$(psql_admin -c "select 1 from pg_database where datname = '$db'")" = 1 ]; then
    say "reusing database $db"
    return
  fi
  psql_admin -c "drop database if exists $db with (force)" -c "create database $db"
  say "seeding $db: $3 users, $2 properties, $4 bookings, $5 reviews"
  local started=$SECONDS
  "$BIN/seed" --database-url "$(db_url "$db")" --properties "$2" --users "$3" --bookings "$4" --reviews "$5" \
    --seed "$SEED" --password "$PASSWORD" | tee "$WORK/seed-$db.txt"
  echo "$((SECONDS - started))" >"$WORK/seed-$db.secs"
}

API_PORT=$(free_port) STANDIN_PORT=$(free_port) SMTP_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_NAMESPACE="$NS" API_ADDR="127.0.0.1:$API_PORT"
export SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" STRIPE_API_BASE="http://127.0.0.1:$STANDIN_PORT"
export RATE_LIMITS=off ACCESS_TOKEN_TTL_SECS=7200 RUST_LOG="${RUST_LOG:-warn}"

start_api() { # start_api DB [ENV=VALUE...]
  local db=$1; shift
  env DATABASE_URL="$(db_url "$db")" "$@" "$BIN/api" serve >>"$WORK/api.log" 2>&1 &
  API_PID=$!
  pids+=("$API_PID")
  for _ in $(seq 1 300); do
    curl -sf "$API/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "the API did not become ready (see $WORK/api.log)"
}
stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Waits until the API and the worker are idle (the jobs earlier scenarios
# caused are done: emails, charges), so that no scenario pays for another.
cpu_ticks() { # user + system clock ticks of the running API and worker
  local total=0 pid
  for pid in ${API_PID:-} ${WORKER_PID:-}; do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
quiesce() {
  local before after b0 t0 b1 t1
  for _ in $(seq 1 300); do
    before=$(cpu_ticks); read -r b0 t0 <<<"$(busy_ticks)"; sleep 1; after=$(cpu_ticks); read -r b1 t1 <<<"$(busy_ticks)"
    # With ours idle, what the machine still spends is someone else's.
    OTHERS_BUSY=$((100 * (b1 - b0) / (t1 - t0 > 0 ? t1 - t0 : 1)))
    if [ $((after - before)) -le 5 ] && [ "$(q "select count(*) from outbox where available_at <= now()")" = 0 ]; then
      return 0
    fi
  done
  say "background work still running after 5 minutes; measuring anyway"
}

# A reading of CPU ticks (1/100 s): the machine's busy total, then one
# "part pid ticks" line per process of ours (API, worker, the Stripe
# stand-in and SMTP sink, PostgreSQL and Redis processes). Processes come
# and go (other sessions' too): cat skips the vanished ones.
cpu_reading() {
  awk '$1 == "cpu" { print "busy 0", $2 + $3 + $4 + $7 + $8 }' /proc/stat
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v api="${API_PID:-0}" -v worker="${WORKER_PID:-0}" -v aux="$AUX_PIDS" '
    BEGIN { n = split(aux, a, " "); for (i = 1; i <= n; i++) helper[a[i]] = 1 }
    { part = ""
      if ($1 == api) part = "api"; else if ($1 == worker) part = "worker"; else if ($1 in helper) part = "aux"
      else if ($2 == "(postgres)") part = "pg"; else if ($2 == "(redis-server)") part = "redis"
      if (part != "") print part, $1, $14 + $15 }' || true
}
# The CPU each part used between two readings, in % of one core: only
# processes present in both count for a part; the rest of the machine's
# busy time (wrk, which has exited, and other processes) is "others".
cpu_note() { # cpu_note BEFORE AFTER SECONDS
  awk -v s="$3" '
    FNR == NR { before[$1 " " $2] = $3; next }
    ($1 " " $2) in before { d[$1] += $3 - before[$1 " " $2] }
    END {
      ours = d["api"] + d["worker"] + d["pg"] + d["redis"] + d["aux"]
      printf "CPU (%% of a core): api %.0f worker %.0f postgres %.0f redis %.0f stripe+smtp %.0f, wrk and others %.0f",
        d["api"] / s, d["worker"] / s, d["pg"] / s, d["redis"] / s, d["aux"] / s, (d["busy"] - ours) / s }
  ' <(echo "$1") <(echo "$2")
}

reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
peak_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
log_lines() { wc -l <"$WORK/worker.log"; }
# queue_latency FROM_LINE: the email jobs the worker logged after that line
# of its log, with the p50, p99 and max of their enqueue-to-start latency.
queue_latency() {
  quiesce
  tail -n +"$(($1 + 1))" "$WORK/worker.log" | { grep -o '"queued_ms":[0-9.]*' || true; } | cut -d: -f2 | sort -n |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "no email jobs logged"; exit }
      printf "%d email jobs, enqueue to start p50 %.1f ms, p99 %.1f ms, max %.1f ms", NR,
        v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1], v[NR] }'
}
# The Redis cache's hits and misses, then the terms cache's.
cache_counts() { curl -sf "$API/metrics" | awk '/^(terms_)?cache_(hits|misses)_total/ { printf "%s ", $2 }'; }

# wrk_run NAME SCRIPT DATA [DURATION]: runs one scenario and appends
# "name|req/s|p50 ms|p99 ms|errors|API peak MiB|note" to the results.
wrk_run() {
  local name=$1 script=$2 data=$3 duration=${4:-$DURATION}
  # SCRIPT may join parts with +: "book+paced" is book.lua then paced.lua.
  local part
  for part in common ${script//+/ }; do cat "bench/lua/$part.lua"; done >"$WORK/$script.lua"
  quiesce
  reset_peak "$API_PID"
  local before; before=$(cache_counts)
  local cpu_before; cpu_before=$(cpu_reading)
  local started; started=$(date +%s.%N)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --timeout 10s -s "$WORK/$script.lua" "$API" -- "$data" \
    >"$WORK/wrk-${name//[^a-zA-Z0-9]/_}.txt" 2>&1 || die "wrk failed for $name (see $WORK)"
  local line; line=$(grep '^RESULT' "$WORK/wrk-${name//[^a-zA-Z0-9]/_}.txt") || die "no result for $name"
  local after; after=$(cache_counts)
  local cpu; cpu=$(cpu_note "$cpu_before" "$(cpu_reading)" "$(awk -v t0="$started" -v t1="$(date +%s.%N)" 'BEGIN { print t1 - t0 }')")
  local note=${5:-}
  [ "${OTHERS_BUSY:-0}" -gt 10 ] && note="other processes busy ${OTHERS_BUSY}% of the CPU just before"
  read -r hits0 misses0 terms_hits0 terms_misses0 <<<"$before"
  read -r hits1 misses1 terms_hits1 terms_misses1 <<<"$after"
  local hits=$((hits1 - hits0)) misses=$((misses1 - misses0))
  if [ $((hits + misses)) -gt 0 ]; then
    note="${note:+$note; }cache hits $((100 * hits / (hits + misses)))%"
  fi
  hits=$((terms_hits1 - terms_hits0)) misses=$((terms_misses1 - terms_misses0))
  if [ $((hits + misses)) -gt 0 ]; then
    note="${note:+$note; }terms cache hits $((100 * hits / (hits + misses)))%"
  fi
  local statuses; statuses=$(sed -E 's/.*statuses=//' <<<"$line")
  echo "$line" | awk -v name="$name" -v rss="$(peak_mib "$API_PID")" -v note="$note" -v st="$statuses" -v cpu="$cpu" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      rps = v["requests"] / (v["duration_us"] / 1e6)
      printf "%s|%.0f|%.2f|%.2f|%d|%s|%s%s; %s\n", name, rps, v["p50_us"] / 1000, v["p99_us"] / 1000,
        v["non2xx"] + v["socket"], rss, (note == "" ? "" : note "; "), "statuses " st, cpu
    }' >>"$RESULTS"
  tail -n 1 "$RESULTS" >&2
}

login_token() { # login_token EMAIL
  curl -sf -X POST -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$PASSWORD\"}" "$API/auth/login" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

city_data() { # city_data FILE: each city with its lower and upper price quartile
  { echo "cities = {"
    q "select format('{%L, %s, %s},', city, percentile_disc(0.25) within group (order by price_per_night),
               percentile_disc(0.75) within group (order by price_per_night))
       from properties where deleted_at is null group by city"
    echo "}"; } >"$1"
}

# ---------------------------------------------------------------- main seed
seed_db "$DB" "$PROPERTIES" "$USERS" "$BOOKINGS" "$REVIEWS"
CURRENT_DB=$DB

say "starting the SMTP sink, the Stripe stand-in, the worker and the API"
"$AIOSMTPD_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Sink >"$WORK/smtp.log" 2>&1 &
pids+=($!)
AUX_PIDS="$!"
STANDIN_ADDR="127.0.0.1:$STANDIN_PORT" STANDIN_WEBHOOK_URL="$API/payments/webhook" \
  "$BIN/stripe-standin" >"$WORK/standin.log" 2>&1 &
pids+=($!)
AUX_PIDS="$AUX_PIDS $!"
wait_for_port "$SMTP_PORT" && wait_for_port "$STANDIN_PORT" || die "the SMTP sink or the stand-in did not start"
# The email jobs' log lines carry queued_ms: enqueue (the outbox commit) to start.
start_worker() {
  DATABASE_URL="$(db_url "$DB")" RUST_LOG="$RUST_LOG,shared::jobs=info,worker::emails=info" LOG_FORMAT=json \
    "$BIN/worker" >>"$WORK/worker.log" 2>&1 &
  WORKER_PID=$!
  pids+=("$WORKER_PID")
}
start_worker
start_api "$DB"

say "preparing request data and signing in $TOKENS guests"
{ echo "ids = {"; q "select format('%L,', property_id) from properties where deleted_at is null
                     order by md5(property_id::text) limit 1000"; echo "}"; } >"$WORK/hot.data"
{ echo "ids = {"; q "select format('%L,', property_id) from properties where deleted_at is null
                     order by md5(property_id::text || 'wide') limit 20000"; echo "}"; } >"$WORK/wide.data"
city_data "$WORK/cities.data"
GUESTS=$(q "select count(*) from users where role = 'guest'")
printf 'guests = %s\npassword = "%s"\n' "$GUESTS" "$PASSWORD" >"$WORK/login.data"
for n in $(seq 1 "$TOKENS"); do echo "$n $(login_token "guest$n@example.com")"; done >"$WORK/tokens.txt"
{ cat "$WORK/wide.data"; echo "tokens = {"; awk '{ printf "\"%s\",\n", $2 }' "$WORK/tokens.txt"; echo "}"; } >"$WORK/book.data"
HEAVY=$(q "select u.email from bookings b join users u on u.user_id = b.guest_id group by u.email order by count(*) desc, u.email limit 1")
HEAVY_COUNT=$(q "select count(*) from bookings b join users u on u.user_id = b.guest_id where u.email = '$HEAVY'")
printf 'token = "%s"\n' "$(login_token "$HEAVY")" >"$WORK/heavy.data"

say "running scenarios ($DURATION each, $CONNECTIONS connections, $THREADS wrk threads)"
wrk_run "ceiling: GET /health" health /dev/null
wrk_run "warm-up" detail "$WORK/hot.data" 5s >/dev/null 2>&1 && sed -i '$d' "$RESULTS"
wrk_run "property detail, cache on (1k hot ids)" detail "$WORK/hot.data"
wrk_run "warm-up" search "$WORK/cities.data" 5s >/dev/null 2>&1 && sed -i '$d' "$RESULTS"
wrk_run "search: city+price+guests+dates" search "$WORK/cities.data"
wrk_run "bookings list of one guest ($HEAVY_COUNT stays)" bookings_list "$WORK/heavy.data"
wrk_run "POST /auth/login" login "$WORK/login.data"

BOOK_START=$(q "select now()")
from_line=$(log_lines)
CONNECTIONS=1 THREADS=1 wrk_run "POST /bookings, 1 connection, one per 20 ms" book+paced "$WORK/book.data" 10s
QUEUE_LIGHT=$(queue_latency "$from_line")
from_line=$(log_lines)
wrk_run "POST /bookings (random far-future dates)" book "$WORK/book.data"
QUEUE_LOADED=$(queue_latency "$from_line")
# The same with the worker stopped, as with workers on other machines: the
# API, PostgreSQL and Redis. The emails wait in the outbox and go once the
# worker is back, before the next scenario.
stop_pid "$WORKER_PID"
WORKER_PID=""
wrk_run "POST /bookings, worker stopped" book "$WORK/book.data"
start_worker
OVERLAPS=$(q "select count(*) from (
    select check_in, max(check_out) over (partition by property_id order by check_in, booking_id
                                          rows between unbounded preceding and 1 preceding) as before
    from bookings where status in ('pending', 'confirmed')) t where before > check_in")
sed -i "\$s/|\([^|]*\)\$/|\1; overlapping active bookings after the bookings runs: $OVERLAPS/" "$RESULTS"

# Pay for the holds just made, each once, by their guests: the first
# 30,000, more than a scenario pays, and few enough for one Lua chunk
# (65,536 constants at most).
q "select b.booking_id, substring(u.email from '^guest([0-9]+)@') from bookings b join users u on u.user_id = b.guest_id
   where b.status = 'pending' and b.created_at >= '$BOOK_START' and b.expires_at > now() + interval '5 minutes'
   order by b.created_at limit 30000" |
  awk -F'|' 'NR == FNR { token[$1] = $2; next } ($2 in token) { printf "{\"%s\", \"%s\"},\n", $1, token[$2] }' \
    <(tr ' ' '|' <"$WORK/tokens.txt") - >"$WORK/pay.rows"
{ echo "threads_count = $THREADS"; echo "pay = {"; cat "$WORK/pay.rows"; echo "}"; } >"$WORK/pay.data"
PAY_START=$(q "select now()")
wrk_run "POST /payments (202, charge queued)" pay "$WORK/pay.data"
say "waiting for the worker to settle $(wc -l <"$WORK/pay.rows") payments"
for _ in $(seq 1 600); do
  left=$(q "select count(*) from payments where created_at >= '$PAY_START' and status in ('pending', 'processing')")
  [ "$left" = 0 ] && break
  sleep 0.5
done
q "select count(*), count(*) filter (where b.status = 'confirmed'),
          round(count(*) / extract(epoch from max(pa.created_at) - min(pa.created_at))::numeric, 0),
          round(count(*) filter (where b.status = 'confirmed')
                / extract(epoch from max(b.updated_at) - min(pa.created_at))::numeric, 0),
          round(1000 * percentile_cont(0.5) within group (order by extract(epoch from b.updated_at - pa.created_at))::numeric, 1),
          round(1000 * percentile_cont(0.99) within group (order by extract(epoch from b.updated_at - pa.created_at))::numeric, 1),
          $left
   from payments pa join bookings b using (booking_id) where pa.created_at >= '$PAY_START'" >"$WORK/payments.txt"
IFS='|' read -r PAID CONFIRMED PAY_RATE JOB_RATE E2E_P50 E2E_P99 UNSETTLED <"$WORK/payments.txt"

say "no-op jobs: $JOBS booking jobs with nothing to do, through the outbox and one worker"
DONE_KEY="$NS:bookings:done"
quiesce
done_before=$(redis scard "$DONE_KEY")
reset_peak "$WORKER_PID"
jobs_started=$(date +%s.%N)
q "insert into outbox (queue, payload)
   select 'bookings', jsonb_build_object('kind', 'expire_hold', 'booking_id', booking_id)
   from bookings where status = 'completed' limit $JOBS" >/dev/null
RELAY_SECS=""
for _ in $(seq 1 6000); do
  if [ -z "$RELAY_SECS" ] && [ "$(q "select count(*) from outbox where available_at <= now()")" = 0 ]; then
    RELAY_SECS=$(awk -v t0="$jobs_started" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }')
  fi
  [ $(( $(redis scard "$DONE_KEY") - done_before )) -ge "$JOBS" ] && break
  sleep 0.1
done
jobs_done=$(( $(redis scard "$DONE_KEY") - done_before ))
NOOP_RATE=$(awk -v n="$jobs_done" -v t0="$jobs_started" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.0f", n / (t1 - t0) }')
WORKER_RSS=$(peak_mib "$WORKER_PID")
API_RSS=$(cut -d'|' -f6 "$RESULTS" | sort -n | tail -n 1)

say "property detail with CACHE=off"
stop_pid "$API_PID"
start_api "$DB" CACHE=off
wrk_run "property detail, CACHE=off (20k ids)" detail "$WORK/wide.data"
wrk_run "search, CACHE=off" search "$WORK/cities.data"
FULL_SEARCH_P50=$(grep '^search, CACHE=off|' "$RESULTS" | cut -d'|' -f3)
stop_pid "$API_PID"

if [ "$GROWTH" = 1 ]; then
  ratio=$((PROPERTIES / SMALL_PROPERTIES))
  seed_db "$SMALL_DB" "$SMALL_PROPERTIES" $((USERS / ratio)) $((BOOKINGS / ratio)) $((REVIEWS / ratio))
  CURRENT_DB=$SMALL_DB
  start_api "$SMALL_DB" CACHE=off
  city_data "$WORK/cities-small.data"
  wrk_run "search, CACHE=off, $SMALL_PROPERTIES listings" search "$WORK/cities-small.data"
  SMALL_SEARCH_P50=$(tail -n 1 "$RESULTS" | cut -d'|' -f3)
  stop_pid "$API_PID"
fi

# ---------------------------------------------------------------- report
CEILING=$(head -n 1 "$RESULTS" | cut -d'|' -f2)
echo
echo "| scenario | req/s | p50 ms | p99 ms | errors | vs ceiling | API peak RSS MiB | notes |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
awk -F'|' -v c="$CEILING" '{ printf "| %s | %s | %s | %s | %s | %.0f%% | %s | %s |\n", $1, $2, $3, $4, $5, 100 * $2 / c, $6, $7 }' "$RESULTS"
echo
echo "- payments: $PAID accepted at $PAY_RATE/s; $CONFIRMED bookings confirmed by the worker at $JOB_RATE/s;" \
  "payment created → booking confirmed p50 $E2E_P50 ms, p99 $E2E_P99 ms; unsettled after the wait: $UNSETTLED"
echo "- no-op jobs (outbox → Redis → one worker, concurrency ${WORKER_CONCURRENCY:-16}): $jobs_done of $JOBS in" \
  "$(awk -v n="$jobs_done" -v r="$NOOP_RATE" 'BEGIN { printf "%.1f", (r > 0 ? n / r : 0) }') s = $NOOP_RATE jobs/s" \
  "(the last of them left the outbox after ${RELAY_SECS:-?} s: the relays push as the worker makes room)"
echo "- job pickup, POST /bookings at 1 connection, one per 20 ms: $QUEUE_LIGHT"
echo "- job pickup, POST /bookings at $CONNECTIONS connections (the worker behind): $QUEUE_LOADED"
echo "- peak RSS: API $API_RSS MiB (highest of the cache-on scenarios), worker $WORKER_RSS MiB"
if [ "$GROWTH" = 1 ]; then
  echo "- search p50 (CACHE=off): $SMALL_SEARCH_P50 ms at $SMALL_PROPERTIES listings, $FULL_SEARCH_P50 ms at $PROPERTIES" \
    "($(awk -v a="$FULL_SEARCH_P50" -v b="$SMALL_SEARCH_P50" 'BEGIN { printf "%.2f", a / b }')×)"
fi
for f in "$WORK"/seed-*.secs; do
  [ -e "$f" ] && echo "- seed $(basename "$f" .secs | sed 's/^seed-//'): $(cat "${f%.secs}.txt") (wall $(cat "$f") s)"
done
echo "- scale: $USERS users, $PROPERTIES properties, $BOOKINGS bookings, $REVIEWS reviews (seed $SEED);" \
  "$CONNECTIONS connections, $THREADS wrk threads, $DURATION per scenario"
