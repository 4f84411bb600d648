#!/usr/bin/env bash
# Builds ccpulse (release) and runs the live demo: an in-process Kafka
# broker, the traffic simulator at real-time pace, a private redis-server
# on a free loopback port, and the processor. Ctrl-C stops all of it.
# Extra arguments go to `ccpulse demo` (for example --redis URL, --seed N).
# `bash scripts/demo.sh --replay` runs the offline replay of the bundled
# sample instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCCP_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target ccpulse
if [ "${1:-}" = "--replay" ]; then
  exec ./build/release/ccpulse replay tests/data/sample.ndjson --json build/release/sample-replay.json
fi
exec ./build/release/ccpulse demo "$@"
