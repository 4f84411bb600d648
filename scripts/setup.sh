#!/usr/bin/env bash
# Installs every Debian package that ccpulse's build, tests, benches and
# demo need. Idempotent: safe to run on a machine that already has them.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  librdkafka-dev libuv1-dev libhiredis-dev libcmocka-dev libyaml-dev
  libyajl-dev libjson-c-dev libjsmn-dev libh2o-dev libssl-dev libcurl4-openssl-dev
  redis-server redis-tools tzdata python3 kcat
  chromium
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Always refresh the lists first, as a fresh machine's may be empty or stale.
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

# The wallboard's browser test (tests/browser) drives Debian's chromium with
# playwright-core from npm, on the machine's Node.js (20 or later; Debian
# 12's own nodejs is 18, too old for it, so it is not installed here).
# Debian's npm comes in only when there is no npm at all.
if command -v node >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing npm"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
  fi
  (cd "$(dirname "$0")/../tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "setup: no node on PATH: the browser test (browser_wallboard) will fail until Node.js 20 is installed" >&2
fi

# The Debian redis-server package starts a system instance on 6379; ccpulse's
# tests never use it (they start their own on free ports), so leave it alone.
