#!/bin/sh
# Installs nats-server (the benchmark peer, bench/jetstream.ts) from Debian if it is missing.
# Run by `npm run bench` when nats-server is not on PATH; never by `npm test`.
set -eu
if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "nats-server is not installed and this machine has no apt-get: install nats-server 2.9+ (https://nats.io) and run the benchmark again" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "nats-server is not installed and installing it needs root: run 'apt-get install nats-server' as root" >&2
    exit 1
  fi
fi
echo "installing nats-server from Debian (apt-get install nats-server)…" >&2
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq nats-server >/dev/null
command -v nats-server >/dev/null 2>&1 || { echo "apt-get ran but nats-server is still not on PATH" >&2; exit 1; }
