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

# Chromium: the dashboard's headless-browser test (Playwright drives Debian's chromium; never
# `playwright install`, which would download a browser build).
if ! command -v chromium >/dev/null; then
  apt_install chromium
fi
echo "services: chromium at $(command -v chromium || echo missing)"

# Azurite (Blob Storage emulator, npm `azurite`): the Blob adapter's contract tests.
if ! (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null; then
  [ -x node_modules/.bin/azurite-blob ] || npm install --no-audit --no-fund --loglevel=error
  mkdir -p /tmp/omega-azurite
  # In-memory; started from its own folder, which it uses as a workspace for debug files.
  (cd /tmp/omega-azurite && nohup "$OLDPWD/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
    --blobPort 10000 --inMemoryPersistence --skipApiVersionCheck --disableTelemetry --silent \
    >/tmp/omega-azurite/azurite.log 2>&1 &)
  wait_port 127.0.0.1 10000 60
fi
echo "services: azurite blob on 127.0.0.1:10000"

# Cosmos DB emulator (npm `@vercel/cosmosdb-server`, in memory): the Cosmos adapter's tests.
# `--host 127.0.0.1` matters: otherwise it advertises `localhost` and the SDK follows that.
if ! (exec 3<>/dev/tcp/127.0.0.1/8081) 2>/dev/null; then
  [ -x node_modules/.bin/cosmosdb-server ] || npm install --no-audit --no-fund --loglevel=error
  mkdir -p /tmp/omega-cosmos
  (nohup node_modules/.bin/cosmosdb-server -p 8081 --host 127.0.0.1 \
    >/tmp/omega-cosmos/cosmos.log 2>&1 &)
  wait_port 127.0.0.1 8081 60
fi
echo "services: cosmosdb-server on 127.0.0.1:8081"
