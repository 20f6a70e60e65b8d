#!/bin/sh
# apt-install.sh <package> <command> <what it is for>: installs a Debian package for the
# project's own tooling when <command> is missing (scripts/install-browser.sh,
# scripts/install-nats-server.sh). Says what to do when it cannot.
set -eu
package="$1"
command="$2"
purpose="$3"
if command -v "$command" >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$purpose needs $package, and this machine has no apt-get: install $package and run it again" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$purpose needs $package, and installing it needs root: run 'apt-get install $package' as root" >&2
    exit 1
  fi
fi
echo "installing $package from Debian for $purpose (apt-get install $package)…" >&2
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq "$package" >/dev/null
command -v "$command" >/dev/null 2>&1 || { echo "apt-get installed $package but $command is still not on PATH" >&2; exit 1; }
