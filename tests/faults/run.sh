#!/usr/bin/env bash
# Fault injection against the real binaries (api, worker, stripe-standin) as separate
# processes, with a real SMTP server, PostgreSQL and Redis:
#
#   kill      a worker is SIGKILLed while Stripe runs its charge; a restarted worker takes
#             the job over: one charge at the stand-in, the booking confirmed, mails once.
#   redis     Redis (a private redis-server) stops for 10 s while registrations, bookings and
#             reads arrive: every request is answered 2xx, and every job runs once after.
#   postgres  PostgreSQL (a private cluster) stops for 10 s under load: every request is
#             answered within 10 s, 2xx or a 503 problem+json that says the database is
#             unavailable, and the API and the worker recover by themselves; every accepted
#             write is mailed (an email whose record the shutdown cut off is sent again under
#             its Message-ID, at most 16).
#   scale     two API processes and three workers, 500 bookings paid at once: each charged
#             exactly once, each booking confirmed, each email sent exactly once.
#
# Usage: tests/faults/run.sh [kill] [redis] [postgres] [scale]   (all four by default)
# Everything it starts (processes, the private servers, databases, Redis keys, temporary
# files) is removed on exit, failed or not; FAULTS_KEEP=1 keeps the logs and files.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(kill redis postgres scale)
for scenario in "${SCENARIOS[@]}"; do
  case "$scenario" in
    kill | redis | postgres | scale) ;;
    *) die "unknown scenario $scenario (kill, redis, postgres, scale)" ;;
  esac
done

ensure_postgres
ensure_redis
ensure_aiosmtpd
command -v python3 >/dev/null || die "python3 is needed (Debian: apt-get install python3)"
command -v psql >/dev/null || die "psql is needed (Debian: apt-get install postgresql-client)"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  die "redis-server and redis-cli are needed for a private Redis (Debian: apt-get install redis-server)"
fi
PG_BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
[ -x "$PG_BIN/initdb" ] || PG_BIN=$(dirname "$(command -v initdb || echo /nonexistent/initdb)")
[ -x "$PG_BIN/initdb" ] || die "initdb is needed for a private PostgreSQL (Debian: apt-get install postgresql)"
# PostgreSQL refuses to run as root: use its own account then.
AS_PG=()
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); fi

say "building api, worker and the Stripe stand-in"
cargo build --locked -q -p api -p worker -p stripe-standin
BIN="$CARGO_TARGET_DIR/debug"
DRIVE=(python3 -B "$ROOT/tests/faults/drive.py")

RUN=$(python3 -c 'import uuid; print(uuid.uuid4().hex[:10])')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/airbnb-faults.XXXXXX")
chmod 0755 "$WORK" # the private PostgreSQL, run as postgres, writes under it
mkdir -p "$WORK/logs"
ADMIN_URL="${TEST_DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres}"
SHARED_REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"
STARTED=$(date +%s)

# --- bookkeeping, so that everything goes away on exit --------------------------------

declare -A PID=()  # name → pid of every process started here and still running
DATABASES=()       # on the shared PostgreSQL
NAMESPACES=()      # on the shared Redis
PRIVATE_PG=""      # data directory of the private cluster, while it may run
FIGURES=()

now() { date +%s.%N; }

seconds_between() { python3 -c "print(f'{$(cat "$2") - $(cat "$1"):.1f}')"; } # FILE FILE, each holding a now

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME COMMAND…: in the background, output in $WORK/logs/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$WORK/logs/$name.log" 2>&1 &
  PID[$name]=$!
}

# finish NAME: waits for it to exit by itself; its log is shown when it failed.
finish() {
  local name=$1 status=0
  wait "${PID[$name]}" || status=$?
  unset "PID[$name]"
  cat "$WORK/logs/$name.log"
  [ "$status" = 0 ] || die "$name failed"
}

alive() { # PID…: true while any of them runs
  local pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

# stop SIGNAL NAME…: signals them, waits up to 15 s for them to go, then SIGKILLs what is
# left. Disowned first, so that bash does not report the signal that ended them.
stop() {
  local signal=$1 name pids=()
  shift
  for name in "$@"; do
    [ -n "${PID[$name]:-}" ] || continue
    pids+=("${PID[$name]}")
    unset "PID[$name]"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  disown "${pids[@]}" 2>/dev/null || true
  kill "-$signal" "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 150); do
    alive "${pids[@]}" || break
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# Stops every process started here: clients first (load, APIs, workers), then the
# servers they use.
stop_all() {
  local name clients=()
  for name in "${!PID[@]}"; do
    case "$name" in redis | standin | mail-*) ;; *) clients+=("$name") ;; esac
  done
  stop TERM "${clients[@]}"
  stop TERM "${!PID[@]}"
}

wait_listening() { # NAME PORT: until the port answers, or fail with the process's log
  local name=$1 port=$2
  for _ in $(seq 1 300); do
    listening "$port" && return 0
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      tail -n 20 "$WORK/logs/$name.log" >&2
      die "$name exited at start"
    fi
    sleep 0.1
  done
  die "$name is not listening on $port after 30 s"
}

pg_private() { # pg_ctl on the private cluster, as its owner
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PRIVATE_PG" -l "$WORK/logs/postgres.log" -w -t 30 "$@" >/dev/null
}

cleanup() {
  local status=$?
  trap '' INT TERM # cleaning up is not to be cut short
  set +e
  stop_all
  if [ -n "$PRIVATE_PG" ] && [ -f "$PRIVATE_PG/postmaster.pid" ]; then pg_private stop -m immediate; fi
  for db in "${DATABASES[@]}"; do
    psql "$ADMIN_URL" -XqAt -c "drop database if exists $db with (force)" >/dev/null 2>&1
  done
  for ns in "${NAMESPACES[@]}"; do
    redis-cli -u "$SHARED_REDIS" --scan --pattern "$ns:*" |
      xargs -r -n 500 redis-cli -u "$SHARED_REDIS" del >/dev/null
    redis-cli -u "$SHARED_REDIS" zrange core:apalis:queues:list 0 -1 | grep "^$ns:" |
      xargs -r redis-cli -u "$SHARED_REDIS" zrem core:apalis:queues:list >/dev/null
  done
  if [ "$status" != 0 ]; then
    for log in "$WORK"/logs/*.log; do
      [ -s "$log" ] || continue
      printf '\n--- last lines of %s\n' "$(basename "$log")" >&2
      tail -n 15 "$log" >&2
    done
    printf '\nfault injection FAILED (status %s)\n' "$status" >&2
  fi
  if [ "${FAULTS_KEEP:-}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the pieces of a scenario ----------------------------------------------------------

new_database() { # NAME on the shared PostgreSQL; sets DB to its URL
  psql "$ADMIN_URL" -XqAt -c "create database $1" >/dev/null
  DATABASES+=("$1")
  DB="${ADMIN_URL%/*}/$1"
}

new_namespace() { NAMESPACES+=("$1"); }

start_smtp() { # NAME: an aiosmtpd catcher writing $WORK/NAME (Maildir); sets SMTP_PORT
  SMTP_PORT=$(free_port)
  start "$1" "$AIOSMTPD_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox \
    "$WORK/$1"
  wait_listening "$1" "$SMTP_PORT"
  MAILDIR="$WORK/$1"
}

start_standin() { # [WEBHOOK_URL]: sets STANDIN
  local port
  port=$(free_port)
  start standin env STANDIN_ADDR="127.0.0.1:$port" STANDIN_WEBHOOK_URL="${1:-}" \
    STANDIN_WEBHOOK_SECRET=whsec_faults_secret RUST_LOG=warn "$BIN/stripe-standin"
  wait_listening standin "$port"
  STANDIN="http://127.0.0.1:$port"
}

# The environment of every API and worker process of a scenario: its database, Redis and
# namespace, mail and Stripe; no rate limits; quick polls and heartbeats (a worker silent
# for 3 s has its jobs taken over), quick retries.
app_env() { # DATABASE_URL REDIS_URL NAMESPACE; sets PROC_ENV
  PROC_ENV=(APP_ENV=local DATABASE_URL="$1" REDIS_URL="$2" REDIS_NAMESPACE="$3"
    SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" STRIPE_API_BASE="${STANDIN:-http://127.0.0.1:9}"
    STRIPE_SECRET_KEY=sk_test_faults STRIPE_WEBHOOK_SECRET=whsec_faults_secret RATE_LIMITS=off
    WORKER_HEARTBEAT_SECS=1 QUEUE_POLL_INTERVAL_MS=50 JOB_RETRY_BASE_MS=200 OUTBOX_POLL_INTERVAL_MS=250
    RUST_LOG=info LOG_FORMAT=text NO_COLOR=1)
}

start_api() { # NAME PORT
  start "$1" env "${PROC_ENV[@]}" API_ADDR="127.0.0.1:$2" "$BIN/api" serve
  wait_listening "$1" "$2"
}

start_worker() { start "$1" env "${PROC_ENV[@]}" "$BIN/worker"; }

# start_api_worker_and_listings TAG STATE: an API and a worker on PROC_ENV, and 2 hosts,
# 10 guests and 40 listings (no bookings yet) written to STATE; sets API to its URL.
start_api_worker_and_listings() {
  local port
  port=$(free_port)
  API="http://127.0.0.1:$port"
  start_api api "$port"
  start_worker worker
  "${DRIVE[@]}" market --api "$API" --tag "$1" --hosts 2 --guests 10 --listings 40 --no-bookings --out "$2"
}

# start_load API STATE RESULTS OPS: a thread per operation (comma-separated) sends it again
# and again until stop_load; every request and its answer go to RESULTS.
start_load() {
  rm -f "$WORK/stop-load"
  start load "${DRIVE[@]}" load --api "$1" --state "$2" --out "$3" --ops "$4" --stop-file "$WORK/stop-load"
}

stop_load() {
  touch "$WORK/stop-load"
  finish load
}

figure() { FIGURES+=("$*"); }

# --- 1. a worker SIGKILLed mid-payment ---------------------------------------------------

scenario_kill() {
  say "kill: a worker SIGKILLed while Stripe runs its charge"
  local db port api state=$WORK/kill.json
  STANDIN=""
  new_database "faults_${RUN}_kill"
  db=$DB
  new_namespace "faults-$RUN-kill"
  start_smtp mail-kill
  # No webhook: only the job run again by the next worker can settle this payment.
  start_standin ""
  app_env "$db" "$SHARED_REDIS" "faults-$RUN-kill"
  port=$(free_port)
  api="http://127.0.0.1:$port"
  start_api api "$port"
  "${DRIVE[@]}" market --api "$api" --tag "$RUN-k" --out "$state"
  start_worker worker-doomed
  # The charge acts at once and answers 3 s later: the card is charged, the worker has
  # not heard of it yet when it dies.
  "${DRIVE[@]}" arm --standin "$STANDIN" 'delay_next?ms=3000&count=1'
  "${DRIVE[@]}" pay --api "$api" --state "$state"
  "${DRIVE[@]}" wait-intent --standin "$STANDIN"
  local killed
  killed=$(now)
  stop KILL worker-doomed
  local recorded
  recorded=$(psql "$db" -XqAt -c "select status || ' ' || coalesce(provider_reference, '-') from payments")
  [ "$recorded" = "processing -" ] ||
    die "the payment should be processing and unrecorded at the kill, not: $recorded"
  say "kill: worker killed mid-charge (payment: $recorded); starting another"
  start_worker worker-rescuer
  "${DRIVE[@]}" settle --state "$state" --db "$db" --standin "$STANDIN" --since "$killed" \
    --figure "$WORK/takeover"
  "${DRIVE[@]}" mail --maildir "$MAILDIR" --state "$state" --db "$db"
  figure "kill: the charge of the killed worker settled $(cat "$WORK/takeover") s after SIGKILL" \
    "(a new worker took the job over); 1 PaymentIntent, 1 charge, booking confirmed, 7 emails once"
  stop_all
}

# --- 2. Redis away for 10 s -------------------------------------------------------------

start_private_redis() { # sets PRIVATE_REDIS_PORT
  mkdir -p "$WORK/redis"
  PRIVATE_REDIS_PORT=${PRIVATE_REDIS_PORT:-$(free_port)}
  # Persistence on, as a production Redis has it: a stop and a start keep the queues.
  start redis redis-server --bind 127.0.0.1 --port "$PRIVATE_REDIS_PORT" --save "" --appendonly yes \
    --dir "$WORK/redis"
  wait_listening redis "$PRIVATE_REDIS_PORT"
}

scenario_redis() {
  say "redis: Redis stopped for 10 s while registrations, bookings and reads arrive"
  local db api state=$WORK/redis.json results=$WORK/redis-load.json
  STANDIN=""
  new_database "faults_${RUN}_redis"
  db=$DB
  start_private_redis
  local redis="redis://127.0.0.1:$PRIVATE_REDIS_PORT"
  start_smtp mail-redis
  app_env "$db" "$redis" "faults-$RUN-redis"
  start_api_worker_and_listings "$RUN-r" "$state"
  api=$API
  start_load "$api" "$state" "$results" register,book,book,search,detail,me
  sleep 3
  now >"$WORK/redis-down"
  stop TERM redis
  sleep 10
  local waiting
  waiting=$(psql "$db" -XqAt -c "select count(*) from outbox where queue = 'emails'")
  start_private_redis
  now >"$WORK/redis-up"
  say "redis: back after $(seconds_between "$WORK/redis-down" "$WORK/redis-up") s;" \
    "$waiting email jobs waited in the outbox"
  sleep 4
  stop_load
  "${DRIVE[@]}" redis-outage --results "$results" --down "$WORK/redis-down" --up "$WORK/redis-up" \
    --ops register,book,search,detail,me --figure "$WORK/redis-figure"
  [ "$waiting" -gt 0 ] || die "no email job waited in the outbox while Redis was down"
  "${DRIVE[@]}" mail --maildir "$MAILDIR" --state "$state" --results "$results" --db "$db"
  figure "redis: $(cat "$WORK/redis-figure"); $waiting email jobs held in the outbox, all mailed once after"
  stop_all
}

# --- 3. PostgreSQL away for 10 s ----------------------------------------------------------

start_private_postgres() { # an initdb'd cluster on a free port; sets PRIVATE_PG_URL
  PRIVATE_PG="$WORK/postgres"
  mkdir -p "$PRIVATE_PG"
  touch "$WORK/logs/postgres.log"
  if [ "$(id -u)" = 0 ]; then chown postgres "$PRIVATE_PG" "$WORK/logs/postgres.log"; fi
  chmod 0700 "$PRIVATE_PG"
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PRIVATE_PG" -U postgres --auth=trust -E UTF8 >/dev/null
  local port
  port=$(free_port)
  cat >>"$PRIVATE_PG/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = off
max_connections = 50
EOF
  pg_private start
  psql "postgres://postgres@127.0.0.1:$port/postgres" -XqAt -c "create database airbnb_faults" >/dev/null
  PRIVATE_PG_URL="postgres://postgres@127.0.0.1:$port/airbnb_faults"
}

scenario_postgres() {
  say "postgres: PostgreSQL stopped for 10 s under load"
  local api state=$WORK/postgres.json results=$WORK/postgres-load.json
  STANDIN=""
  start_private_postgres
  local db=$PRIVATE_PG_URL
  new_namespace "faults-$RUN-pg"
  start_smtp mail-postgres
  app_env "$db" "$SHARED_REDIS" "faults-$RUN-pg"
  start_api_worker_and_listings "$RUN-p" "$state"
  api=$API
  start_load "$api" "$state" "$results" register,book,book,search,detail,me,me
  sleep 3
  now >"$WORK/pg-down"
  pg_private stop -m fast
  sleep 10
  pg_private start
  now >"$WORK/pg-up"
  say "postgres: back after $(seconds_between "$WORK/pg-down" "$WORK/pg-up") s"
  sleep 8
  stop_load
  "${DRIVE[@]}" postgres-outage --results "$results" --down "$WORK/pg-down" --up "$WORK/pg-up" \
    --figure "$WORK/pg-figure"
  # An email whose sending the shutdown cut off before its record committed is sent again
  # under the same Message-ID (README, job guarantees): at most the 16 a worker runs at once.
  "${DRIVE[@]}" mail --maildir "$MAILDIR" --state "$state" --results "$results" --db "$db" \
    --repeats-allowed 16 --figure "$WORK/pg-repeats"
  figure "postgres: $(cat "$WORK/pg-figure"); every accepted write mailed," \
    "$(cat "$WORK/pg-repeats") sent again under the same Message-ID"
  stop_all
  pg_private stop -m fast
  PRIVATE_PG=""
}

# --- 4. two APIs, three workers, 500 payments ------------------------------------------

scenario_scale() {
  say "scale: two API processes and three workers, 500 bookings paid at once"
  local db state=$WORK/scale.json p1 p2
  STANDIN=""
  new_database "faults_${RUN}_scale"
  db=$DB
  new_namespace "faults-$RUN-scale"
  start_smtp mail-scale
  p1=$(free_port)
  p2=$(free_port)
  # Stripe's webhooks reach the first API while the workers record the same outcomes.
  start_standin "http://127.0.0.1:$p1/payments/webhook"
  app_env "$db" "$SHARED_REDIS" "faults-$RUN-scale"
  start_api api-1 "$p1"
  start_api api-2 "$p2"
  start_worker worker-1
  start_worker worker-2
  start_worker worker-3
  local apis=(--api "http://127.0.0.1:$p1" --api "http://127.0.0.1:$p2")
  "${DRIVE[@]}" market "${apis[@]}" --tag "$RUN-s" --hosts 10 --guests 25 --listings 500 --out "$state"
  local paid
  paid=$(now)
  "${DRIVE[@]}" pay "${apis[@]}" --state "$state" --concurrency 16
  "${DRIVE[@]}" settle --state "$state" --db "$db" --standin "$STANDIN" --since "$paid" --timeout 180 \
    --figure "$WORK/scale-figure"
  "${DRIVE[@]}" mail --maildir "$MAILDIR" --state "$state" --db "$db" --timeout 180
  figure "scale: 500 payments (2 APIs, 3 workers) all charged once and confirmed" \
    "$(cat "$WORK/scale-figure") s after the first POST /payments; every email once"
  stop_all
}

for scenario in "${SCENARIOS[@]}"; do
  "scenario_$scenario"
done

printf '\nfault injection passed in %s s:\n' "$(($(date +%s) - STARTED))"
for line in "${FIGURES[@]}"; do printf '  %s\n' "$line"; done
