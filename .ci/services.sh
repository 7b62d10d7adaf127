#!/usr/bin/env bash
# Start the local servers the tests talk to, when they are not already running.
# Installs what is missing from Debian/npm; never assumes anything installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

wait_port() { # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "services: $1:$2 did not open within $3 s" >&2
  return 1
}

apt_ready=0
apt_install() {
  if [ "$apt_ready" = 0 ]; then apt-get update -qq >/dev/null; apt_ready=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Redis: short-term memory and Redis Streams tests.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /tmp/omega-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir /tmp/omega-redis --logfile /tmp/omega-redis/redis.log
  wait_port 127.0.0.1 6379 20
fi
echo "services: redis on 127.0.0.1:6379"
