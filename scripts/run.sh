#!/usr/bin/env bash
# Runs the whole system locally: PostgreSQL, Redis and an SMTP catcher
# (started when not running), then the worker in the background and the API
# in the foreground. Ctrl-C stops both. Mail lands in .local/mail (Maildir).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_postgres
ensure_redis
ensure_aiosmtpd
ensure_database airbnb

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/airbnb}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"
export SMTP_URL="${SMTP_URL:-smtp://127.0.0.1:1025}"
export API_ADDR="${API_ADDR:-127.0.0.1:8080}"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if ! listening 1025; then
  say "starting the SMTP catcher on 127.0.0.1:1025 (mail in .local/mail)"
  mkdir -p "$LOCAL"
  "$AIOSMTPD_PYTHON" -m aiosmtpd -n -l 127.0.0.1:1025 -c aiosmtpd.handlers.Mailbox "$LOCAL/mail" &
  pids+=($!)
  wait_for_port 1025 || die "the SMTP catcher did not start"
fi

say "building api and worker"
cargo build --locked -p api -p worker
"$CARGO_TARGET_DIR/debug/api" migrate
"$CARGO_TARGET_DIR/debug/worker" &
pids+=($!)
say "API docs: http://$API_ADDR/docs   (OpenAPI: http://$API_ADDR/openapi.json)"
"$CARGO_TARGET_DIR/debug/api" serve &
pids+=($!)
wait -n "${pids[@]}"
