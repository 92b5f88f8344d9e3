#!/usr/bin/env bash
# Installs Debian's `prometheus` package for the monitoring tests: `promtool`
# (checks and unit-tests the alerting rules) and `prometheus` (scrapes a
# running server in test/monitoring/). Does nothing when both are on PATH.
# The package's own service is kept from starting (policy-rc.d): the tests run
# the binaries themselves, on loopback, with their own configuration.
# Exit codes: 0 installed (or already there), 3 cannot install (not root, or
# no apt-get), anything else apt-get's failure.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
  echo "install-prometheus: apt-get as root is needed to install Debian's prometheus package (promtool, prometheus)" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
if ! apt-cache show prometheus >/dev/null 2>&1; then
  apt_get update
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# install-prometheus.sh: no service starts while it installs\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
install() { apt_get install -y --no-install-recommends prometheus; }
# Package lists that are present but stale name files the mirror no longer has: refresh once and retry.
install || { apt_get update && install; }
prometheus --version | head -1
promtool --version | head -1
