#!/usr/bin/env bash
# The contract stage of the test command: the whole system as it is deployed
# (the api, worker and Stripe stand-in binaries, an SMTP catcher, a database
# and a Redis namespace of its own), then
#   1. a Python client generated from openapi/openapi.json by
#      openapi-python-client runs the main flow through it (sdk_flow.py);
#   2. schemathesis fuzzes every operation of the served /openapi.json with
#      every check (schemathesis.toml: which statuses count as what, and
#      the two resources where one check contradicts DESIGN.md).
# Everything it starts is stopped, and the database and Redis keys removed,
# however it ends. Tools are installed from PyPI into
# ~/.cache/airbnb-clone/contract-venv when missing.
#
# Environment: CONTRACT_FUZZ=off skips the fuzzing; CONTRACT_MAX_EXAMPLES
# (default 25) bounds the fuzzer's test cases per operation and phase;
# CONTRACT_SEED makes a fuzzing run repeatable; CONTRACT_KEEP=1 keeps the
# logs and reports (always kept when the stage fails).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
HERE="$ROOT/tests/contract"
started=$SECONDS

ensure_postgres
ensure_redis
ensure_aiosmtpd
for tool in psql redis-cli; do
  command -v "$tool" >/dev/null ||
    die "$tool is needed by the contract tests (Debian: apt-get install postgresql-client redis-tools)"
done

# The pinned tools, in a virtualenv of their own; reinstalled when
# requirements.txt changes.
venv="$TOOLS/contract-venv"
stamp="$venv/.requirements"
if ! cmp -s "$HERE/requirements.txt" "$stamp" 2>/dev/null || ! [ -x "$venv/bin/schemathesis" ]; then
  say "installing schemathesis and openapi-python-client into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" ||
    die "pip install of tests/contract/requirements.txt failed"
  cp "$HERE/requirements.txt" "$stamp"
fi

say "building api, worker and the Stripe stand-in"
cargo build --locked --quiet -p api -p worker -p stripe-standin
bin="$CARGO_TARGET_DIR/debug"

run_id="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
database="contract_$run_id"
namespace="contract-$run_id"
work="$(mktemp -d "${TMPDIR:-/tmp}/airbnb-contract.XXXXXX")"
psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAq -v ON_ERROR_STOP=1 "$@"; }

pids=()
passed=0
cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$status" -ne 0 ]; then
    for log in api worker stripe-standin; do
      [ -s "$work/$log.log" ] || continue
      printf '\n----- last lines of the %s log -----\n' "$log" >&2
      tail -n 40 "$work/$log.log" >&2
    done
  fi
  psql_admin -c "drop database if exists $database with (force)" >/dev/null
  redis-cli -p "$REDIS_PORT" --scan --pattern "$namespace:*" | xargs -r -n 500 redis-cli -p "$REDIS_PORT" unlink >/dev/null
  redis-cli -p "$REDIS_PORT" zrange core:apalis:queues:list 0 -1 | grep "^$namespace:" |
    xargs -r redis-cli -p "$REDIS_PORT" zrem core:apalis:queues:list >/dev/null
  if [ "$status" -eq 0 ] && [ -z "${CONTRACT_KEEP:-}" ]; then rm -rf "$work"; else say "logs and reports kept in $work"; fi
  say "contract stage $([ "$status" -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - started)) s"
  # A plain closing line for CI logs: the steps that passed.
  [ "$status" -eq 0 ] && echo "contract: $passed passed, 0 failed"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
standin_port=$(free_port)
smtp_port=$(free_port)

psql_admin -c "create database $database" >/dev/null
export DATABASE_URL="postgres://postgres@$PG_HOST:$PG_PORT/$database"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export REDIS_NAMESPACE="$namespace"
export API_ADDR="127.0.0.1:$api_port"
export SMTP_URL="smtp://127.0.0.1:$smtp_port"
export STRIPE_SECRET_KEY="sk_test_contract"
export STRIPE_API_BASE="http://127.0.0.1:$standin_port"
export STRIPE_WEBHOOK_SECRET="whsec_contract_$run_id"
# The fuzzer sends thousands of requests from one address; the limits have
# tests of their own.
export RATE_LIMITS=off
export RUST_LOG="${RUST_LOG:-info}"
export DATABASE_MAX_CONNECTIONS=20
API_URL="http://$API_ADDR"

say "starting the system on $API_URL (database $database, Redis namespace $namespace)"
"$AIOSMTPD_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$work/mail" \
  >"$work/smtp.log" 2>&1 &
pids+=($!)
STANDIN_ADDR="127.0.0.1:$standin_port" STANDIN_WEBHOOK_URL="$API_URL/payments/webhook" \
  STANDIN_WEBHOOK_SECRET="$STRIPE_WEBHOOK_SECRET" STANDIN_API_KEY="$STRIPE_SECRET_KEY" \
  "$bin/stripe-standin" >"$work/stripe-standin.log" 2>&1 &
pids+=($!)
"$bin/api" migrate >/dev/null
"$bin/worker" >"$work/worker.log" 2>&1 &
pids+=($!)
"$bin/api" serve >"$work/api.log" 2>&1 &
pids+=($!)
for port in "$smtp_port" "$standin_port" "$api_port"; do
  wait_for_port "$port" || die "nothing listens on port $port; see the logs above"
done
ready() { python3 -c "import urllib.request as r; r.urlopen('$API_URL/ready', timeout=2)" 2>/dev/null; }
for _ in $(seq 1 100); do ready && break; sleep 0.1; done
ready || die "the API is not ready (GET /ready); see the logs above"

export API_URL DATABASE_URL
export PYTHONPATH="$work/sdk${PYTHONPATH:+:$PYTHONPATH}"

say "generating the Python client from openapi/openapi.json"
mkdir -p "$work/sdk"
"$venv/bin/openapi-python-client" generate --path openapi/openapi.json --config "$HERE/sdk-config.yaml" \
  --meta none --output-path "$work/sdk/airbnb_client" --fail-on-warning >"$work/sdk.log" 2>&1 ||
  { cat "$work/sdk.log" >&2; die "openapi-python-client could not generate a complete client from openapi/openapi.json"; }
say "running the main flow through the generated client"
FLOW_IDS="$work/flow.json" "$venv/bin/python" "$HERE/sdk_flow.py"
passed=$((passed + 1))

if [ "${CONTRACT_FUZZ:-on}" != off ]; then
  say "fuzzing every operation with schemathesis"
  admin_email="fuzz-admin-$run_id@example.com"
  admin_password="fuzz-admin-password-$run_id"
  ADMIN_PASSWORD="$admin_password" "$bin/api" create-admin --email "$admin_email" >/dev/null
  CONTRACT_TOKEN="$("$venv/bin/python" "$HERE/fuzz_accounts.py" token "$admin_email" "$admin_password")"
  CONTRACT_VICTIM_ID="$("$venv/bin/python" "$HERE/fuzz_accounts.py" register "fuzz-victim-$run_id@example.com")"
  export CONTRACT_TOKEN CONTRACT_VICTIM_ID
  # The flow's booking, payment and review: ids the fuzzer cannot guess.
  eval "$(python3 -c 'import json, sys; [print(f"export CONTRACT_{k.upper()}={v}") for k, v in json.load(open(sys.argv[1])).items()]' "$work/flow.json")"
  seed=()
  if [ -n "${CONTRACT_SEED:-}" ]; then seed=(--seed "$CONTRACT_SEED"); fi
  "$venv/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$API_URL/openapi.json" \
    --max-examples "${CONTRACT_MAX_EXAMPLES:-25}" "${seed[@]}" \
    --no-color --report junit --report-dir "$work/schemathesis"
  passed=$((passed + 1))
fi
