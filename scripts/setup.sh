#!/usr/bin/env bash
# Installs every Debian package that ccpulse's build, tests, benches and
# demo need. Idempotent: safe to run on a machine that already has them.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  librdkafka-dev libuv1-dev libhiredis-dev libcmocka-dev libyaml-dev
  libyajl-dev libjson-c-dev libjsmn-dev libh2o-dev libssl-dev libcurl4-openssl-dev
  redis-server redis-tools tzdata python3 kcat
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

# The Debian redis-server package starts a system instance on 6379; ccpulse's
# tests never use it (they start their own on free ports), so leave it alone.
