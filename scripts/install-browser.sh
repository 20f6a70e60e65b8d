#!/bin/sh
# Installs Debian's chromium for the web console's browser test (test/ui/console.test.ts),
# driven by playwright-core. Run by `npm test` before the tests; a no-op when it is there.
set -eu
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the console's browser test needs /usr/bin/chromium and this machine has no apt-get: install chromium" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "the console's browser test needs chromium, and installing it needs root: run 'apt-get install chromium' as root" >&2
    exit 1
  fi
fi
echo "installing chromium from Debian for the console's browser test (apt-get install chromium)…" >&2
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "apt-get ran but /usr/bin/chromium is still missing" >&2; exit 1; }
