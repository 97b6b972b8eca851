#!/usr/bin/env bash
# Runs the whole system locally: PostgreSQL, Redis and an SMTP catcher
# (started when not running), the Stripe stand-in (unless STRIPE_SECRET_KEY
# is a real key and STRIPE_API_BASE is unset), the worker and the API.
# Ctrl-C stops them all. Mail lands in .local/mail (Maildir).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_postgres
ensure_redis
ensure_aiosmtpd
ensure_database airbnb

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/airbnb?sslmode=disable}"
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

say "building api, worker and the Stripe stand-in"
cargo build --locked -p api -p worker -p stripe-standin
"$CARGO_TARGET_DIR/debug/api" migrate

if [ -z "${STRIPE_API_BASE:-}" ] && [[ "${STRIPE_SECRET_KEY:-sk_test_}" == sk_test_* ]]; then
  export STRIPE_API_BASE="http://127.0.0.1:12111"
  if ! listening 12111; then
    say "starting the Stripe stand-in on $STRIPE_API_BASE (webhooks to http://$API_ADDR/payments/webhook)"
    STANDIN_ADDR=127.0.0.1:12111 STANDIN_WEBHOOK_URL="http://$API_ADDR/payments/webhook" \
      STANDIN_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_dev_only_secret}" \
      "$CARGO_TARGET_DIR/debug/stripe-standin" &
    pids+=($!)
    wait_for_port 12111 || die "the Stripe stand-in did not start"
  fi
fi
"$CARGO_TARGET_DIR/debug/worker" &
pids+=($!)
say "API docs: http://$API_ADDR/docs   (OpenAPI: http://$API_ADDR/openapi.json)"
"$CARGO_TARGET_DIR/debug/api" serve &
pids+=($!)
wait -n "${pids[@]}"
