#!/usr/bin/env bash
# Make sure the test servers (Redis, PostgreSQL, MariaDB) are up on this machine; start any that is down.
set -uo pipefail

wait_for() {  # name, check command
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "services: $name did not come up" >&2
  return 1
}

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services: starting redis" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "services: starting postgresql" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
  echo "services: starting mariadb" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_for redis redis-cli -h 127.0.0.1 -p 6379 ping
wait_for postgresql pg_isready -h 127.0.0.1 -p 5432
wait_for mariadb mysqladmin -h 127.0.0.1 -u root ping
