#!/bin/sh
# Installs nats-server (the benchmark peer, bench/jetstream-target.ts) from Debian if it is
# missing. Run by `npm run bench` when nats-server is not on PATH; never by `npm test`.
exec sh "$(dirname "$0")/apt-install.sh" nats-server nats-server "the JetStream benchmark"
