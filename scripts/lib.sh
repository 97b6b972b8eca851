# Shared by scripts/run.sh and scripts/test.sh: find or start PostgreSQL,
# Redis and an SMTP catcher, and say exactly what is missing otherwise.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"          # project-local service data (git-ignored)
TOOLS="$HOME/.cache/airbnb-clone"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/airbnb-target}"
export SQLX_OFFLINE=true

PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.1; done
  return 1
}

docker_engine() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

ensure_postgres() {
  if listening "$PG_PORT"; then return; fi
  if [ "$PG_PORT" = 5432 ] && command -v pg_ctlcluster >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "starting the installed PostgreSQL cluster"
    local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  elif initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1) && [ -n "$initdb" ]; then
    local bin; bin=$(dirname "$initdb")
    # PostgreSQL refuses to run as root: use its own account then.
    local as=()
    if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
    if [ ! -d "$LOCAL/postgres" ]; then
      say "creating a project-local PostgreSQL in .local/postgres"
      mkdir -p "$LOCAL/postgres"
      if [ "$(id -u)" = 0 ]; then chown postgres "$LOCAL/postgres"; chmod 0700 "$LOCAL/postgres"; fi
      "${as[@]}" "$bin/initdb" -D "$LOCAL/postgres" -U postgres --auth=trust >/dev/null
    fi
    say "starting the project-local PostgreSQL on $PG_PORT"
    touch "$LOCAL/postgres.log"
    if [ "$(id -u)" = 0 ]; then chown postgres "$LOCAL/postgres.log"; fi
    "${as[@]}" "$bin/pg_ctl" -D "$LOCAL/postgres" -l "$LOCAL/postgres.log" -o "-h $PG_HOST -p $PG_PORT -k /tmp" start >/dev/null
  elif docker_engine; then
    say "starting PostgreSQL with docker compose"
    docker compose -f "$ROOT/compose.yml" up -d postgres
  else
    die "PostgreSQL is not listening on $PG_HOST:$PG_PORT and cannot be started here: install it (Debian: apt-get install postgresql postgresql-contrib) or run a Docker engine"
  fi
  wait_for_port "$PG_PORT" || die "PostgreSQL did not start on port $PG_PORT"
}

ensure_redis() {
  if listening "$REDIS_PORT"; then return; fi
  if command -v redis-server >/dev/null; then
    say "starting a project-local Redis on $REDIS_PORT"
    mkdir -p "$LOCAL/redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir "$LOCAL/redis" --logfile "$LOCAL/redis.log"
  elif docker_engine; then
    say "starting Redis with docker compose"
    docker compose -f "$ROOT/compose.yml" up -d redis
  else
    die "Redis is not listening on 127.0.0.1:$REDIS_PORT and cannot be started here: install it (Debian: apt-get install redis-server) or run a Docker engine"
  fi
  wait_for_port "$REDIS_PORT" || die "Redis did not start on port $REDIS_PORT"
}

# A Python with aiosmtpd (the SMTP catcher), installed from PyPI into a
# virtualenv under ~/.cache when missing. Sets AIOSMTPD_PYTHON.
ensure_aiosmtpd() {
  local venv="$TOOLS/venv"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    export AIOSMTPD_PYTHON="$venv/bin/python"; return
  fi
  if python3 -c 'import aiosmtpd' 2>/dev/null; then
    export AIOSMTPD_PYTHON=python3; return
  fi
  command -v python3 >/dev/null || die "python3 is needed for the SMTP catcher (Debian: apt-get install python3 python3-venv)"
  say "installing aiosmtpd (SMTP catcher) into $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check aiosmtpd==1.4.6 || die "pip install aiosmtpd failed"
  export AIOSMTPD_PYTHON="$venv/bin/python"
}

ensure_database() {
  local name="$1"
  psql_cmd() { command -v psql >/dev/null && psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAq "$@"; }
  if command -v psql >/dev/null; then
    if [ "$(psql_cmd -d postgres -c "select 1 from pg_database where datname = '$name'")" != "1" ]; then
      say "creating database $name"
      psql_cmd -d postgres -c "create database $name" >/dev/null
    fi
  fi
}
