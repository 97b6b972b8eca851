#!/usr/bin/env bash
# The whole test suite against real PostgreSQL, Redis and an SMTP catcher,
# started here when they are not running. Each test makes its own database
# and Redis namespace and removes them. Then, unless arguments narrowed the
# run to some tests, the contract stage (the built binaries as a running
# system, driven by a client generated from openapi/openapi.json and fuzzed
# by schemathesis: tests/contract/run.sh) and the fault injection
# (tests/faults/run.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_postgres
ensure_redis
ensure_aiosmtpd
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"

say "building and running the tests (target dir: $CARGO_TARGET_DIR)"
cargo test --workspace --locked "$@"

if [ "$#" -eq 0 ]; then
  tests/contract/run.sh
  # Faults injected into the real binaries: a worker killed, Redis and
  # PostgreSQL stopped, many processes side by side (README, Tests).
  # FAULTS=off skips them.
  if [ "${FAULTS:-on}" != off ]; then
    say "fault injection against the api, worker and stripe-standin binaries"
    tests/faults/run.sh
  fi
fi
