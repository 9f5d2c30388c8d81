#!/usr/bin/env bash
# Make sure Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, database "test") are up for the tests.
# Starts them when they are installed but stopped; installs them from Debian's packages when missing.
set -euo pipefail

log() { printf 'ensure_services: %s\n' "$*" >&2; }

wait_for() {  # wait_for <description> <command...>: poll until the command succeeds, at most 30 s
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "$what did not come up within 30 s"; return 1
}

apt_install() {
  command -v apt-get >/dev/null || { log "cannot install $*: no apt-get on this machine; install it yourself"; exit 1; }
  log "installing $* from Debian's packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  log "starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for "Redis" redis_up
fi

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version on 127.0.0.1:5432"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for "PostgreSQL" pg_up
fi

if ! psql -h 127.0.0.1 -U postgres -d test -tAc 'select 1' >/dev/null 2>&1; then
  log "creating database test"
  su postgres -c "psql -tAc 'create database test'" >/dev/null 2>&1 \
    || psql -h 127.0.0.1 -U postgres -tAc 'create database test' >/dev/null
fi
log "Redis and PostgreSQL are up"
