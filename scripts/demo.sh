#!/usr/bin/env bash
# Builds ccpulse (release) and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCCP_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target ccpulse
exec ./build/release/ccpulse replay tests/data/sample.ndjson --json build/release/sample-replay.json
