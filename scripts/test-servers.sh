#!/usr/bin/env bash
# Starts, on loopback and only when not already running, the servers the
# tests use: PostgreSQL (5432), Redis (6379), a Kafka-protocol broker
# (tansu, 9092) and an S3-compatible server (s3s-fs, 9000). Prints the
# TEST_* variables the tests read. Installs nothing: run
# scripts/install.sh --test first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

STATE="$ROOT/target/test-servers"
mkdir -p "$STATE"

start_postgres() {
  port_open 5432 && return 0
  say "starting PostgreSQL"
  if have pg_ctlcluster && [ -d /etc/postgresql ]; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  else
    die "PostgreSQL is not installed; run scripts/install.sh --test"
  fi
  wait_port 5432 30 || die "PostgreSQL did not start on 5432"
}

# Makes sure postgres://postgres:postgres@127.0.0.1 works (trust auth or a password).
postgres_url() {
  local trust="postgres://postgres@127.0.0.1:5432/postgres"
  local pw="postgres://postgres:postgres@127.0.0.1:5432/postgres"
  if psql "$trust" -Atc 'select 1' >/dev/null 2>&1; then echo "$trust"; return; fi
  if psql "$pw" -Atc 'select 1' >/dev/null 2>&1; then echo "$pw"; return; fi
  # A fresh Debian install asks for a password over TCP: set one through the socket.
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  psql "$pw" -Atc 'select 1' >/dev/null 2>&1 || die "cannot log in to PostgreSQL as postgres"
  echo "$pw"
}

start_redis() {
  port_open 6379 && return 0
  say "starting Redis"
  have redis-server || die "redis-server is not installed; run scripts/install.sh --test"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$STATE" --logfile "$STATE/redis.log"
  wait_port 6379 20 || die "Redis did not start on 6379"
}

start_kafka() {
  port_open 9092 && return 0
  say "starting the Kafka-protocol broker (tansu)"
  have tansu || die "tansu is not installed; run scripts/install.sh --test"
  nohup tansu broker --storage-engine memory://tansu/ \
    --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
    >"$STATE/tansu.log" 2>&1 &
  echo $! >"$STATE/tansu.pid"
  wait_port 9092 30 || die "tansu did not start on 9092 (see $STATE/tansu.log)"
}

start_s3() {
  port_open 9000 && return 0
  say "starting the S3-compatible server (s3s-fs)"
  have s3s-fs || die "s3s-fs is not installed; run scripts/install.sh --test"
  mkdir -p "$STATE/s3"
  nohup s3s-fs --host 127.0.0.1 --port 9000 --access-key scout --secret-key scout-secret-key \
    "$STATE/s3" >"$STATE/s3s.log" 2>&1 &
  echo $! >"$STATE/s3s.pid"
  wait_port 9000 30 || die "s3s-fs did not start on 9000 (see $STATE/s3s.log)"
}

start_postgres
PG_URL=$(postgres_url)
start_redis
start_kafka
start_s3

cat <<VARS
export TEST_POSTGRES_URL=$PG_URL
export TEST_REDIS_URL=redis://127.0.0.1:6379
export TEST_KAFKA_BROKERS=127.0.0.1:9092
export TEST_S3_ENDPOINT=http://127.0.0.1:9000
export TEST_S3_ACCESS_KEY=scout
export TEST_S3_SECRET_KEY=scout-secret-key
VARS
